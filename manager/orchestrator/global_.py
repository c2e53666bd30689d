"""Global services: one task on every eligible node.

    for each global service, for each node (and each node its tasks name):
        node removed / Down / drained / constraints no longer match -> REMOVE its tasks
        node ready, active, constraints match, no active task       -> CreateTask(node_id=node)
        more than one active task                                   -> REMOVE the extras
        paused, or not ready yet (unknown, disconnected)            -> leave it as it is

Global tasks are created with node_id set (the scheduler only checks them). A task that stops
is the restart supervisor's: it restarts it on the same node, or leaves the node `settled`.
A node that comes back from Down gets a fresh task. Tasks are ended with desired state REMOVE
(not SHUTDOWN, which marks a stop the restart policy chose to keep: see `settled`); the task
reaper deletes them once the node has stopped them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from manager.orchestrator._common import (
    GLOBAL,
    Action,
    ClusterState,
    CreateTask,
    Plan,
    SetDesiredState,
    constraints_match,
    is_active,
    new_task,
    node_gone,
    node_takes_new_tasks,
    settled,
)
from manager.orchestrator._loop import ReconcileLoop
from manager.raft.clock import Clock
from manager.store import Node, ObjectEvent, Service, Store, Task, TaskState


def reconcile_global(state: ClusterState, scope: Iterable[str] | None = None) -> Plan:
    actions: list[Action] = []
    for service in state.services_of(GLOBAL, scope):
        actions.extend(reconcile_per_node(state, service))
    return Plan(tuple(actions))


def reconcile_per_node(state: ClusterState, service: Service) -> list[Action]:
    """Shared with global jobs: one active task per eligible node."""
    by_node: dict[str, list[Task]] = defaultdict(list)
    for t in state.tasks(service.id):
        by_node[t.node_id].append(t)
    constraints = service.spec.task_template.placement.constraints
    actions: list[Action] = []
    for node_id in sorted(set(by_node) | set(state.nodes)):
        tasks = by_node.get(node_id, [])
        active = [t for t in tasks if is_active(t)]
        node = state.nodes.get(node_id)
        if node is None or node_gone(node) or not constraints_match(constraints, node):
            actions.extend(_remove(active, "node no longer eligible"))
            continue
        if active:
            actions.extend(_remove(active[1:], "one task per node"))
        elif node_takes_new_tasks(node) and not settled(service, tasks):
            actions.append(CreateTask(new_task(service, now=state.now, node_id=node_id)))
    return actions


def _remove(tasks: list[Task], reason: str) -> list[Action]:
    return [SetDesiredState(t.id, TaskState.REMOVE, reason) for t in tasks]


class GlobalOrchestrator(ReconcileLoop):
    """Keeps one task of every global service on every eligible node."""

    name = "global orchestrator"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Node):
            return None  # joins, drains, label changes: every global service may care
        if isinstance(obj, Service):
            return (obj.id,)
        if isinstance(obj, Task):
            return (obj.service_id,)
        return ()

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        return reconcile_global(state, scope)
