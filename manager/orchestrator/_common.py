"""What every orchestrator shares: the snapshot it decides on, the actions it returns, the
task factory and the predicates on tasks and nodes. All pure: no store, no clock, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from manager.allocator.rules import task_endpoint
from manager.scheduler.constraint import node_matches, parse_constraints
from manager.scheduler.errors import ConstraintError
from manager.store import (
    GlobalJob,
    GlobalService,
    Node,
    NodeAvailability,
    NodeState,
    ReadTx,
    ReplicatedJob,
    ReplicatedService,
    Service,
    ServiceAnnotations,
    Task,
    TaskState,
    TaskStatus,
)

DEFAULT_HISTORY_LIMIT = 5

# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateTask:
    task: Task


@dataclass(frozen=True, slots=True)
class SetDesiredState:
    """Move a task's desired state forward (never backwards: a lower target is a no-op)."""

    task_id: str
    desired: TaskState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetObservedState:
    """Move a task's observed state forward: a delayed restart released (NEW -> PENDING), or a
    task rejected by the constraint enforcer."""

    task_id: str
    state: TaskState
    message: str
    err: str = ""


@dataclass(frozen=True, slots=True)
class DeleteTask:
    task_id: str


Action = CreateTask | SetDesiredState | SetObservedState | DeleteTask


@dataclass(frozen=True, slots=True)
class Plan:
    """What one pass decided; `wake_at` is when the decision should be made again even if
    nothing changes in the store (a restart delay running out)."""

    actions: tuple[Action, ...] = ()
    wake_at: datetime | None = None


# -- the snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClusterState:
    services: Mapping[str, Service]
    nodes: Mapping[str, Node]
    tasks_by_service: Mapping[str, tuple[Task, ...]]
    orphan_tasks: tuple[Task, ...]  # tasks whose service no longer exists
    history_limit: int = DEFAULT_HISTORY_LIMIT
    now: datetime = field(default_factory=lambda: datetime.min)

    @classmethod
    def from_view(cls, view: ReadTx, now: datetime) -> ClusterState:
        services = {s.id: s for s in view.all(Service)}
        by_service: dict[str, list[Task]] = {}
        orphans: list[Task] = []
        for t in sorted(view.all(Task), key=task_order):
            if t.service_id in services:
                by_service.setdefault(t.service_id, []).append(t)
            else:
                orphans.append(t)
        cluster = view.cluster()
        limit = (
            cluster.spec.orchestration.task_history_retention_limit
            if cluster is not None
            else DEFAULT_HISTORY_LIMIT
        )
        return cls(
            services=services,
            nodes={n.id: n for n in view.all(Node)},
            tasks_by_service={k: tuple(v) for k, v in by_service.items()},
            orphan_tasks=tuple(orphans),
            history_limit=limit,
            now=now,
        )

    def tasks(self, service_id: str) -> tuple[Task, ...]:
        return self.tasks_by_service.get(service_id, ())

    def services_of(self, kinds: tuple[type, ...], scope: Iterable[str] | None) -> list[Service]:
        """Services of these modes, limited to `scope` (None: all), in id order."""
        ids = sorted(self.services) if scope is None else sorted(set(scope))
        out = []
        for id in ids:
            s = self.services.get(id)
            if s is not None and isinstance(s.spec.mode, kinds):
                out.append(s)
        return out


def task_order(t: Task) -> tuple[datetime, str]:
    """Oldest first: creation time, then id (ids of one batch break the tie)."""
    return (t.meta.created_at, t.id)


# -- tasks -------------------------------------------------------------------------------------

REPLICATED = (ReplicatedService,)
GLOBAL = (GlobalService,)
JOBS = (ReplicatedJob, GlobalJob)
SLOTTED = (ReplicatedService, ReplicatedJob)  # tasks keyed by slot; the others by node


def is_job(service: Service) -> bool:
    return isinstance(service.spec.mode, JOBS)


def desired_for(service: Service) -> TaskState:
    """Services run until told otherwise; job tasks run to completion (as in swarmkit)."""
    return TaskState.COMPLETE if is_job(service) else TaskState.RUNNING


def is_active(t: Task) -> bool:
    """Still meant to run (or to finish, for a job): desired state RUNNING, or COMPLETE for a
    job task. A task that stopped unexpectedly stays active until the restart supervisor
    handles it, so it keeps its slot."""
    return t.desired_state <= TaskState.COMPLETE


def may_be_running(t: Task) -> bool:
    """A node may still run it: it reached a node and has not reported a terminal state."""
    return TaskState.ASSIGNED <= t.status.state <= TaskState.RUNNING


def instance_key(service: Service, t: Task) -> int | str:
    """Which instance a task belongs to: its slot, or its node for global services."""
    return t.slot if isinstance(service.spec.mode, SLOTTED) else t.node_id


def settled(service: Service, tasks: Iterable[Task]) -> bool:
    """An instance with no active task whose last task stopped and was not restarted by its
    restart policy, under the service's current spec: it stays stopped until the service is
    updated (spec_version moves on). Every other way a task ends (restart, node drained or
    down, scale down) creates a replacement or marks the task REMOVE."""
    tasks = list(tasks)
    if any(is_active(t) for t in tasks):
        return False
    return any(
        t.desired_state == TaskState.SHUTDOWN and t.spec_version == service.spec_version
        for t in tasks
    )


def new_task(
    service: Service,
    *,
    now: datetime,
    slot: int = 0,
    node_id: str = "",
    state: TaskState = TaskState.PENDING,
    message: str = "created",
    job_iteration: int | None = None,
) -> Task:
    """A task for `service`: its spec copied from the service, no id yet (the store gives
    one), and its endpoint (the allocated one when it is current, else the endpoint spec:
    rules.task_endpoint). Created PENDING; NEW while a restart delay holds it back. A task
    that needs networks waits in PENDING until the allocator wrote its attachments (the
    scheduler leaves it alone until then)."""
    if job_iteration is None and is_job(service) and service.job_status is not None:
        job_iteration = service.job_status.job_iteration
    return Task(
        service_id=service.id,
        slot=slot,
        node_id=node_id,
        spec=service.spec.task_template,
        spec_version=service.spec_version,
        service_annotations=ServiceAnnotations(service.spec.name, service.spec.labels),
        desired_state=desired_for(service),
        status=TaskStatus(state=state, timestamp=now, message=message),
        endpoint=task_endpoint(service),
        job_iteration=job_iteration if is_job(service) else None,
    )


# -- nodes -------------------------------------------------------------------------------------


def node_gone(node: Node | None) -> bool:
    """Tasks there must move: the node was removed, is Down, or drained (swarmkit's
    InvalidNode). Paused nodes keep their tasks."""
    return (
        node is None
        or node.status.state is NodeState.DOWN
        or node.spec.availability is NodeAvailability.DRAIN
    )


def node_takes_new_tasks(node: Node) -> bool:
    return node.status.state is NodeState.READY and (
        node.spec.availability is NodeAvailability.ACTIVE
    )


def constraints_match(constraints: tuple[str, ...], node: Node) -> bool:
    """A constraint that does not parse matches no node (the control API refuses those at
    create time; a stored one must not crash a reconciler)."""
    if not constraints:
        return True
    try:
        return node_matches(parse_constraints(constraints), node)
    except ConstraintError:
        return False
