"""The executor protocols a task controller drives, the errors they raise, and a fake.

    Executor.controller(task) -> Controller            one per task, like swarmkit's exec
    Controller.prepare()   pull if missing, write secrets, create the container
    Controller.start()     start it; returns once running (and healthy, with a health check)
    Controller.wait()      until it exits: 0 returns, else ExitError / UnhealthyError
    Controller.shutdown()  stop signal, SIGKILL after the stop grace period
    Controller.terminate() SIGKILL now
    Controller.remove()    shutdown, then remove the container and the task's secret files
    Controller.inspect()   ContainerState | None

`prepare` and `start` are re-entrant: on an existing container they raise `TaskPrepared` /
`TaskStarted`, which the state machine treats as success; that is how an agent restart resumes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from manager.store import Task


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the engine reports about a task's container."""

    container_id: str = ""
    status: str = ""  # created, running, exited, dead, ...
    pid: int = 0
    exit_code: int = 0
    health: str = ""  # "" (no health check), starting, healthy, unhealthy
    error: str = ""  # the engine's State.Error, if any

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting", "paused")

    @property
    def healthy(self) -> bool | None:
        """None without a health check; otherwise whether the last check passed."""
        if not self.health or self.health == "none":
            return None
        return self.health == "healthy"


# -- errors ------------------------------------------------------------------------------------


class ExecutorError(Exception):
    """A failure the task reports in its `err` field; the message is what `service ps` shows."""


class TaskPrepared(ExecutorError):
    def __init__(self) -> None:
        super().__init__("task already prepared")


class TaskStarted(ExecutorError):
    def __init__(self) -> None:
        super().__init__("task already started")


class TemporaryError(ExecutorError):
    """The engine could not be reached or was busy: retried later, the task stays where it is."""


class ImageNotFound(ExecutorError):
    def __init__(self, image: str, detail: str = "") -> None:
        self.image = image
        super().__init__(detail or f"No such image: {image}")


class DependencyNotFound(ExecutorError):
    """A secret or config the task references was not sent with the assignment."""


class ExitError(ExecutorError):
    """The container exited with a non-zero code."""

    def __init__(self, exit_code: int, cause: str = "") -> None:
        self.exit_code = exit_code
        self.cause = cause
        msg = f"task: non-zero exit ({exit_code})"
        super().__init__(f"{msg}: {cause}" if cause else msg)


class UnhealthyError(ExitError):
    """The health check failed `retries` times: the container was stopped."""

    def __init__(self, exit_code: int = 0) -> None:
        ExecutorError.__init__(self, "task: unhealthy container")
        self.exit_code = exit_code
        self.cause = "unhealthy container"


# -- protocols ---------------------------------------------------------------------------------


class Controller(Protocol):
    async def prepare(self) -> None: ...

    async def start(self) -> None: ...

    async def wait(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def terminate(self) -> None: ...

    async def remove(self) -> None: ...

    async def inspect(self) -> ContainerState | None: ...


class Executor(Protocol):
    def controller(self, task: Task) -> Controller: ...

    async def task_containers(self) -> dict[str, ContainerState]:
        """Containers this node runs for shoal tasks, by task id (found by label)."""
        ...


class Dependencies(Protocol):
    """The secret and config payloads the assignments carried, by id."""

    def secret(self, secret_id: str) -> bytes | None: ...

    def config(self, config_id: str) -> bytes | None: ...


@dataclass(slots=True)
class MemoryDependencies:
    """Secrets and configs held in memory (never on disk), filled by the agent."""

    secrets: dict[str, bytes] = field(default_factory=dict)
    configs: dict[str, bytes] = field(default_factory=dict)

    def secret(self, secret_id: str) -> bytes | None:
        return self.secrets.get(secret_id)

    def config(self, config_id: str) -> bytes | None:
        return self.configs.get(config_id)


# -- fake --------------------------------------------------------------------------------------


@dataclass(slots=True)
class FakeBehaviour:
    """How a fake task's container behaves; tests change it as the scenario goes on."""

    prepare_error: ExecutorError | None = None
    start_error: ExecutorError | None = None
    exists: bool = False  # a container is already there (agent restart)
    running: bool = False  # ... and it is running
    exit_code: int | None = None  # set to make `wait` return (0) or raise (non-zero)
    unhealthy: bool = False  # make `wait` raise UnhealthyError
    healthy: bool | None = None


class FakeController:
    """Records every call in `FakeExecutor.calls` as (task_id, op); behaves per FakeBehaviour."""

    def __init__(self, executor: FakeExecutor, task: Task) -> None:
        self._executor = executor
        self.task = task
        self.behaviour = executor.behaviours.setdefault(task.id, FakeBehaviour())
        self._exited = asyncio.Event()

    def _record(self, op: str) -> None:
        self._executor.calls.append((self.task.id, op))

    def exit(self, code: int = 0) -> None:
        """Make the container exit now with `code` (wakes a pending `wait`)."""
        self.behaviour.exit_code = code
        self.behaviour.running = False
        self._exited.set()

    def fail_health(self) -> None:
        self.behaviour.unhealthy = True
        self.behaviour.healthy = False
        self._exited.set()

    async def prepare(self) -> None:
        self._record("prepare")
        if self.behaviour.prepare_error is not None:
            raise self.behaviour.prepare_error
        if self.behaviour.exists:
            raise TaskPrepared()
        self.behaviour.exists = True

    async def start(self) -> None:
        self._record("start")
        if self.behaviour.start_error is not None:
            raise self.behaviour.start_error
        if self.behaviour.running or self.behaviour.exit_code is not None:
            raise TaskStarted()
        self.behaviour.running = True

    async def wait(self) -> None:
        self._record("wait")
        while self.behaviour.exit_code is None and not self.behaviour.unhealthy:
            self._exited.clear()
            await self._exited.wait()
        if self.behaviour.unhealthy:
            self.behaviour.running = False
            raise UnhealthyError(137)
        code = self.behaviour.exit_code
        if code:
            raise ExitError(code)

    async def shutdown(self) -> None:
        self._record("shutdown")
        if self.behaviour.running:
            self.exit(self._executor.stop_exit_code)

    async def terminate(self) -> None:
        self._record("terminate")
        if self.behaviour.running:
            self.exit(137)

    async def remove(self) -> None:
        self._record("remove")
        self.behaviour.running = False
        self.behaviour.exists = False
        self._executor.removed.append(self.task.id)

    async def inspect(self) -> ContainerState | None:
        if not self.behaviour.exists:
            return None
        b = self.behaviour
        status = "running" if b.running else ("exited" if b.exit_code is not None else "created")
        health = "" if b.healthy is None else ("healthy" if b.healthy else "unhealthy")
        return ContainerState(
            container_id=f"c-{self.task.id}",
            status=status,
            pid=4242 if b.running else 0,
            exit_code=b.exit_code or 0,
            health=health,
        )


class FakeExecutor:
    """An executor that runs nothing: it records what it was asked to do.

    `calls` is [(task_id, op)] in order; `behaviours[task_id]` sets how a task's container acts
    (set it before the controller is made, or through `controllers[task_id].behaviour`).
    """

    def __init__(self, *, stop_exit_code: int = 143) -> None:
        self.calls: list[tuple[str, str]] = []
        self.behaviours: dict[str, FakeBehaviour] = {}
        self.controllers: dict[str, FakeController] = {}
        self.removed: list[str] = []
        self.stop_exit_code = stop_exit_code

    def controller(self, task: Task) -> FakeController:
        ctlr = self.controllers.get(task.id)
        if ctlr is None:
            ctlr = self.controllers[task.id] = FakeController(self, task)
        return ctlr

    def ops(self, task_id: str) -> list[str]:
        return [op for tid, op in self.calls if tid == task_id]

    async def task_containers(self) -> dict[str, ContainerState]:
        out: dict[str, ContainerState] = {}
        for task_id, ctlr in self.controllers.items():
            state = await ctlr.inspect()
            if state is not None:
                out[task_id] = state
        return out


__all__ = [
    "ContainerState",
    "Controller",
    "Dependencies",
    "DependencyNotFound",
    "Executor",
    "ExecutorError",
    "ExitError",
    "FakeBehaviour",
    "FakeController",
    "FakeExecutor",
    "ImageNotFound",
    "MemoryDependencies",
    "TaskPrepared",
    "TaskStarted",
    "TemporaryError",
    "UnhealthyError",
]
