"""Jobs: tasks that run to completion and are never restarted once complete.

    replicated-job: slots 1..total_completions of the current job iteration
        slot with a COMPLETE task -> done        slot with an active task -> running
        slot `settled` (failed, restart policy said no) -> given up
        free slots -> CreateTask, lowest first, while running < max_concurrent
    global-job: one task per eligible node and iteration; a node with a COMPLETE task is done
    tasks of an earlier iteration still active -> desired SHUTDOWN

Job tasks are created with desired state COMPLETE (swarmkit's convention), so "desired <=
COMPLETE" means "meant to run". A new iteration starts when the service's
job_status.job_iteration moves on (the control API bumps it on `service update`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from manager.orchestrator._common import (
    JOBS,
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
from manager.store import (
    GlobalJob,
    Node,
    ObjectEvent,
    ReplicatedJob,
    Service,
    Store,
    Task,
    TaskState,
)


def iteration_of(service: Service) -> int:
    return service.job_status.job_iteration if service.job_status is not None else 0


def reconcile_jobs(state: ClusterState, scope: Iterable[str] | None = None) -> Plan:
    actions: list[Action] = []
    for service in state.services_of(JOBS, scope):
        iteration = iteration_of(service)
        current: list[Task] = []
        for t in state.tasks(service.id):
            if (t.job_iteration or 0) == iteration:
                current.append(t)
            elif is_active(t):
                actions.append(SetDesiredState(t.id, TaskState.SHUTDOWN, "new job iteration"))
        if isinstance(service.spec.mode, ReplicatedJob):
            actions.extend(_replicated_job(state, service, service.spec.mode, current))
        else:
            actions.extend(_global_job(state, service, current))
    return Plan(tuple(actions))


def _done(service: Service, tasks: list[Task]) -> bool:
    """Nothing more to start here: completed, running, or given up."""
    return (
        any(t.status.state == TaskState.COMPLETE for t in tasks)
        or any(is_active(t) for t in tasks)
        or settled(service, tasks)
    )


def _replicated_job(
    state: ClusterState, service: Service, mode: ReplicatedJob, tasks: list[Task]
) -> list[Action]:
    by_slot: dict[int, list[Task]] = defaultdict(list)
    for t in tasks:
        by_slot[t.slot].append(t)
    running = sum(
        1
        for ts in by_slot.values()
        if any(is_active(t) and t.status.state != TaskState.COMPLETE for t in ts)
    )
    room = max(0, mode.max_concurrent - running)
    actions: list[Action] = []
    for slot in range(1, mode.total_completions + 1):
        if room == 0:
            break
        if _done(service, by_slot.get(slot, [])):
            continue
        actions.append(CreateTask(new_task(service, now=state.now, slot=slot)))
        room -= 1
    return actions


def _global_job(state: ClusterState, service: Service, tasks: list[Task]) -> list[Action]:
    assert isinstance(service.spec.mode, GlobalJob)
    by_node: dict[str, list[Task]] = defaultdict(list)
    for t in tasks:
        by_node[t.node_id].append(t)
    constraints = service.spec.task_template.placement.constraints
    actions: list[Action] = []
    for node_id in sorted(set(by_node) | set(state.nodes)):
        node_tasks = by_node.get(node_id, [])
        node = state.nodes.get(node_id)
        if node is None or node_gone(node) or not constraints_match(constraints, node):
            for t in node_tasks:
                if is_active(t):
                    actions.append(SetDesiredState(t.id, TaskState.REMOVE, "node unavailable"))
            continue
        if not _done(service, node_tasks) and node_takes_new_tasks(node):
            actions.append(CreateTask(new_task(service, now=state.now, node_id=node_id)))
    return actions


class JobsOrchestrator(ReconcileLoop):
    """Runs replicated and global jobs to completion."""

    name = "jobs orchestrator"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Node):
            return None
        if isinstance(obj, Service):
            return (obj.id,)
        if isinstance(obj, Task):
            return (obj.service_id,)
        return ()

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        return reconcile_jobs(state, scope)
