"""The Raft driver: clusters of drivers over the in-memory network, ticked by a fake clock.

Nothing here sleeps: time moves only when a test ticks, and `settle` waits until every driver
has drained its inbox (fsyncs run in threads, so it yields until they are done).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from manager.raft.clock import FakeClock
from manager.raft.core import Config, RaftNode
from manager.raft.driver import DriverOptions, RaftDriver, unwrap_snapshot_data
from manager.raft.errors import NotLeader, ProposalLost, StorageError
from manager.raft.storage import Storage
from manager.raft.transport import InMemoryNetwork
from manager.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Role,
    Snapshot,
)

T = TypeVar("T")
TICK = 0.1


class FakeStorage:
    """Records every save; `gate` (when set up) holds saves until the test opens it."""

    def __init__(self) -> None:
        self.saves: list[tuple[HardState | None, tuple[Entry, ...]]] = []
        self.snapshots: list[Snapshot] = []
        self.gate: threading.Event | None = None
        self.saving = threading.Event()
        self.fail: StorageError | None = None

    def save(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        self.saving.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        self.saves.append((hard_state, tuple(entries)))

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if self.fail is not None:
            raise self.fail
        self.snapshots.append(snapshot)

    @property
    def saved_entries(self) -> list[Entry]:
        return [e for _, entries in self.saves for e in entries]


class Log:
    """The test state machine: the list of applied payloads."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.restored_from: bytes | None = None

    def apply(self, entry: Entry) -> object:
        self.items.append(entry.data)
        return f"applied {entry.data.decode()} at {entry.index}"

    def snapshot(self) -> bytes:
        return json.dumps([i.decode() for i in self.items]).encode()

    def restore(self, data: bytes) -> None:
        self.restored_from = data
        self.items = [i.encode() for i in json.loads(data)] if data else []


async def settle(drivers: Iterable[RaftDriver]) -> None:
    """Yield until every driver is idle three checks in a row (fsyncs run in threads)."""
    running = list(drivers)
    async with asyncio.timeout(10):
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0)
            quiet = quiet + 1 if all(d.idle for d in running) else 0


class Cluster:
    def __init__(self, voters: int, options: DriverOptions, tg: asyncio.TaskGroup) -> None:
        self.clock = FakeClock()
        self.net = InMemoryNetwork()
        self.options = options
        self.tg = tg
        self.drivers: dict[int, RaftDriver] = {}
        self.storages: dict[int, FakeStorage] = {}
        self.machines: dict[int, Log] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.errors: dict[int, BaseException] = {}
        ids = range(1, voters + 1)
        bootstrap = ConfState(voters=frozenset(ids))
        for i in ids:
            self.start(i, bootstrap=bootstrap, peers={j: self.address(j) for j in ids})

    @staticmethod
    def address(node_id: int) -> str:
        return f"manager-{node_id}:2377"

    def start(
        self, node_id: int, *, peers: dict[int, str], bootstrap: ConfState | None = None
    ) -> RaftDriver:
        core = RaftNode(Config(id=node_id, election_tick=10, seed=node_id), bootstrap=bootstrap)
        storage, machine = FakeStorage(), Log()
        driver = RaftDriver(
            core,
            storage,
            self.net.transport(node_id),
            machine,
            clock=self.clock,
            peers=peers,
            options=self.options,
        )
        self.drivers[node_id], self.storages[node_id], self.machines[node_id] = (
            driver,
            storage,
            machine,
        )
        self.tasks[node_id] = self.tg.create_task(self._run(node_id, driver))
        return driver

    async def _run(self, node_id: int, driver: RaftDriver) -> None:
        try:
            await driver.run()
        except StorageError as e:  # kept for the test to see, not thrown into the task group
            self.errors[node_id] = e

    async def settle(self) -> None:
        await settle(d for i, d in self.drivers.items() if not self.tasks[i].done())

    async def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(TICK)
            await self.settle()

    async def until(self, what: Awaitable[T], max_ticks: int = 200) -> T:
        """Tick until `what` completes."""
        task = asyncio.ensure_future(what)
        for _ in range(max_ticks):
            await self.settle()
            if task.done():
                return task.result()
            await self.tick()
        task.cancel()
        raise AssertionError(f"not done after {max_ticks} ticks")

    def leaders(self, among: Sequence[int] | None = None) -> list[int]:
        ids = among if among is not None else list(self.drivers)
        return [i for i in ids if self.drivers[i].role is Role.LEADER]

    async def elect(self, among: Sequence[int] | None = None, max_ticks: int = 200) -> RaftDriver:
        """Tick until exactly one of `among` leads and all of them know it."""
        ids = among if among is not None else list(self.drivers)
        for _ in range(max_ticks):
            await self.tick()
            leaders = self.leaders(ids)
            if len(leaders) == 1 and all(self.drivers[i].leader == leaders[0] for i in ids):
                return self.drivers[leaders[0]]
        raise AssertionError(f"no single leader among {ids} after {max_ticks} ticks")

    def items(self, node_id: int) -> list[bytes]:
        return self.machines[node_id].items


@asynccontextmanager
async def cluster(voters: int = 3, **options: int) -> AsyncIterator[Cluster]:
    async with asyncio.TaskGroup() as tg:
        c = Cluster(voters, DriverOptions(tick_interval=TICK, **options), tg)
        try:
            yield c
        finally:
            for d in c.drivers.values():
                await d.stop()


# -- tests -----------------------------------------------------------------------------------


async def test_three_members_elect_a_leader_and_apply_proposals_in_order_everywhere() -> None:
    async with cluster(3) as c:
        leader = await c.elect()
        results = [await c.until(leader.propose(f"p{i}".encode())) for i in range(5)]
        concurrent = await c.until(
            asyncio.gather(*(leader.propose(f"q{i}".encode()) for i in range(5)))
        )
        await c.tick(3)  # followers learn the last commit index from the next heartbeat
        expected = [f"p{i}".encode() for i in range(5)] + [f"q{i}".encode() for i in range(5)]
        assert [c.items(i) for i in (1, 2, 3)] == [expected] * 3
        assert results[0].startswith("applied p0 at ")  # type: ignore[attr-defined]
        assert len(set(results + concurrent)) == 10
        for i in (1, 2, 3):  # every entry was saved before being applied
            saved = {e.data for e in c.storages[i].saved_entries}
            assert set(expected) <= saved


async def test_proposal_on_a_follower_raises_not_leader_naming_the_leader() -> None:
    async with cluster(3) as c:
        leader = await c.elect()
        follower = next(d for d in c.drivers.values() if d is not leader)
        with pytest.raises(NotLeader) as caught:
            await c.until(follower.propose(b"x"))
        assert caught.value.leader == leader.node_id
        assert f"send it to node {leader.node_id}" in str(caught.value)


async def test_isolated_leader_fails_pending_proposals_and_the_rest_elect_a_new_one() -> None:
    async with cluster(3) as c:
        old = await c.elect()
        c.net.isolate(old.node_id)
        pending = asyncio.ensure_future(old.propose(b"lost"))
        others = [i for i in c.drivers if i != old.node_id]
        new = await c.elect(among=others)
        with pytest.raises(ProposalLost, match="leadership lost"):
            await c.until(pending)  # check-quorum makes the isolated leader step down
        assert old.role is not Role.LEADER
        assert new.node_id != old.node_id
        await c.until(new.propose(b"after"))
        c.net.heal()
        await c.tick(30)
        for i in c.drivers:
            assert c.items(i) == [b"after"], i  # the isolated entry was overwritten everywhere


async def test_group_commit_batches_concurrent_proposals_into_fewer_saves() -> None:
    async with cluster(1) as c:
        leader = await c.elect()
        storage = c.storages[leader.node_id]
        storage.gate, storage.saving = threading.Event(), threading.Event()
        first = asyncio.ensure_future(leader.propose(b"first"))
        await asyncio.to_thread(storage.saving.wait, 5)  # the first fsync is in progress...
        saves_before = len(storage.saves)
        rest = [asyncio.ensure_future(leader.propose(f"r{i}".encode())) for i in range(50)]
        for _ in range(5):
            await asyncio.sleep(0)  # ...while 50 more proposals queue up
        storage.gate.set()
        await c.until(asyncio.gather(first, *rest))
        batches = [entries for _, entries in storage.saves[saves_before:] if entries]
        assert [len(b) for b in batches] == [1, 50]
        assert c.items(leader.node_id)[:2] == [b"first", b"r0"]


async def test_entries_leave_the_node_only_after_they_are_saved() -> None:
    async with cluster(3) as c:
        leader = await c.elect()
        storage, sent = c.storages[leader.node_id], c.net.transports[leader.node_id].sent
        storage.gate, storage.saving = threading.Event(), threading.Event()
        pending = asyncio.ensure_future(leader.propose(b"x"))
        await asyncio.to_thread(storage.saving.wait, 5)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not [m for m in sent if any(e.data == b"x" for e in m.entries)]
        storage.gate.set()
        await c.until(pending)
        assert b"x" in {e.data for e in storage.saved_entries}
        assert [m for m in sent if any(e.data == b"x" for e in m.entries)]


async def test_storage_failure_stops_the_driver_and_fails_every_waiter() -> None:
    async with cluster(1) as c:
        leader = await c.elect()
        c.storages[leader.node_id].fail = StorageError("disk full: free space and restart")
        pending = asyncio.ensure_future(leader.propose(b"never acknowledged"))
        await c.settle()
        with pytest.raises(StorageError, match="disk full"):
            await pending
        await c.tasks[leader.node_id]
        assert "disk full" in str(c.errors[leader.node_id])  # run() raised it
        with pytest.raises(StorageError):
            await leader.propose(b"later")
        assert c.items(leader.node_id) == []


async def test_snapshot_every_k_entries_and_a_lagging_member_catches_up_by_snapshot() -> None:
    async with cluster(3, snapshot_interval=10, snapshot_keep=2) as c:
        leader = await c.elect()
        lagging = next(i for i in c.drivers if i != leader.node_id)
        c.net.isolate(lagging)
        for i in range(25):
            await c.until(leader.propose(f"e{i}".encode()))
        snapshots = c.storages[leader.node_id].snapshots
        # Indexes 1-3: the bootstrap configuration; 4: the leader's empty entry; 5-29: e0-e24.
        assert [s.meta.index for s in snapshots] == [10, 20]
        c.net.heal()
        await c.tick(30)
        assert c.items(lagging) == [f"e{i}".encode() for i in range(25)]
        restored = c.machines[lagging].restored_from
        assert restored is not None and json.loads(restored)[-1] == "e15"
        assert c.storages[lagging].snapshots  # the received snapshot was persisted
        members, _ = unwrap_snapshot_data(snapshots[-1].data)
        assert members == {i: Cluster.address(i) for i in (1, 2, 3)}


async def test_read_barrier_on_leader_and_follower() -> None:
    async with cluster(3) as c:
        leader = await c.elect()
        follower = next(d for d in c.drivers.values() if d is not leader)
        await c.until(leader.propose(b"w1"))
        await c.until(leader.read_barrier())
        await c.until(follower.read_barrier())
        assert c.items(follower.node_id) == [b"w1"]  # the read waited for the apply


async def test_add_member_joins_as_learner_then_voter_and_remove_member() -> None:
    async with cluster(3, promote_lag=0) as c:
        leader = await c.elect()
        await c.until(leader.propose(b"before"))
        joiner = c.start(4, peers={i: Cluster.address(i) for i in (1, 2, 3)})
        await c.until(leader.add_member(4, Cluster.address(4)), max_ticks=300)
        conf = leader._core.conf_state
        assert 4 in conf.voters and 4 not in conf.learners
        await c.until(leader.propose(b"after"))
        await c.tick(3)
        assert c.items(4) == [b"before", b"after"]
        assert joiner.members == {i: Cluster.address(i) for i in (1, 2, 3, 4)}
        transport = c.net.transports[leader.node_id]
        assert ("add_peer", 4, Cluster.address(4)) in transport.calls

        gone = next(i for i in (1, 2, 3) if i != leader.node_id)
        await c.until(leader.remove_member(gone))
        assert gone not in leader._core.conf_state.voters
        assert ("remove_peer", gone, "") in transport.calls
        assert gone not in leader.members
        await c.until(leader.propose(b"without"))
        changes = [
            ConfChange.decode(e.data)
            for e in c.storages[leader.node_id].saved_entries
            if e.type is EntryType.CONF_CHANGE and e.index > 3  # after the bootstrap entries
        ]
        assert [(cc.type, cc.node_id, cc.context) for cc in changes] == [
            (ConfChangeType.ADD_LEARNER, 4, Cluster.address(4).encode()),
            (ConfChangeType.ADD_VOTER, 4, Cluster.address(4).encode()),
            (ConfChangeType.REMOVE, gone, b""),
        ]


async def test_transfer_leadership_hands_over_and_proposals_follow() -> None:
    async with cluster(3) as c:
        old = await c.elect()
        target = next(i for i in c.drivers if i != old.node_id)
        await c.until(old.transfer_leadership(target))
        await c.tick(2)
        assert c.leaders() == [target]
        with pytest.raises(NotLeader) as caught:
            await c.until(old.propose(b"x"))
        assert caught.value.leader == target
        await c.until(c.drivers[target].propose(b"y"))


async def test_fake_clock_wakes_sleepers_in_deadline_order_only_when_advanced() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.now()}")

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("late", 2))
        tg.create_task(sleeper("early", 1))
        for _ in range(3):
            await asyncio.sleep(0)
        assert woke == [] and clock.sleepers == 2
        clock.advance(1.5)
        for _ in range(3):
            await asyncio.sleep(0)
        assert woke == ["early@1.5"]
        clock.advance(0.5)
    assert woke == ["early@1.5", "late@2.0"]


async def test_restart_on_real_storage_restores_snapshot_and_replays_the_log(
    tmp_path: Path,
) -> None:
    async def run_member(bootstrap: ConfState | None, proposals: list[bytes]) -> Log:
        storage, restored = Storage.open(tmp_path, cluster_id="c", node_id=1)
        core = RaftNode(
            Config(id=1, election_tick=10),
            hard_state=restored.hard_state,
            snapshot=restored.snapshot,
            entries=restored.entries,
            bootstrap=bootstrap,
        )
        machine, clock = Log(), FakeClock()
        driver = RaftDriver(
            core,
            storage,
            InMemoryNetwork().transport(1),
            machine,
            clock=clock,
            peers={1: "manager-1:2377"},
            snapshot=restored.snapshot,
            options=DriverOptions(tick_interval=TICK, snapshot_interval=5, snapshot_keep=1),
        )
        try:
            async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
                tg.create_task(driver.run())
                while driver.role is not Role.LEADER:
                    clock.advance(TICK)
                    await settle([driver])
                for p in proposals:
                    await driver.propose(p)
                await driver.read_barrier()
                await driver.stop()
        finally:
            storage.close()
        return machine

    first = await run_member(
        ConfState(voters=frozenset({1})), [f"v{i}".encode() for i in range(12)]
    )
    second = await run_member(None, [b"after restart"])
    assert second.restored_from is not None  # from the snapshot, not only the log
    assert second.items == [*first.items, b"after restart"]
    assert len(first.items) == 12
