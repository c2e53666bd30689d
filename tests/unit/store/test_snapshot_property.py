"""Property: after any sequence of transactions (some refused), restoring a snapshot gives a
store equal to the original: same objects, same versions, same indexes, same snapshot bytes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from manager.store import (
    Node,
    NodeRole,
    Secret,
    Service,
    ServiceSpec,
    Store,
    StoreError,
    Task,
    WriteTx,
)
from tests.unit.store.helpers import new_store
from tests.unit.store.strategies import strategy_for

NAMES = st.sampled_from(["a", "b", "c", "A"])
IDS = st.sampled_from([f"{c}" * 25 for c in "pqrs"])

create_service = st.builds(lambda n, s: ("create_service", n, s), NAMES, strategy_for(ServiceSpec))
rename_service = st.builds(lambda i, n: ("rename_service", i, n), IDS, NAMES)
remove = st.builds(lambda i: ("remove_service", i), IDS)
create_task = st.builds(lambda i, slot: ("create_task", i, slot), IDS, st.integers(1, 3))
move_tasks = st.builds(lambda i, node: ("move_tasks", i, node), IDS, st.sampled_from(["n1", "n2"]))
create_other = st.builds(lambda o: ("create", o), strategy_for(Secret) | strategy_for(Node))
OPS = st.lists(
    st.lists(
        st.one_of(create_service, rename_service, remove, create_task, move_tasks, create_other),
        min_size=1,
        max_size=4,
    ),
    max_size=12,
)


def run(tx: WriteTx, op: tuple[object, ...]) -> None:
    match op:
        case ("create_service", str(name), ServiceSpec() as spec):
            ids = ["p" * 25, "q" * 25, "r" * 25, "s" * 25]
            free = [i for i in ids if tx.get(Service, i) is None]
            if free:
                tx.create(Service(id=free[0], spec=dataclasses.replace(spec, name=name)))
        case ("rename_service", str(id), str(name)):
            svc = tx.get(Service, id)
            if svc is not None:
                tx.update(dataclasses.replace(svc, spec=dataclasses.replace(svc.spec, name=name)))
        case ("remove_service", str(id)):
            tx.delete(Service, id)
        case ("create_task", str(id), int(slot)):
            tx.create(Task(service_id=id, slot=slot))
        case ("move_tasks", str(id), str(node)):
            for task in tx.tasks_by_service(id):
                tx.update(dataclasses.replace(task, node_id=node))
        case ("create", Secret() | Node() as obj):
            tx.create(dataclasses.replace(obj, id=""))
        case _:
            raise AssertionError(op)


def run_all(tx: WriteTx, ops: list[tuple[object, ...]]) -> None:
    for op in ops:
        run(tx, op)


def contents(store: Store) -> dict[str, object]:
    view = store.view()
    services = view.all(Service)
    return {
        "index": store.index,
        "services": sorted((s.id, s) for s in services),
        "by_name": {n: view.get_by_name(Service, n) for n in ("a", "b", "c")},
        "tasks": {s.id: sorted(t.id for t in view.tasks_by_service(s.id)) for s in services},
        "slots": {(i, n): len(view.tasks_by_slot(i, n)) for i in "pqrs" for n in (1, 2, 3)},
        "nodes": {n: sorted(t.id for t in view.tasks_by_node(n)) for n in ("", "n1", "n2")},
        "managers": sorted(n.id for n in view.nodes_by_role(NodeRole.MANAGER)),
        "secrets": sorted((s.id, s) for s in view.all(Secret)),
        "nodes_all": sorted((n.id, n) for n in view.all(Node)),
    }


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_snapshot_restore_equals_original(transactions: list[list[tuple[object, ...]]]) -> None:
    store = new_store()

    async def apply_all() -> None:
        for ops in transactions:
            with contextlib.suppress(StoreError):
                await store.update(lambda tx, ops=ops: run_all(tx, ops))  # type: ignore[misc]

    asyncio.run(apply_all())
    data = store.snapshot()
    copy = Store()
    copy.restore(data)
    assert contents(copy) == contents(store)
    assert copy.snapshot() == data
    # names stay unique through it all
    names = [s.spec.name.lower() for s in store.view().all(Service) if s.spec.name]
    assert len(names) == len(set(names))
