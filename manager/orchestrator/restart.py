"""The restart supervisor: replaces tasks that stopped when they should not have.

    task active (desired RUNNING, or COMPLETE for a job) but observed terminal:
        restart policy says yes -> old task desired SHUTDOWN + new task in the same slot
                                   (same node for global), held in NEW for the restart delay
        restart policy says no  -> old task desired SHUTDOWN; the slot stays `settled`
    slotted task active on a node that is gone (removed, Down, drained):
        -> old task desired SHUTDOWN + new task in the same slot, PENDING at once (the task did
           not fail, its node went away: no delay, not counted as an attempt, whatever the
           condition; swarmkit runs this through the policy, which strands restart=none tasks)
    task in NEW whose restart delay has passed -> observed PENDING (the scheduler takes it)

The restart delay is modelled in the store, not in a timer: the new task exists at once (so
its slot is taken and `service ps` shows it) but stays NEW, which no scheduler or agent acts
on, until `status.timestamp + delay`; then this supervisor moves it to PENDING. The deadline
is thus known to any manager after a leader change. The pass returns the earliest deadline
as its wake-up time. A job task that completed is a success, never restarted (`any` means
`on-failure` for jobs).

Attempts are counted per instance (service + slot, or service + node) and spec version, in a
history kept in memory like swarmkit's, seeded at start from the tasks still in the store
(so after a leader change, attempts older than the task history limit are forgotten).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from manager.orchestrator._common import (
    SLOTTED,
    Action,
    ClusterState,
    CreateTask,
    Plan,
    SetDesiredState,
    SetObservedState,
    constraints_match,
    instance_key,
    is_active,
    is_job,
    new_task,
    node_gone,
    task_order,
)
from manager.orchestrator._loop import ReconcileLoop
from manager.raft.clock import Clock
from manager.store import (
    EPOCH,
    Node,
    NodeAvailability,
    ObjectEvent,
    RestartCondition,
    Service,
    Store,
    Task,
    TaskState,
)

InstanceKey = tuple[str, int | str]


@dataclass(frozen=True, slots=True)
class RestartRecord:
    service_id: str
    instance: int | str
    spec_version: int
    at: datetime


History = Mapping[InstanceKey, tuple[RestartRecord, ...]]


@dataclass(frozen=True, slots=True)
class RestartPlan(Plan):
    records: tuple[RestartRecord, ...] = field(default=())


def should_restart(task: Task, job: bool, records: Iterable[RestartRecord], now: datetime) -> bool:
    """swarmkit's ShouldRestart: the condition, then at most max_attempts restarts under this
    spec version, counted within `window` before the task stopped (0: ever)."""
    policy = task.spec.restart_policy
    condition = policy.condition
    if condition is RestartCondition.NONE:
        return False
    if (condition is RestartCondition.ON_FAILURE or job) and (
        task.status.state == TaskState.COMPLETE
    ):
        return False
    if policy.max_attempts == 0:
        return True
    mine = [r for r in records if r.spec_version == task.spec_version]
    if policy.window > timedelta(0):
        stopped = task.status.timestamp if task.status.timestamp != EPOCH else now
        lookback = stopped - policy.window
        mine = [r for r in mine if lookback < r.at <= stopped]
    return len(mine) < policy.max_attempts


def decide_restarts(
    state: ClusterState, history: History, scope: Iterable[str] | None = None
) -> RestartPlan:
    actions: list[Action] = []
    records: list[RestartRecord] = []
    wake_at: datetime | None = None
    kinds = (object,)
    for service in state.services_of(kinds, scope):
        for t in state.tasks(service.id):
            if not is_active(t):
                continue
            if t.status.state == TaskState.NEW:
                due = t.status.timestamp + service.spec.task_template.restart_policy.delay
                if due <= state.now:
                    actions.append(
                        SetObservedState(t.id, TaskState.PENDING, "restart delay elapsed")
                    )
                elif wake_at is None or due < wake_at:
                    wake_at = due
                continue
            out = _handle(state, service, t, history)
            if out is not None:
                actions.extend(out[0])
                if out[1] is not None:
                    records.append(out[1])
    return RestartPlan(tuple(actions), wake_at, tuple(records))


def _handle(
    state: ClusterState, service: Service, t: Task, history: History
) -> tuple[list[Action], RestartRecord | None] | None:
    slotted = isinstance(service.spec.mode, SLOTTED)
    job = is_job(service)
    node = state.nodes.get(t.node_id) if t.node_id else None
    stopped = t.status.state.terminal
    if stopped and job and t.status.state == TaskState.COMPLETE:
        return None  # a job task that finished: success
    if not slotted:
        # Global: a task on a node that no longer qualifies is the global orchestrator's.
        constraints = service.spec.task_template.placement.constraints
        if node is None or node_gone(node) or not constraints_match(constraints, node):
            return None
    if slotted and not stopped and t.node_id and node_gone(node):
        replacement = new_task(service, now=state.now, slot=t.slot, job_iteration=t.job_iteration)
        return [
            SetDesiredState(t.id, TaskState.SHUTDOWN, "node unavailable"),
            CreateTask(replacement),
        ], None
    if not stopped:
        return None
    key = (service.id, instance_key(service, t))
    shutdown = SetDesiredState(t.id, TaskState.SHUTDOWN, "task stopped")
    if not should_restart(t, job, history.get(key, ()), state.now):
        return [shutdown], None
    delay = service.spec.task_template.restart_policy.delay
    if node is not None and node.spec.availability is NodeAvailability.DRAIN:
        delay = timedelta(0)  # as swarmkit: no delay when leaving a drained node
    delayed = delay > timedelta(0)
    replacement = new_task(
        service,
        now=state.now,
        slot=t.slot,
        node_id="" if slotted else t.node_id,
        state=TaskState.NEW if delayed else TaskState.PENDING,
        message="restart delayed" if delayed else "created",
        job_iteration=t.job_iteration,
    )
    record = RestartRecord(service.id, key[1], service.spec_version, state.now)
    return [shutdown, CreateTask(replacement)], record


def seed_history(state: ClusterState) -> dict[InstanceKey, tuple[RestartRecord, ...]]:
    """What the store still shows: every task of an instance after its first one, under the
    same spec version, counts as a restart made when it was created."""
    history: dict[InstanceKey, list[RestartRecord]] = {}
    for service in state.services_of((object,), None):
        seen: set[InstanceKey] = set()
        for t in sorted(state.tasks(service.id), key=task_order):
            key = (service.id, instance_key(service, t))
            if key not in seen:
                seen.add(key)
                continue
            record = RestartRecord(service.id, key[1], t.spec_version, t.meta.created_at)
            history.setdefault(key, []).append(record)
    return {k: tuple(v) for k, v in history.items()}


MAX_RECORDS = 100  # per instance; more than any sane max_attempts


class RestartSupervisor(ReconcileLoop):
    """Restarts stopped tasks per their restart policy; moves tasks off gone nodes."""

    name = "restart supervisor"

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, clock)
        self.history: dict[InstanceKey, tuple[RestartRecord, ...]] = {}

    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        obj = event.obj
        if isinstance(obj, Node):
            return None
        if isinstance(obj, Service):
            return (obj.id,)
        if isinstance(obj, Task):
            return (obj.service_id,)
        return ()

    def start_pass(self, state: ClusterState) -> None:
        self.history = seed_history(state)

    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        return decide_restarts(state, self.history, scope)

    def committed(self, plan: Plan, applied: list[Action]) -> None:
        if isinstance(plan, RestartPlan):
            record_restarts(self.history, plan.records)


def record_restarts(
    history: dict[InstanceKey, tuple[RestartRecord, ...]], records: Iterable[RestartRecord]
) -> None:
    for r in records:
        key = (r.service_id, r.instance)
        history[key] = (*history.get(key, ()), r)[-MAX_RECORDS:]
