"""One task controller per task: runs the steps of `worker.taskstate` against an executor's
controller and reports every state change.

    update(task) ──▶ desired state ──┐
                                     ▼
    run():  decide(state, desired) ─▶ step ─▶ executor call ─▶ outcome ─▶ report(TaskReport)
               ▲                                  │ cancelled when the desired state
               └──────────────────────────────────┘ changes the step (e.g. wait -> shutdown)

The observed state never moves backwards. Temporary errors (engine unreachable) are retried
with a backoff on the clock. Re-running from any stored state is safe: the executor answers
"already prepared/started" for an existing container and `wait` follows it to its exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from manager.raft.clock import Clock
from manager.store import ContainerStatus, Task, TaskState, TaskStatus
from worker.executor.base import ContainerState, Controller, ExecutorError
from worker.taskstate import Step, Transition, decide, outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskReport:
    """A status to send to the dispatcher. `healthy` is None for a container without a health
    check, else whether it passed its last one (a RUNNING task with a health check was healthy
    when it was reported RUNNING)."""

    task_id: str
    status: TaskStatus
    healthy: bool | None = None


Reporter = Callable[[TaskReport], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TaskController:
    def __init__(
        self,
        task: Task,
        controller: Controller,
        *,
        report: Reporter,
        clock: Clock,
        node_id: str = "",
        now: Callable[[], datetime] = _utcnow,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._task = task
        self._ctlr = controller
        self._report = report
        self._clock = clock
        self._node_id = node_id or task.node_id
        self._now = now
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._wake = asyncio.Event()
        self._op: asyncio.Future[Transition] | None = None
        self._step = Step.NOOP
        self._container: ContainerState | None = None

    @property
    def task(self) -> Task:
        """The task with the status this controller observed last."""
        return self._task

    @property
    def status(self) -> TaskStatus:
        return self._task.status

    def update(self, task: Task) -> None:
        """A newer copy of the task from the manager: take its desired state (and a status
        further along than ours, never one behind it)."""
        if task.id != self._task.id:
            raise ValueError(f"task {task.id} given to the controller of {self._task.id}")
        status = task.status if task.status.state > self.status.state else self.status
        self._task = replace(task, status=status)
        if self._op is not None and decide(status.state, task.desired_state) != self._step:
            self._op.cancel()  # e.g. shutdown requested while waiting on the container
        self._wake.set()

    async def run(self) -> None:
        """Drive the task until it reaches a terminal state."""
        delay = self._retry_initial
        while True:
            self._wake.clear()
            step = decide(self.status.state, self._task.desired_state)
            if step is Step.NOOP:
                if self.status.state.terminal:
                    return
                await self._wake.wait()
                continue
            transition = await self._run_step(step)
            if transition is None:
                continue  # cancelled by a change of desired state: decide again
            await self._apply(transition)
            if transition.retry:
                await self._sleep_or_wake(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                delay = self._retry_initial

    async def container(self) -> ContainerState | None:
        """The task's container as the engine reports it now (None: none, or no answer)."""
        try:
            return await self._ctlr.inspect()
        except (ExecutorError, OSError):
            return None

    async def remove(self) -> None:
        """The manager removed the task: stop it if it still runs, remove its container."""
        if not self.status.state.terminal:
            with contextlib.suppress(ExecutorError):
                await self._ctlr.shutdown()
        await self._ctlr.remove()

    # -- internals -----------------------------------------------------------------------------

    async def _run_step(self, step: Step) -> Transition | None:
        self._step = step
        op = asyncio.ensure_future(self._execute(step))
        self._op = op
        try:
            await asyncio.wait({op})
        finally:
            self._op = None
            self._step = Step.NOOP
            if not op.done():
                op.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await op
        if op.cancelled():
            return None
        return op.result()

    async def _execute(self, step: Step) -> Transition:
        error: Exception | None = None
        try:
            if step is Step.PREPARE:
                await self._ctlr.prepare()
            elif step is Step.START:
                await self._ctlr.start()
            elif step is Step.WAIT:
                await self._ctlr.wait()
            elif step is Step.SHUTDOWN:
                await self._ctlr.shutdown()
        except ExecutorError as exc:
            error = exc
        except OSError as exc:  # the engine's socket
            error = exc
        return outcome(step, self.status.state, self.status.message, error)

    async def _apply(self, transition: Transition) -> None:
        old = self.status
        if transition.state < old.state:  # pragma: no cover - outcome() never goes back
            raise AssertionError(f"task {self._task.id}: {old.state.name} -> backwards")
        container = await self._inspect()
        exit_code = transition.exit_code
        if exit_code is None and container is not None and transition.state.terminal:
            exit_code = container.exit_code
        status = TaskStatus(
            state=transition.state,
            timestamp=self._now(),
            message=transition.message,
            err=transition.err,
            container=_container_status(container, exit_code, old.container),
            port_status=old.port_status,
            applied_by=self._node_id,
        )
        unchanged = (status.state, status.message, status.err) == (old.state, old.message, old.err)
        self._task = replace(self._task, status=status)
        if unchanged and transition.retry:
            return  # the same temporary error again: nothing new to tell
        if transition.err:
            log.info(
                "task %s: %s (%s)",
                self._task.id,
                transition.state.name,
                transition.err,
                extra={"task_id": self._task.id, "service_id": self._task.service_id},
            )
        healthy = container.healthy if container is not None else None
        await self._report(TaskReport(self._task.id, status, healthy))

    async def _inspect(self) -> ContainerState | None:
        try:
            state = await self._ctlr.inspect()
        except (ExecutorError, OSError):
            return self._container
        if state is not None:
            self._container = state
        return self._container

    async def _sleep_or_wake(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, waker):
                fut.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fut


def _container_status(
    state: ContainerState | None, exit_code: int | None, previous: ContainerStatus | None
) -> ContainerStatus | None:
    if state is None:
        if previous is None or exit_code is None:
            return previous
        return replace(previous, exit_code=exit_code)
    return ContainerStatus(
        container_id=state.container_id,
        pid=state.pid,
        exit_code=state.exit_code if exit_code is None else exit_code,
    )


__all__ = ["Reporter", "TaskController", "TaskReport", "TaskState"]
