"""A small command language over a local Store and the orchestrators, for golden tests.

Like tests/unit/raft/interaction.py: a script interleaves commands with their output:

    create-service web replicas=3
    ----
    ok

Commands (node ids are their names; service ids are their names):

    add-node NAME [k=v ...]          a READY, ACTIVE worker with these labels
    drain-node / pause-node / activate-node NAME
    node-down NAME / node-up NAME    what the dispatcher marks (Down / Ready)
    label-node NAME k=v|k=           set or remove a label
    remove-node NAME
    create-service NAME [mode=replicated|global|replicated-job|global-job] [replicas=N]
                   [restart=any|on-failure|none] [max-attempts=N] [delay=S] [window=S]
                   [constraint=EXPR] [total=N] [max-concurrent=N] [reserve-memory=B]
    scale NAME N / rm-service NAME / new-iteration NAME (a job's next run)
    history-limit N                  the cluster's task history limit
    fail-task NAME.SLOT|NAME.NODE|TASK-ID [exit=N]    the agent reports FAILED
    complete-task ... / shutdown-task ...             ... COMPLETE / SHUTDOWN
    run-tasks     the scheduler and the agents: PENDING tasks placed on the ready, active
                  node with the fewest tasks (name order on ties) and RUNNING; tasks told to
                  shut down on a ready node are SHUTDOWN
    tick SECONDS  advance the fake clock
    reconcile     every orchestrator in turn, until a round changes nothing; prints actions
    stabilize     reconcile + run-tasks until nothing moves (no ticks); prints nothing
    tasks [NAME]  the task table (ID, NAME, NODE, DESIRED, STATE)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from manager.orchestrator import (
    Action,
    ClusterState,
    CreateTask,
    DeleteTask,
    Plan,
    SetDesiredState,
    SetObservedState,
    apply_actions,
    decide_restarts,
    enforce_constraints,
    reap,
    reconcile_global,
    reconcile_jobs,
    reconcile_replicated,
    record_restarts,
)
from manager.orchestrator._common import constraints_match, is_active
from manager.orchestrator.restart import RestartPlan, RestartRecord
from manager.raft.clock import FakeClock
from manager.store import (
    Cluster,
    ClusterSpec,
    GlobalJob,
    GlobalService,
    JobStatus,
    Node,
    NodeAvailability,
    NodeDescription,
    NodeSpec,
    NodeState,
    NodeStatus,
    OrchestrationConfig,
    Placement,
    ReplicatedJob,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
    WriteTx,
)

T = TypeVar("T")


class CommandError(Exception):
    pass


START = 1_700_000_000.0  # the fake clock reads Unix time


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        ids = itertools.count(1)
        self.store = Store(clock=self.now, id_source=lambda: f"t{next(ids)}")
        self.history: dict[tuple[str, int | str], tuple[RestartRecord, ...]] = {}
        self.run_sync(lambda tx: tx.create(Cluster(id="cluster", spec=ClusterSpec())))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- store plumbing (LocalProposer applies at once: drive its coroutine by hand) ------------

    def run_sync(self, fn: Callable[[WriteTx], T]) -> T:
        coro = self.store.update(fn)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        raise AssertionError("a local store update suspended")

    def node(self, name: str) -> Node:
        node = self.store.view().get(Node, name)
        if node is None:
            raise CommandError(f"no node {name}")
        return node

    def service(self, name: str) -> Service:
        service = self.store.view().get(Service, name)
        if service is None:
            raise CommandError(f"no service {name}")
        return service

    def put(self, obj: Node | Service) -> None:
        self.run_sync(lambda tx: tx.update(obj))

    # -- commands --------------------------------------------------------------------------

    def run(self, line: str) -> str:
        cmd, *args = line.split()
        handler = getattr(self, "cmd_" + cmd.replace("-", "_"), None)
        if handler is None:
            raise CommandError(f"unknown command {cmd!r}")
        out: list[str] = handler(*args) or []
        return "\n".join(out) if out else "ok"

    def cmd_add_node(self, name: str, *labels: str) -> None:
        node = Node(
            id=name,
            spec=NodeSpec(name=name, labels=dict(kv(a) for a in labels)),
            description=NodeDescription(
                hostname=name, resources=Resources(nano_cpus=4 * 10**9, memory_bytes=8 << 30)
            ),
            status=NodeStatus(state=NodeState.READY),
        )
        self.run_sync(lambda tx: tx.create(node))

    def _availability(self, name: str, a: NodeAvailability) -> None:
        node = self.node(name)
        self.put(dataclasses.replace(node, spec=dataclasses.replace(node.spec, availability=a)))

    def cmd_drain_node(self, name: str) -> None:
        self._availability(name, NodeAvailability.DRAIN)

    def cmd_pause_node(self, name: str) -> None:
        self._availability(name, NodeAvailability.PAUSE)

    def cmd_activate_node(self, name: str) -> None:
        self._availability(name, NodeAvailability.ACTIVE)

    def _node_state(self, name: str, state: NodeState) -> None:
        node = self.node(name)
        self.put(dataclasses.replace(node, status=NodeStatus(state=state)))

    def cmd_node_down(self, name: str) -> None:
        self._node_state(name, NodeState.DOWN)

    def cmd_node_up(self, name: str) -> None:
        self._node_state(name, NodeState.READY)

    def cmd_label_node(self, name: str, *labels: str) -> None:
        node = self.node(name)
        new = dict(node.spec.labels)
        for k, v in (kv(a) for a in labels):
            if v:
                new[k] = v
            else:
                new.pop(k, None)
        self.put(dataclasses.replace(node, spec=dataclasses.replace(node.spec, labels=new)))

    def cmd_remove_node(self, name: str) -> None:
        self.run_sync(lambda tx: tx.delete(Node, name))

    def cmd_create_service(self, name: str, *opts: str) -> None:
        o = dict(kv(a) for a in opts)
        kind = o.pop("mode", "replicated")
        mode: ServiceMode
        if kind == "replicated":
            mode = ReplicatedService(replicas=int(o.pop("replicas", "1")))
        elif kind == "global":
            mode = GlobalService()
        elif kind == "replicated-job":
            mode = ReplicatedJob(
                max_concurrent=int(o.pop("max-concurrent", "1")),
                total_completions=int(o.pop("total", "1")),
            )
        elif kind == "global-job":
            mode = GlobalJob()
        else:
            raise CommandError(f"unknown mode {kind}")
        policy = RestartPolicy(
            condition=RestartCondition(o.pop("restart", "any")),
            delay=timedelta(seconds=float(o.pop("delay", "5"))),
            max_attempts=int(o.pop("max-attempts", "0")),
            window=timedelta(seconds=float(o.pop("window", "0"))),
        )
        constraint = o.pop("constraint", "")
        memory = int(o.pop("reserve-memory", "0"))
        if o:
            raise CommandError(f"unknown options {sorted(o)}")
        template = TaskSpec(
            restart_policy=policy,
            placement=Placement(constraints=(constraint,) if constraint else ()),
            resources=ResourceRequirements(reservations=Resources(memory_bytes=memory)),
        )
        service = Service(
            id=name,
            spec=ServiceSpec(name=name, task_template=template, mode=mode),
            spec_version=1,
            job_status=JobStatus() if kind.endswith("job") else None,
        )
        self.run_sync(lambda tx: tx.create(service))

    def cmd_scale(self, name: str, replicas: str) -> None:
        s = self.service(name)
        spec = dataclasses.replace(s.spec, mode=ReplicatedService(int(replicas)))
        self.put(dataclasses.replace(s, spec=spec, spec_version=s.spec_version + 1))

    def cmd_new_iteration(self, name: str) -> None:
        s = self.service(name)
        status = JobStatus(job_iteration=(s.job_status or JobStatus()).job_iteration + 1)
        self.put(dataclasses.replace(s, job_status=status, spec_version=s.spec_version + 1))

    def cmd_rm_service(self, name: str) -> None:
        self.run_sync(lambda tx: tx.delete(Service, name))

    def cmd_history_limit(self, limit: str) -> None:
        c = self.store.view().cluster()
        assert c is not None
        orch = OrchestrationConfig(task_history_retention_limit=int(limit))
        spec = dataclasses.replace(c.spec, orchestration=orch)
        self.run_sync(lambda tx: tx.update(dataclasses.replace(c, spec=spec)))

    def cmd_tick(self, seconds: str) -> None:
        self.clock.advance(float(seconds))

    def _find_task(self, ref: str) -> Task:
        view = self.store.view()
        by_id = view.get(Task, ref)
        if by_id is not None:
            return by_id
        live = [
            t
            for t in view.all(Task)
            if t.name == ref and is_active(t) and not t.status.state.terminal
        ]
        if len(live) != 1:
            raise CommandError(f"{len(live)} live tasks named {ref}")
        return live[0]

    def _report(self, ref: str, state: TaskState, err: str = "") -> None:
        t = self._find_task(ref)
        status = dataclasses.replace(t.status, state=state, err=err, timestamp=self.now())
        self.run_sync(lambda tx: tx.update(dataclasses.replace(t, status=status)))

    def cmd_fail_task(self, ref: str, *opts: str) -> None:
        code = dict(kv(a) for a in opts).get("exit", "1")
        self._report(ref, TaskState.FAILED, f"task: non-zero exit ({code})")

    def cmd_complete_task(self, ref: str) -> None:
        self._report(ref, TaskState.COMPLETE)

    def cmd_shutdown_task(self, ref: str) -> None:
        self._report(ref, TaskState.SHUTDOWN)

    def cmd_run_tasks(self) -> list[str]:
        return self.run_sync(self._run_tasks)

    def _run_tasks(self, tx: WriteTx) -> list[str]:
        out: list[str] = []
        nodes = {n.id: n for n in tx.all(Node)}
        load = {
            n: sum(1 for t in tx.tasks_by_node(n) if is_active(t) and not t.status.state.terminal)
            for n in nodes
        }
        for t in sorted(tx.all(Task), key=lambda t: int(t.id[1:])):
            node = nodes.get(t.node_id)
            ready = node is not None and node.status.state is NodeState.READY
            if t.desired_state > TaskState.COMPLETE:
                if TaskState.ASSIGNED <= t.status.state <= TaskState.RUNNING and ready:
                    out.append(f"{label(t)} SHUTDOWN")
                    self._set(tx, t, TaskState.SHUTDOWN, t.node_id)
                continue
            if t.status.state == TaskState.PENDING and not t.node_id:
                fits = [
                    n
                    for n in nodes.values()
                    if n.status.state is NodeState.READY
                    and n.spec.availability is NodeAvailability.ACTIVE
                    and constraints_match(t.spec.placement.constraints, n)
                ]
                if not fits:
                    continue
                best = min(fits, key=lambda n: (load[n.id], n.id))
                load[best.id] += 1
                out.append(f"{label(t)} -> {best.id} RUNNING")
                self._set(tx, t, TaskState.RUNNING, best.id)
            elif TaskState.PENDING <= t.status.state < TaskState.RUNNING and ready:
                out.append(f"{label(t)} on {t.node_id} RUNNING")
                self._set(tx, t, TaskState.RUNNING, t.node_id)
        return out

    def _set(self, tx: WriteTx, t: Task, state: TaskState, node_id: str) -> None:
        status = dataclasses.replace(t.status, state=state, timestamp=self.now(), message="")
        tx.update(dataclasses.replace(t, status=status, node_id=node_id))

    def reconcilers(self) -> list[tuple[str, Callable[[ClusterState], Plan]]]:
        return [
            ("constraint-enforcer", lambda s: enforce_constraints(s)),
            ("restart", lambda s: decide_restarts(s, self.history)),
            ("replicated", lambda s: reconcile_replicated(s)),
            ("global", lambda s: reconcile_global(s)),
            ("jobs", lambda s: reconcile_jobs(s)),
            ("task-reaper", lambda s: reap(s)),
        ]

    def cmd_reconcile(self) -> list[str]:
        out: list[str] = []
        for _ in range(20):
            changed = False
            for name, decide in self.reconcilers():
                state = ClusterState.from_view(self.store.view(), self.now())
                before = {t.id: t for t in self.store.view().all(Task)}
                plan = decide(state)
                applied = self.run_sync(partial(_apply, plan.actions, state.now))
                if isinstance(plan, RestartPlan):
                    record_restarts(self.history, plan.records)
                for a in applied:
                    out.append(f"{name}: {describe(a, before)}")
                changed = changed or bool(applied)
            if not changed:
                return out
        raise CommandError("reconcile did not settle in 20 rounds")

    def cmd_stabilize(self) -> list[str]:
        for _ in range(50):
            if not self.cmd_reconcile() and not self.cmd_run_tasks():
                return []
        raise CommandError("did not stabilize in 50 rounds")

    def cmd_tasks(self, *names: str) -> list[str]:
        tasks = [t for t in self.store.view().all(Task) if not names or t.service_id in names]
        tasks.sort(
            key=lambda t: (t.service_id, t.slot, t.node_id if not t.slot else "", int(t.id[1:]))
        )
        rows = [("ID", "NAME", "NODE", "DESIRED", "STATE")]
        for t in tasks:
            state = t.status.state.name
            if t.status.err:
                state += f' "{t.status.err}"'
            rows.append((t.id, t.name, t.node_id or "-", t.desired_state.name, state))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return [
            "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
            for r in rows
        ]


def _apply(actions: tuple[Action, ...], now: datetime, tx: WriteTx) -> list[Action]:
    return apply_actions(tx, actions, now)


def kv(arg: str) -> tuple[str, str]:
    key, sep, value = arg.partition("=")
    if not sep:
        raise CommandError(f"expected key=value, got {arg!r}")
    return key, value


def label(t: Task) -> str:
    return f"{t.name}.{t.id}"


def describe(a: Action, before: dict[str, Task]) -> str:
    if isinstance(a, CreateTask):
        t = a.task
        where = f" on {t.node_id}" if t.node_id else ""
        return f"create {label(t)}{where} {t.status.state.name} ({t.status.message})"
    t = before[a.task_id]
    if isinstance(a, SetDesiredState):
        return f"{label(t)} desired {a.desired.name} ({a.reason})"
    if isinstance(a, SetObservedState):
        return f"{label(t)} {a.state.name} ({a.message})"
    assert isinstance(a, DeleteTask)
    return f"delete {label(t)}"


def run_script(text: str) -> str:
    env = Env()
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        if i >= len(lines) or lines[i] != "----":
            raise CommandError(f"line {i}: expected ---- after the command {line!r}")
        i += 1
        while i < len(lines) and lines[i].strip():
            i += 1
        out += [line, "----", env.run(line)]
    return "\n".join(out) + "\n"
