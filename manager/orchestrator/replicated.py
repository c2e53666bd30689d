"""Replicated services: slots 1..N, each meant to hold one active task.

    decide(snapshot) -> for each service: active slots vs replicas
        fewer  -> CreateTask in the lowest free slot numbers (PENDING, desired RUNNING)
        more   -> SetDesiredState(REMOVE) on the surplus slots' tasks, chosen like swarmkit:
                  from the nodes with the most tasks of the service, not-running first,
                  highest slot first

A slot is taken while it has an active task (desired state RUNNING), whatever its observed
state: a task that stopped belongs to the restart supervisor, which replaces it in the same
slot or, if the restart policy says no, leaves the slot `settled` (stopped until the service
changes). Tasks on a drained or Down node are the restart supervisor's too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from manager.orchestrator._common import (
    REPLICATED,
    Action,
    ClusterState,
    CreateTask,
    Plan,
    SetDesiredState,
    is_active,
    new_task,
    settled,
)
from manager.orchestrator._loop import ReconcileLoop
from manager.raft.clock import Clock
from manager.store import (
    Node,
    ObjectEvent,
    ReplicatedService,
    Service,
    Store,
    Task,
    TaskState,
)


def reconcile_replicated(state: ClusterState, scope: Iterable[str] | None = None) -> Plan:
    actions: list[Action] = []
    for service in state.services_of(REPLICATED, scope):
        actions.extend(_reconcile_service(state, service))
    return Plan(tuple(actions))


def _reconcile_service(state: ClusterState, service: Service) -> list[Action]:
    mode = service.spec.mode
    assert isinstance(mode, ReplicatedService)
    by_slot: dict[int, list[Task]] = defaultdict(list)
    for t in state.tasks(service.id):
        by_slot[t.slot].append(t)
    active = {s: [t for t in ts if is_active(t)] for s, ts in by_slot.items()}
    active = {s: ts for s, ts in active.items() if ts}
    done = {s for s, ts in by_slot.items() if settled(service, ts)}
    taken = len(active) + len(done)
    actions: list[Action] = []
    if taken < mode.replicas:
        slot = 0
        for _ in range(mode.replicas - taken):
            slot += 1
            while slot in active or slot in done:
                slot += 1
            actions.append(CreateTask(new_task(service, now=state.now, slot=slot)))
    elif taken > mode.replicas:
        surplus = min(taken - mode.replicas, len(active))
        for slot in _removal_order(active)[:surplus]:
            for t in active[slot]:
                actions.append(SetDesiredState(t.id, TaskState.REMOVE, "scale down"))
    return actions


def _removal_order(active: dict[int, list[Task]]) -> list[int]:
    """Slots to remove first: those not yet placed, then each node's n-th copy with the
    largest n (the nodes with the most tasks of the service), not-running before running,
    highest slot first. What is left is spread as evenly as it was."""
    per_node: dict[str, int] = defaultdict(int)
    keyed: list[tuple[int, int, int]] = []
    running_first = sorted(active, key=lambda s: (0 if _running(active[s]) else 1, s))
    for slot in running_first:
        node = active[slot][0].node_id
        if not node:
            keyed.append((1 << 30, 1, slot))
            continue
        per_node[node] += 1
        keyed.append((per_node[node], 0 if _running(active[slot]) else 1, slot))
    keyed.sort(reverse=True)
    return [slot for _, _, slot in keyed]


def _running(tasks: list[Task]) -> bool:
    return any(t.status.state == TaskState.RUNNING for t in tasks)


class ReplicatedOrchestrator(ReconcileLoop):
    """Keeps every replicated service at its replica count."""

    name = "replicated orchestrator"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Service):
            return (obj.id,)
        if isinstance(obj, Task):
            return (obj.service_id,)
        if isinstance(obj, Node):
            return ()  # nodes matter to the restart supervisor, not to slot counting
        return ()

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        return reconcile_replicated(state, scope)
