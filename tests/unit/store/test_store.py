"""The store without Raft: transactions, versions, names, indexes, watch, snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from manager.store import (
    AlreadyExists,
    BatchResult,
    CommitEvent,
    ContainerSpec,
    LocalProposer,
    NameConflict,
    Node,
    NodeRole,
    NotFound,
    ObjectEvent,
    Op,
    ResetEvent,
    Secret,
    SecretSpec,
    SequenceError,
    Service,
    ServiceSpec,
    StaleView,
    Store,
    StoreAction,
    StoreBatch,
    Task,
    TaskSpec,
    TaskState,
    TransactionClosed,
    WriteTx,
    new_id,
)
from manager.store.objects import NodeDescription, TaskStatus
from tests.unit.store.helpers import T0, FakeClock, new_store


def service(name: str, image: str = "web:1") -> Service:
    spec = ServiceSpec(name=name, task_template=TaskSpec(container=ContainerSpec(image=image)))
    return Service(spec=spec)


async def create(store: Store, obj: Service) -> Service:
    return await store.update(lambda tx: tx.create(obj))


async def read_back(store: Store, obj: Service) -> Service:
    """What update() returns was written before the commit (version 0): read it again."""
    stored = store.view().get(Service, obj.id)
    assert stored is not None and stored.meta.version > 0
    return stored


# -- ids ---------------------------------------------------------------------------------------


def test_ids_are_25_chars_of_base36_and_distinct() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 25 and i.isalnum() and i == i.lower() for i in ids)


# -- transactions ------------------------------------------------------------------------------


async def test_create_assigns_id_version_and_timestamps() -> None:
    clock = FakeClock()
    store = new_store(clock)
    created = await create(store, service("web"))
    stored = store.view().get(Service, created.id)
    assert stored is not None
    assert stored.spec.name == "web"
    assert stored.meta.version == store.index == 1
    assert stored.meta.created_at == stored.meta.updated_at == T0


async def test_update_keeps_created_at_and_moves_version() -> None:
    clock = FakeClock()
    store = new_store(clock)
    svc = await create(store, service("web"))
    await create(store, service("other"))
    clock.advance(60)
    read = store.view().get(Service, svc.id)
    assert read is not None
    changed = dataclasses.replace(read, spec=dataclasses.replace(read.spec, labels={"a": "b"}))
    await store.update(lambda tx: tx.update(changed))
    after = store.view().get(Service, svc.id)
    assert after is not None
    assert after.spec.labels == {"a": "b"}
    assert after.meta.version == 3
    assert after.meta.created_at == T0
    assert after.meta.updated_at > T0


async def test_transaction_is_all_or_nothing() -> None:
    store = new_store()
    await create(store, service("taken"))

    def fn(tx: WriteTx) -> None:
        tx.create(service("new-one"))
        tx.create(service("taken"))  # refused: nothing of this transaction is written

    with pytest.raises(NameConflict):
        await store.update(fn)
    assert [s.spec.name for s in store.view().all(Service)] == ["taken"]
    assert store.index == 1


async def test_an_exception_in_the_function_writes_nothing() -> None:
    store = new_store()

    def fn(tx: WriteTx) -> None:
        tx.create(service("web"))
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        await store.update(fn)
    assert store.view().all(Service) == []


async def test_transaction_reads_its_own_writes() -> None:
    store = new_store()

    def fn(tx: WriteTx) -> list[str]:
        svc = tx.create(service("web"))
        tx.create(Task(service_id=svc.id, slot=1))
        tx.create(Task(service_id=svc.id, slot=2))
        assert tx.get_by_name(Service, "WEB") == svc
        return [t.id for t in tx.tasks_by_service(svc.id)]

    ids = await store.update(fn)
    assert len(ids) == 2
    assert store.index == 1  # one transaction, one batch


async def test_create_then_delete_in_one_transaction_leaves_nothing() -> None:
    store = new_store()
    watch = store.watch()

    def fn(tx: WriteTx) -> None:
        svc = tx.create(service("web"))
        tx.delete(Service, svc.id)

    await store.update(fn)
    assert store.view().all(Service) == []
    assert watch.drain() == []  # nothing to propose, nothing happened
    assert store.index == 0


async def test_writes_after_the_transaction_are_refused() -> None:
    store = new_store()
    kept: list[WriteTx] = []
    await store.update(kept.append)
    with pytest.raises(TransactionClosed):
        kept[0].create(service("late"))


# -- versions ----------------------------------------------------------------------------------


async def test_update_from_a_stale_read_is_out_of_sequence() -> None:
    store = new_store()
    svc = await create(store, service("web"))
    stale = store.view().get(Service, svc.id)
    assert stale is not None
    await store.update(lambda tx: tx.update(dataclasses.replace(stale, spec=service("v2").spec)))
    with pytest.raises(SequenceError, match="update out of sequence") as err:
        await store.update(lambda tx: tx.update(stale))
    assert (err.value.read_version, err.value.current_version) == (1, 2)
    current = store.view().get(Service, svc.id)
    assert current is not None and current.spec.name == "v2"


class RacingProposer:
    """Commits `race` (another writer's transaction) just before the first batch it is given."""

    def __init__(self, store: Store, race: StoreBatch) -> None:
        self.inner = LocalProposer(store)
        self.race: StoreBatch | None = race
        self.proposed = 0

    async def propose(self, batch: StoreBatch) -> BatchResult:
        self.proposed += 1
        if self.race is not None:
            race, self.race = self.race, None
            assert (await self.inner.propose(race)).error is None
        return await self.inner.propose(batch)


async def test_a_read_modify_write_that_loses_a_race_runs_again_on_the_new_state() -> None:
    store = new_store()
    svc = await create(store, service("web"))
    current = store.view().get(Service, svc.id)
    assert current is not None
    relabel = dataclasses.replace(current.spec, labels={"by": "other"})
    other = StoreBatch((StoreAction(Op.UPDATE, dataclasses.replace(current, spec=relabel)),))
    proposer = RacingProposer(store, other)
    store.attach(proposer)

    def rename(tx: WriteTx) -> None:
        s = tx.get(Service, svc.id)
        assert s is not None
        tx.update(dataclasses.replace(s, spec=dataclasses.replace(s.spec, name="api")))

    await store.update(rename)
    after = store.view().get(Service, svc.id)
    assert after is not None
    assert (after.spec.name, after.spec.labels) == ("api", {"by": "other"})  # both writes kept
    assert proposer.proposed == 2


async def test_an_update_based_on_an_old_read_still_fails_after_a_race() -> None:
    store = new_store()
    svc = await create(store, service("web"))
    stale = store.view().get(Service, svc.id)
    assert stale is not None
    other = StoreBatch(
        (StoreAction(Op.UPDATE, dataclasses.replace(stale, spec=service("x").spec)),)
    )
    store.attach(RacingProposer(store, other))
    with pytest.raises(SequenceError, match="update out of sequence"):
        await store.update(lambda tx: tx.update(dataclasses.replace(stale, spec=service("y").spec)))


async def test_update_and_delete_of_a_missing_object_is_not_found() -> None:
    store = new_store()
    with pytest.raises(NotFound, match="service nope not found"):
        await store.update(lambda tx: tx.delete(Service, "nope"))
    with pytest.raises(NotFound):
        await store.update(lambda tx: tx.update(Service(id="nope")))


async def test_create_with_a_taken_id_already_exists() -> None:
    store = new_store()
    await store.update(lambda tx: tx.create(Node(id="n1")))
    with pytest.raises(AlreadyExists):
        await store.update(lambda tx: tx.create(Node(id="n1")))


# -- names -------------------------------------------------------------------------------------


async def test_names_are_unique_per_table_case_insensitively() -> None:
    store = new_store()
    first = await create(store, service("Web"))
    with pytest.raises(NameConflict, match=f"service name 'web' is already taken by .*{first.id}"):
        await create(store, service("web"))
    # another table may use the same name
    await store.update(lambda tx: tx.create(Secret(spec=SecretSpec(name="web"))))


async def test_renaming_frees_the_old_name() -> None:
    store = new_store()
    svc = await read_back(store, await create(store, service("a")))
    await store.update(lambda tx: tx.update(dataclasses.replace(svc, spec=service("b").spec)))
    view = store.view()
    assert view.get_by_name(Service, "a") is None
    assert view.get_by_name(Service, "B") is not None
    await create(store, service("a"))


async def test_swapping_names_in_one_transaction() -> None:
    store = new_store()
    a = await read_back(store, await create(store, service("a")))

    def fn(tx: WriteTx) -> None:
        tx.update(dataclasses.replace(a, spec=service("tmp").spec))
        tx.create(service("a"))

    await store.update(fn)
    assert sorted(s.spec.name for s in store.view().all(Service)) == ["a", "tmp"]


async def test_nodes_have_no_unique_name() -> None:
    store = new_store()
    desc = NodeDescription(hostname="h")
    await store.update(lambda tx: [tx.create(Node(id=i, description=desc)) for i in ("n1", "n2")])
    assert len(store.view().nodes_by_hostname("h")) == 2


# -- indexes -----------------------------------------------------------------------------------


async def test_task_indexes_follow_updates_and_deletes() -> None:
    store = new_store()
    svc = await create(store, service("web"))

    def add(tx: WriteTx) -> list[Task]:
        return [tx.create(Task(service_id=svc.id, slot=s)) for s in (1, 2, 3)]

    t1, t2, _ = await store.update(add)
    view = store.view()
    assert [t.slot for t in view.tasks_by_service(svc.id)] == [1, 2, 3]
    assert view.tasks_by_node("n1") == []

    moved = dataclasses.replace(store.view().get(Task, t1.id) or t1, node_id="n1")

    def change(tx: WriteTx) -> None:
        tx.update(moved)
        tx.delete(Task, t2.id)

    await store.update(change)
    view = store.view()
    assert [t.id for t in view.tasks_by_node("n1")] == [t1.id]
    assert view.tasks_by_slot(svc.id, 2) == []
    assert sorted(t.slot for t in view.tasks_by_service(svc.id)) == [1, 3]
    assert view.tasks_by_node("") and all(t.node_id == "" for t in view.tasks_by_node(""))


async def test_slot_history_and_nodes_by_role() -> None:
    store = new_store()

    def fn(tx: WriteTx) -> None:
        tx.create(Node(id="m1", role=NodeRole.MANAGER))
        tx.create(Node(id="w1"))
        for state in (TaskState.FAILED, TaskState.RUNNING):
            tx.create(Task(service_id="s", slot=1, status=TaskStatus(state=state)))

    await store.update(fn)
    view = store.view()
    assert [n.id for n in view.nodes_by_role(NodeRole.MANAGER)] == ["m1"]
    assert [t.status.state for t in view.tasks_by_slot("s", 1)] == [
        TaskState.FAILED,
        TaskState.RUNNING,
    ]


def test_task_states_are_ordered_like_swarm() -> None:
    order = list(TaskState)
    assert order == sorted(order)
    assert TaskState.RUNNING < TaskState.COMPLETE < TaskState.ORPHANED
    assert not TaskState.RUNNING.terminal and TaskState.SHUTDOWN.terminal


# -- views -------------------------------------------------------------------------------------


async def test_a_view_used_after_a_commit_is_stale() -> None:
    store = new_store()
    view = store.view()
    assert view.all(Service) == []
    await create(store, service("web"))
    with pytest.raises(StaleView, match=r"take a new store\.view"):
        view.all(Service)


# -- watch -------------------------------------------------------------------------------------


async def test_watch_gets_one_event_per_change_then_a_commit() -> None:
    store = new_store()
    watch = store.watch()
    svc = await create(store, service("web"))

    def fn(tx: WriteTx) -> None:
        current = tx.get(Service, svc.id)
        assert current is not None
        tx.update(dataclasses.replace(current, spec=service("web2").spec))
        tx.create(Task(service_id=svc.id, slot=1))

    await store.update(fn)
    await store.update(lambda tx: tx.delete(Service, svc.id))
    events = watch.drain()
    shape = [
        (e.op, type(e.obj).__name__, e.index) if isinstance(e, ObjectEvent) else e for e in events
    ]
    assert shape == [
        (Op.CREATE, "Service", 1),
        CommitEvent(1),
        (Op.UPDATE, "Service", 2),
        (Op.CREATE, "Task", 2),
        CommitEvent(2),
        (Op.REMOVE, "Service", 3),
        CommitEvent(3),
    ]
    update = events[2]
    assert isinstance(update, ObjectEvent) and update.old is not None and update.new is not None
    assert (update.old.meta.version, update.new.meta.version) == (1, 2)
    removal = events[5]
    assert isinstance(removal, ObjectEvent) and removal.new is None


async def test_watch_filters_by_kind_and_predicate_but_keeps_commits() -> None:
    store = new_store()
    tasks = store.watch(Task)
    running = store.watch(Task, predicate=lambda e: e.obj.status.state == TaskState.RUNNING)  # type: ignore[union-attr]

    def fn(tx: WriteTx) -> None:
        tx.create(service("web"))
        tx.create(Task(slot=1))
        tx.create(Task(slot=2, status=TaskStatus(state=TaskState.RUNNING)))

    await store.update(fn)
    assert [type(e).__name__ for e in tasks.drain()] == [
        "ObjectEvent",
        "ObjectEvent",
        "CommitEvent",
    ]
    got = running.drain()
    assert len(got) == 2 and isinstance(got[0], ObjectEvent) and got[0].obj.slot == 2  # type: ignore[union-attr]


async def test_failed_transaction_emits_nothing() -> None:
    store = new_store()
    await create(store, service("web"))
    watch = store.watch()
    with pytest.raises(NameConflict):
        await create(store, service("web"))
    assert watch.drain() == []


async def test_watch_iterates_and_ends_when_closed() -> None:
    store = new_store()
    with store.watch() as watch:
        await create(store, service("web"))
        first = await anext(watch)
        assert isinstance(first, ObjectEvent)
        assert await anext(watch) == CommitEvent(1)
    assert [e async for e in watch] == []
    await create(store, service("other"))  # a closed watch gets nothing
    assert watch.drain() == []


async def test_view_and_watch_miss_nothing() -> None:
    store = new_store()
    await create(store, service("a"))
    view, watch = store.view_and_watch(Service)
    assert [s.spec.name for s in view.all(Service)] == ["a"]
    await create(store, service("b"))
    assert [e.obj.spec.name for e in watch.drain() if isinstance(e, ObjectEvent)] == ["b"]  # type: ignore[union-attr]


# -- snapshots ---------------------------------------------------------------------------------


async def test_snapshot_restore_round_trip_and_reset_event() -> None:
    store = new_store()
    svc = await create(store, service("web"))
    await store.update(lambda tx: tx.create(Task(service_id=svc.id, slot=1)))
    data = store.snapshot()

    other = new_store(prefix="other")
    watch = other.watch()
    stale = other.view()
    other.restore(data)
    assert watch.drain() == [ResetEvent(2)]
    assert other.index == 2
    assert other.snapshot() == data
    assert [t.slot for t in other.view().tasks_by_service(svc.id)] == [1]
    with pytest.raises(StaleView):
        stale.all(Service)
    # the restored store goes on from the snapshot's index, names still unique
    with pytest.raises(NameConflict):
        await create(other, service("web"))
    await create(other, service("api"))
    assert other.index == 3  # refused inside the transaction: nothing was proposed
