"""The constraint enforcer: tasks on a node that no longer satisfies them are rejected.

    node ACTIVE, task active and placed there (ASSIGNED..RUNNING):
        placement constraints no longer match the node (labels, role ... changed)
        or its reservations no longer fit the node's resources
            -> observed state REJECTED, "assigned node no longer meets constraints"

As swarmkit, it sets the observed state, not the desired one: desired state is the
orchestrators'. The restart supervisor then handles the rejected task like any failure: a
replacement in the same slot, placed elsewhere by the scheduler. A drained node is left to
the orchestrators (they move every task off it); a paused node keeps its tasks.
"""

from __future__ import annotations

from collections.abc import Iterable

from manager.orchestrator._common import (
    Action,
    ClusterState,
    Plan,
    SetObservedState,
    constraints_match,
    is_active,
    may_be_running,
)
from manager.orchestrator._loop import ReconcileLoop
from manager.raft.clock import Clock
from manager.store import Node, NodeAvailability, ObjectEvent, Store, Task, TaskState


def enforce_constraints(state: ClusterState, node_ids: Iterable[str] | None = None) -> Plan:
    ids = sorted(state.nodes) if node_ids is None else sorted(set(node_ids))
    placed: dict[str, list[Task]] = {}
    for tasks in state.tasks_by_service.values():
        for t in tasks:
            if t.node_id and is_active(t) and may_be_running(t):
                placed.setdefault(t.node_id, []).append(t)
    actions: list[Action] = []
    for node_id in ids:
        node = state.nodes.get(node_id)
        if node is None or node.spec.availability is not NodeAvailability.ACTIVE:
            continue
        actions.extend(_reject_misfits(node, placed.get(node_id, [])))
    return Plan(tuple(actions))


def _reject_misfits(node: Node, tasks: list[Task]) -> list[Action]:
    memory = node.description.resources.memory_bytes
    cpus = node.description.resources.nano_cpus
    actions: list[Action] = []
    for t in sorted(tasks, key=lambda t: t.id):
        reserved = t.spec.resources.reservations
        fits = True
        if reserved.memory_bytes or reserved.nano_cpus:
            fits = reserved.memory_bytes <= memory and reserved.nano_cpus <= cpus
            memory -= reserved.memory_bytes
            cpus -= reserved.nano_cpus
        if fits and constraints_match(t.spec.placement.constraints, node):
            continue
        actions.append(
            SetObservedState(
                t.id,
                TaskState.REJECTED,
                "task rejected by constraint enforcer",
                "assigned node no longer meets constraints",
            )
        )
    return actions


class ConstraintEnforcer(ReconcileLoop):
    """Rejects tasks on nodes that changed under them."""

    name = "constraint enforcer"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Node) and event.new is not None:
            return (obj.id,)
        return ()  # swarmkit's rule: only a node's change makes its tasks misfit

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        return enforce_constraints(state, scope)
