"""The store as Raft's state machine: a fake driver commits each proposal as an Entry and hands
it to apply() on three replicas, so the same batches must give identical stores."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from manager.raft.driver import StateMachine
from manager.raft.errors import NotLeader
from manager.raft.types import Entry
from manager.store import (
    NameConflict,
    ObjectEvent,
    RaftProposer,
    SequenceError,
    Service,
    ServiceSpec,
    Store,
    Task,
    WriteTx,
)
from tests.unit.store.helpers import new_store


class FakeDriver:
    """Commits proposals in order; `hold` keeps them queued until `commit()`."""

    def __init__(self, replicas: list[Store], *, hold: bool = False) -> None:
        self.replicas = replicas
        self.hold = hold
        self.index = 0
        self.queued: list[tuple[bytes, asyncio.Future[object]]] = []
        self.log: list[Entry] = []

    async def propose(self, data: bytes) -> object:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.queued.append((data, future))
        if not self.hold:
            self.commit()
        return await future

    def commit(self) -> None:
        for data, future in self.queued:
            self.index += 1
            entry = Entry(term=1, index=self.index, data=data)
            self.log.append(entry)
            results = [replica.apply(entry) for replica in self.replicas]
            future.set_result(results[0])  # the leader's (replica 0's) result
        self.queued.clear()


class RefusingDriver:
    async def propose(self, data: bytes) -> object:
        raise NotLeader(2)


def cluster(*, hold: bool = False) -> tuple[list[Store], FakeDriver]:
    replicas = [new_store(prefix=f"r{i}") for i in range(3)]
    driver = FakeDriver(replicas, hold=hold)
    replicas[0].attach(RaftProposer(driver))
    return replicas, driver


def test_the_store_is_a_raft_state_machine() -> None:
    machine: StateMachine = Store()  # checked by mypy: apply(entry), snapshot(), restore()
    other = Store()
    other.restore(machine.snapshot())
    assert other.index == 0 and other.view().cluster() is None


async def test_replicas_apply_the_same_batches_identically() -> None:
    replicas, driver = cluster()
    leader = replicas[0]
    watches = [r.watch() for r in replicas]
    svc = await leader.update(lambda tx: tx.create(Service(spec=ServiceSpec(name="web"))))

    def add_tasks(tx: WriteTx) -> None:
        for slot in (1, 2, 3):
            tx.create(Task(service_id=svc.id, slot=slot))

    await leader.update(add_tasks)
    with pytest.raises(NameConflict):  # refused at apply time on every replica
        await leader.update(lambda tx: leader_create_twice(tx))
    current = leader.view().get(Service, svc.id)
    assert current is not None
    await leader.update(lambda tx: tx.update(dataclasses.replace(current, spec_version=2)))
    await leader.update(lambda tx: tx.delete(Task, leader.view().tasks_by_slot(svc.id, 2)[0].id))

    assert [e.index for e in driver.log] == [1, 2, 3, 4, 5]
    snapshots = {r.snapshot() for r in replicas}
    assert len(snapshots) == 1
    assert all(r.index == 5 for r in replicas)
    versions = {r.view().get(Service, svc.id).meta.version for r in replicas}  # type: ignore[union-attr]
    assert versions == {4}  # the Raft index of the last change
    events = [[(type(e).__name__, e.index) for e in w.drain()] for w in watches]
    assert events[0] == events[1] == events[2]
    assert ("ObjectEvent", 3) not in events[0]  # the refused batch changed nothing


def leader_create_twice(tx: WriteTx) -> None:
    # Bypass the transaction's own early check so the conflict is found when applying.
    tx.stage(Service(id="x" * 25, spec=ServiceSpec(name="web")))


async def test_concurrent_updates_from_the_same_read_conflict_at_apply_time() -> None:
    replicas, driver = cluster(hold=True)
    leader = replicas[0]
    create = asyncio.create_task(leader.update(lambda tx: tx.create(Service(id="s" * 25))))
    await asyncio.sleep(0)
    driver.commit()
    await create
    read = leader.view().get(Service, "s" * 25)
    assert read is not None

    first = asyncio.create_task(leader.update(lambda tx: tx.update(replace_name(read, "a"))))
    second = asyncio.create_task(leader.update(lambda tx: tx.update(replace_name(read, "b"))))
    await asyncio.sleep(0)
    assert len(driver.queued) == 2  # both transactions were built from version 1
    driver.commit()
    await first
    with pytest.raises(SequenceError, match="update out of sequence"):
        await second
    assert {r.view().get(Service, "s" * 25).spec.name for r in replicas} == {"a"}  # type: ignore[union-attr]


def replace_name(svc: Service, name: str) -> Service:
    return dataclasses.replace(svc, spec=dataclasses.replace(svc.spec, name=name))


async def test_a_follower_rebuilt_from_a_snapshot_catches_up_from_the_log() -> None:
    replicas, driver = cluster()
    leader = replicas[0]
    await leader.update(lambda tx: tx.create(Service(spec=ServiceSpec(name="a"))))
    snap, at = leader.snapshot(), driver.index
    await leader.update(lambda tx: tx.create(Service(spec=ServiceSpec(name="b"))))

    late = Store()
    watch = late.watch()
    late.restore(snap)
    for entry in driver.log[at:]:
        late.apply(entry)
    assert late.snapshot() == leader.snapshot()
    assert [type(e).__name__ for e in watch.drain()] == ["ResetEvent", "ObjectEvent", "CommitEvent"]


async def test_driver_errors_reach_the_caller_and_nothing_changes() -> None:
    store = Store(RaftProposer(RefusingDriver()))
    with pytest.raises(NotLeader):
        await store.update(lambda tx: tx.create(Service(spec=ServiceSpec(name="web"))))
    assert store.view().all(Service) == []
    assert not any(isinstance(e, ObjectEvent) for e in store.watch().drain())
