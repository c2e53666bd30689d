"""The task reaper: bounds the history `service ps` shows and deletes what nobody needs.

    per instance (service + slot, or service + node for global services):
        more than the cluster's task history limit (default 5) of tasks -> delete the oldest
        ones that are over (desired and observed state past RUNNING); never the newest, which
        tells whether the instance was left stopped by its restart policy
    tasks with desired state REMOVE (scale down, node gone) -> delete once no node runs them
    tasks of a removed service -> desired REMOVE, then deleted once no node runs them

"No node runs it": observed state terminal, or the task never reached a node (below
ASSIGNED). A task on a Down node stays until the node reports back or the dispatcher marks it
ORPHANED. A negative history limit keeps everything (as swarmkit).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from manager.orchestrator._common import (
    Action,
    ClusterState,
    DeleteTask,
    Plan,
    SetDesiredState,
    instance_key,
    task_order,
)
from manager.orchestrator._loop import ReconcileLoop
from manager.raft.clock import Clock
from manager.store import Cluster, ObjectEvent, Service, Store, Task, TaskState


def _over(t: Task) -> bool:
    return t.desired_state > TaskState.RUNNING and t.status.state > TaskState.RUNNING


def _not_on_a_node(t: Task) -> bool:
    return t.status.state.terminal or t.status.state < TaskState.ASSIGNED


def _deletable_on_removal(t: Task) -> bool:
    return t.desired_state >= TaskState.REMOVE and _not_on_a_node(t)


def reap(state: ClusterState, scope: Iterable[str] | None = None) -> Plan:
    actions: list[Action] = []
    for t in state.orphan_tasks:
        if t.desired_state < TaskState.REMOVE:
            actions.append(SetDesiredState(t.id, TaskState.REMOVE, "service removed"))
        elif _not_on_a_node(t):
            actions.append(DeleteTask(t.id))
    for service in state.services_of((object,), scope):
        actions.extend(_reap_service(state, service))
    return Plan(tuple(actions))


def _reap_service(state: ClusterState, service: Service) -> list[Action]:
    actions: list[Action] = []
    instances: dict[int | str, list[Task]] = defaultdict(list)
    for t in state.tasks(service.id):
        if _deletable_on_removal(t):
            actions.append(DeleteTask(t.id))
        elif t.desired_state < TaskState.REMOVE:
            instances[instance_key(service, t)].append(t)
    limit = state.history_limit
    if limit < 0:
        return actions
    for key in sorted(instances, key=str):
        tasks = sorted(instances[key], key=task_order)
        excess = len(tasks) - max(limit, 1)
        for t in tasks[:-1]:
            if excess <= 0:
                break
            if _over(t):
                actions.append(DeleteTask(t.id))
                excess -= 1
    return actions


class TaskReaper(ReconcileLoop):
    """Deletes old and removed tasks."""

    name = "task reaper"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Cluster):
            return None  # the history limit may have changed
        if isinstance(obj, Service):
            return (obj.id,)  # a removal leaves orphans to reap
        if isinstance(obj, Task):
            return (obj.service_id,)
        return ()

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        if scope is not None:
            orphans = tuple(t for t in state.orphan_tasks if t.service_id in scope)
        else:
            orphans = state.orphan_tasks
        return reap(dataclasses.replace(state, orphan_tasks=orphans), scope)
