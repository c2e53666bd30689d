"""The agent's task manager: assignments in, one TaskController per task, status reports out.

    Assignments stream ──▶ apply(batch)
        COMPLETE     the whole set: tasks not in it are shut down and their containers removed;
                     a local status ahead of the manager's is reported again (reconnect)
        INCREMENTAL  task update ─▶ new controller, or controller.update (desired state)
                     task remove ─▶ controller.remove() (stop, remove the container)
                     secret/config ─▶ MemoryDependencies (memory only, never on disk)
        network views (COMPLETE replaces, INCREMENTAL updates/removes) ─▶ the whole set to
                     networks.set_networks, awaited before the batch's tasks are touched, so
                     a container is attached only to networks its node has set up; when it
                     fails, the next batch tries again, and so does a timer (1 s, doubling up
                     to 30 s) with the views held then, for a quiet cluster sends no batch
    TaskController.report ─▶ TaskDB.save(task) ─▶ pending ─▶ UpdateTaskStatus (batched)

Tasks are kept in `<data-dir>/worker/tasks/<task id>` (the store codec), written before a
container exists and after every state change, so an agent restarted without a manager resumes
every task from its saved state: the executor finds the container by name and `wait` follows it.
A resumed task whose container still runs is attached again (its networks, the gateway bridge)
once the first views are set (attach is idempotent; a resumed task not started yet attaches
when it starts).
The network agent is started with the first views (a node on no network never starts it) and
closed when run() ends. `session(stub)` runs while the agent's heartbeat session with the
leader is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import grpc

from manager.dispatcher import wire
from manager.dispatcher.assignments import AssignmentBatch, AssignmentChange, ChangeAction
from manager.dispatcher.networks import NetworkView
from manager.dispatcher.status import StatusUpdate, newer
from manager.raft.clock import Clock
from manager.store import CodecError, Config, Secret, Task, TaskStatus, codec
from proto import dispatcher_pb2
from worker.controller import TaskController, TaskReport
from worker.executor.base import Executor, ExecutorError, MemoryDependencies
from worker.networks import NodeNetworks, NoNetworks, executor_hooks

log = logging.getLogger(__name__)

MAX_REPORTS = 500  # task statuses per UpdateTaskStatus call
NETWORKS_RETRY_INITIAL = 1.0  # seconds after a failed set_networks before trying again
NETWORKS_RETRY_MAX = 30.0


class DispatcherCalls(Protocol):
    """The part of the generated DispatcherStub the task manager uses."""

    def Assignments(
        self, request: dispatcher_pb2.AssignmentsRequest
    ) -> AsyncIterator[dispatcher_pb2.AssignmentsMessage]: ...

    def UpdateTaskStatus(
        self, request: dispatcher_pb2.UpdateTaskStatusRequest, *, timeout: float
    ) -> Awaitable[dispatcher_pb2.UpdateTaskStatusResponse]: ...


class StreamGap(Exception):
    """An INCREMENTAL message that does not follow the last one: reconnect for a full set."""


class TaskDB:
    """The node's assigned tasks on disk, one file per task (store codec)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self) -> dict[str, Task]:
        tasks: dict[str, Task] = {}
        if not self.root.is_dir():
            return tasks
        for path in sorted(self.root.iterdir()):
            if path.name.startswith("."):
                continue
            try:
                task = codec.decode_object(Task, path.read_bytes())
            except (CodecError, OSError) as e:
                log.warning("ignoring the unreadable task file %s: %s", path, e)
                continue
            tasks[task.id] = task
        return tasks

    def save(self, task: Task) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{task.id}.")
        try:
            os.write(fd, codec.encode_object(task))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.root / task.id)

    def delete(self, task_id: str) -> None:
        (self.root / task_id).unlink(missing_ok=True)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TaskManager:
    def __init__(
        self,
        *,
        node_id: str,
        executor: Executor,
        dependencies: MemoryDependencies,
        db: TaskDB,
        clock: Clock,
        now: Callable[[], datetime] = _utcnow,
        rpc_timeout: float = 10.0,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        close: Callable[[], Awaitable[None]] | None = None,
        networks: NodeNetworks | None = None,
    ) -> None:
        self._node_id = node_id
        self._executor = executor
        self._deps = dependencies
        self._db = db
        self._clock = clock
        self._now = now
        self._rpc_timeout = rpc_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._close = close
        self._networks: NodeNetworks = networks if networks is not None else NoNetworks()
        self._views: dict[str, NetworkView] = {}
        self._networks_started = False
        self._networks_failed = False  # the last set_networks failed: to be tried again
        self._networks_lock = asyncio.Lock()  # one set_networks at a time (batch or retry)
        self._networks_retry: asyncio.Task[None] | None = None
        self._reattach: set[str] = set()  # resumed tasks to attach again once views are set
        self._ctlrs: dict[str, TaskController] = {}
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, TaskStatus] = {}  # reports not yet acknowledged
        self._report_wake = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self._sequence = 0  # the last assignment message applied in this stream

    # -- what tests and the agent read -----------------------------------------------------

    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks this node holds, with the status observed last."""
        return {task_id: ctlr.task for task_id, ctlr in self._ctlrs.items()}

    @property
    def pending_reports(self) -> dict[str, TaskStatus]:
        return dict(self._pending)

    @property
    def networks(self) -> dict[str, NetworkView]:
        """The network views this node holds, by network id."""
        return dict(self._views)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Resume the saved tasks, then run controllers until stop(). Containers keep running
        when this stops: only the manager's assignments remove them."""
        self._stopping.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for task in self._db.load().values():
                    if not task.status.state.terminal:  # every task has the gateway bridge
                        self._reattach.add(task.id)
                    self._start(task)
                await self._stopping.wait()
                for run in self._runs.values():
                    run.cancel()
                self._cancel_networks_retry()
        finally:
            self._tg = None
            self._networks_retry = None
            self._runs.clear()
            self._ctlrs.clear()
            self._reattach.clear()
            await self._close_networks()
            if self._close is not None:
                await self._close()

    async def stop(self) -> None:
        self._stopping.set()

    # -- assignments -----------------------------------------------------------------------

    async def apply(self, batch: AssignmentBatch) -> None:
        """Apply one message of the assignment stream (raises StreamGap if one is missing):
        dependencies and network views first, then the tasks."""
        if not batch.complete and batch.sequence != self._sequence + 1:
            raise StreamGap(f"assignment {batch.sequence} after {self._sequence}")
        self._sequence = batch.sequence
        if batch.complete:
            self._deps.secrets.clear()
            self._deps.configs.clear()
        views = {} if batch.complete else dict(self._views)
        networks_changed = batch.complete or self._networks_failed
        task_changes: list[AssignmentChange] = []
        for change in batch.changes:
            obj, remove = change.obj, change.action is ChangeAction.REMOVE
            if isinstance(obj, NetworkView):
                networks_changed = True
                if remove:
                    views.pop(obj.id, None)
                else:
                    views[obj.id] = obj
            elif isinstance(obj, Secret):
                if remove:
                    self._deps.secrets.pop(obj.id, None)
                else:
                    self._deps.secrets[obj.id] = obj.spec.data
            elif isinstance(obj, Config):
                if remove:
                    self._deps.configs.pop(obj.id, None)
                else:
                    self._deps.configs[obj.id] = obj.spec.data
            else:
                task_changes.append(change)
        if networks_changed:
            await self._apply_networks(views)
        assigned: set[str] = set()
        for change in task_changes:
            task = change.obj
            assert isinstance(task, Task)
            if change.action is ChangeAction.REMOVE:
                self._remove(task.id)
            else:
                assigned.add(task.id)
                self._assign(task, reconcile=batch.complete)
        if batch.complete:
            for task_id in [t for t in self._ctlrs if t not in assigned]:
                self._remove(task_id)

    # -- networks --------------------------------------------------------------------------

    async def _apply_networks(self, views: dict[str, NetworkView]) -> None:
        """A batch's views: they replace any retry under way (its views are older); when
        setting them fails, a new retry starts."""
        async with self._networks_lock:  # a retry is not inside set_networks: safe to cancel
            self._cancel_networks_retry()
            await self._set_networks(views)
            if self._networks_failed and self._tg is not None:
                self._networks_retry = self._tg.create_task(self._retry_networks())

    async def _retry_networks(self) -> None:
        """Set the views held now again after a failure, with backoff, until it works (or a
        batch's views take over): a quiet cluster may send no batch for a long time, and the
        tasks on those networks wait for them."""
        delay = NETWORKS_RETRY_INITIAL
        while True:
            await self._clock.sleep(delay)
            async with self._networks_lock:
                if not self._networks_failed:
                    return
                await self._set_networks(self._views)
                if not self._networks_failed:
                    return
            delay = min(delay * 2, NETWORKS_RETRY_MAX)

    def _cancel_networks_retry(self) -> None:
        if self._networks_retry is not None:
            self._networks_retry.cancel()
            self._networks_retry = None

    async def _set_networks(self, views: dict[str, NetworkView]) -> None:
        """Hand the complete set of views to the network agent (started with the first
        non-empty set, or the first set after resuming tasks); then attach the resumed tasks
        that still wait for it."""
        self._views = views
        if not views and not self._networks_started and not self._reattach:
            self._networks_failed = False
            return  # nothing was ever set up: nothing to do or undo
        try:
            if not self._networks_started:
                await self._networks.start()
                self._networks_started = True
            await self._networks.set_networks(views)
        except Exception as e:  # the agent's kernel and nft errors; retried (_retry_networks)
            self._networks_failed = True
            log.warning("setting up the node's networks failed: %s", e)
            return
        self._networks_failed = False
        await self._attach_resumed()

    async def _attach_resumed(self) -> None:
        """Attach the tasks resumed from disk whose containers kept running (the agent has
        their views only now); one that has not started yet attaches when it starts."""
        for task_id in sorted(self._reattach):
            ctlr = self._ctlrs.get(task_id)
            container = None
            if ctlr is not None and not ctlr.status.state.terminal:
                container = await ctlr.container()
            if ctlr is not None and container is not None and container.running:
                try:
                    await self._networks.attach(ctlr.task, container.pid)
                except Exception as e:  # kept: the next views try again
                    log.warning(
                        "attaching resumed task %s to its networks failed: %s",
                        task_id,
                        e,
                        extra={"task_id": task_id},
                    )
                    continue
            self._reattach.discard(task_id)

    async def _close_networks(self) -> None:
        if not self._networks_started:
            return
        self._networks_started = False
        try:
            await self._networks.close()
        except Exception as e:  # stopping anyway
            log.warning("closing the node's network agent failed: %s", e)

    # -- tasks -----------------------------------------------------------------------------

    def _assign(self, task: Task, *, reconcile: bool) -> None:
        ctlr = self._ctlrs.get(task.id)
        if ctlr is None:
            self._db.save(task)  # before any container exists for it
            self._start(task)
            return
        local = ctlr.status
        ctlr.update(task)
        self._db.save(ctlr.task)
        if reconcile and newer(task.status, local):
            self._queue_report(task.id, local)  # the manager missed it (outage, restart)

    def _start(self, task: Task) -> None:
        assert self._tg is not None, "TaskManager.run() is not running"
        ctlr = TaskController(
            task,
            self._executor.controller(task),
            report=self._report,
            clock=self._clock,
            node_id=self._node_id,
            now=self._now,
        )
        self._ctlrs[task.id] = ctlr
        self._runs[task.id] = self._tg.create_task(self._drive(ctlr))

    async def _drive(self, ctlr: TaskController) -> None:
        try:
            await ctlr.run()
        except Exception:  # a bug in a step must not take the other tasks down
            log.exception("task controller failed", extra={"task_id": ctlr.task.id})

    def _remove(self, task_id: str) -> None:
        ctlr = self._ctlrs.pop(task_id, None)
        run = self._runs.pop(task_id, None)
        self._pending.pop(task_id, None)
        if run is not None:
            run.cancel()
        if ctlr is not None and self._tg is not None:
            self._tg.create_task(self._dispose(ctlr, run))
        else:
            self._db.delete(task_id)

    async def _dispose(self, ctlr: TaskController, run: asyncio.Task[None] | None) -> None:
        if run is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await run
        try:
            await ctlr.remove()
        except (ExecutorError, OSError) as e:
            # The file stays: the next COMPLETE set that lacks it tries again.
            log.warning("removing task %s failed: %s", ctlr.task.id, e)
            return
        self._db.delete(ctlr.task.id)

    # -- status reports --------------------------------------------------------------------

    async def _report(self, report: TaskReport) -> None:
        ctlr = self._ctlrs.get(report.task_id)
        if ctlr is None:
            return  # removed meanwhile
        self._db.save(ctlr.task)
        self._queue_report(report.task_id, report.status)

    def _queue_report(self, task_id: str, status: TaskStatus) -> None:
        held = self._pending.get(task_id)
        if held is None or status.state >= held.state:
            self._pending[task_id] = status
            self._report_wake.set()

    def take_reports(self) -> list[StatusUpdate]:
        """Up to MAX_REPORTS pending reports (the rest go in the next call)."""
        items = list(self._pending.items())[:MAX_REPORTS]
        return [StatusUpdate(task_id, status) for task_id, status in items]

    def acknowledge(self, sent: Sequence[StatusUpdate]) -> None:
        for u in sent:
            if self._pending.get(u.task_id) == u.status:  # not replaced by a newer one
                del self._pending[u.task_id]

    # -- the session with the leader -------------------------------------------------------

    async def session(self, stub: DispatcherCalls) -> None:
        """Assignments and status reports over `stub` until cancelled; retries with backoff."""
        delay = self._retry_initial
        while True:
            try:
                await self._one_session(stub)
            except (grpc.RpcError, OSError, TimeoutError, StreamGap, CodecError) as e:
                log.warning("assignment session failed: %s", _describe(e))
            await self._clock.sleep(delay)
            delay = min(delay * 2, self._retry_max)

    async def _one_session(self, stub: DispatcherCalls) -> None:
        self._sequence = 0
        synced = asyncio.Event()  # the first (complete) set is applied: reports may go
        reader = asyncio.ensure_future(self._read(stub, synced))
        reporter = asyncio.ensure_future(self._report_loop(stub, synced))
        try:
            done, _ = await asyncio.wait({reader, reporter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (reader, reporter):
                t.cancel()
            await asyncio.gather(reader, reporter, return_exceptions=True)
        for t in done:
            t.result()  # the failure, if any
        raise ConnectionError("the manager ended the assignment stream")

    async def _read(self, stub: DispatcherCalls, synced: asyncio.Event) -> None:
        stream = stub.Assignments(dispatcher_pb2.AssignmentsRequest(node_id=self._node_id))
        try:
            async for message in stream:
                await self.apply(wire.decode_assignments(message))
                synced.set()
        finally:
            cancel = getattr(stream, "cancel", None)
            if callable(cancel):
                cancel()

    async def _report_loop(self, stub: DispatcherCalls, synced: asyncio.Event) -> None:
        await synced.wait()
        while True:
            while not self._pending:
                self._report_wake.clear()
                await self._report_wake.wait()
            batch = self.take_reports()  # what piles up during a call goes in the next one
            await stub.UpdateTaskStatus(
                wire.status_request(self._node_id, batch), timeout=self._rpc_timeout
            )
            self.acknowledge(batch)


def _describe(e: BaseException) -> str:
    if isinstance(e, grpc.aio.AioRpcError):
        return f"{e.code()}: {e.details()}"
    return str(e) or type(e).__name__


def docker_task_manager(
    *,
    node_id: str,
    engine_socket: str,
    data_dir: Path,
    hostname: str,
    clock: Clock,
    networks: NodeNetworks | None = None,
    network_retry: tuple[type[Exception], ...] = (),
) -> TaskManager:
    """The production task manager: containers on the engine at `engine_socket` (a path or a
    unix:// URL), tasks saved under `<data_dir>/worker/tasks`, secrets on the tmpfs at
    `<data_dir>/secrets`, joined to the overlay by `networks` (the node's NetworkAgent; none:
    network mode none). An attach error of a `network_retry` type retries the task's start.
    Call from a running event loop (the engine client needs one)."""
    import aiodocker  # the engine client; imported where it is used

    from worker.executor.docker import DockerExecutor
    from worker.secrets import SecretFiles

    url = engine_socket if "://" in engine_socket else f"unix://{engine_socket}"
    docker = aiodocker.Docker(url=url)
    deps = MemoryDependencies()
    nets = networks if networks is not None else NoNetworks()
    attach, detach = executor_hooks(nets, retry=network_retry)
    executor = DockerExecutor(
        docker,
        node_id=node_id,
        secrets=SecretFiles(data_dir / "secrets", deps),
        attach_networks=attach,
        detach_networks=detach,
        node_hostname=hostname,
    )
    return TaskManager(
        node_id=node_id,
        executor=executor,
        dependencies=deps,
        db=TaskDB(data_dir / "worker" / "tasks"),
        clock=clock,
        close=docker.close,
        networks=nets,
    )
