"""The Docker executor: runs each task as a container on the local engine through aiodocker.

    prepare   write secrets/configs to the tmpfs; pull the image if missing (with the task's
              registry auth); create the container (network mode none)
    start     start it; attach_networks(task, state) (the overlay's hook); with a health check,
              return only once healthy (unhealthy -> stop it, UnhealthyError). On a container
              that runs already (a retried start, an agent restart) attach again: idempotent
    wait      the engine's wait, next to a health watch; exit 0 returns, else ExitError
    shutdown  POST /stop with t = stop grace period: stop signal, SIGKILL after the grace
    remove    shutdown, delete (with anonymous volumes), drop the task's secret files
    detach_networks(task) once the container exited, was stopped or removed

A container whose networks cannot be attached is killed: the task fails (or, for a
TemporaryError, the start is retried) rather than run cut off.

Engine errors become ExecutorErrors with the engine's message ("No such image: x:1");
an unreachable engine is a TemporaryError (the task stays where it is and is retried).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiodocker
import aiohttp

from manager.store import Task
from worker.executor.base import (
    ContainerState,
    ExecutorError,
    ExitError,
    ImageNotFound,
    TaskPrepared,
    TaskStarted,
    TemporaryError,
    UnhealthyError,
)
from worker.executor.container_config import (
    LABEL_PREFIX,
    container_name,
    create_body,
    has_healthcheck,
    image_ref,
)
from worker.secrets import SecretFiles

log = logging.getLogger(__name__)

AttachNetworks = Callable[[Task, ContainerState], Awaitable[None]]
DetachNetworks = Callable[[Task], Awaitable[None]]


async def no_networks(_task: Task, _container: ContainerState) -> None:
    """The default network hook: containers stay in network mode none."""
    return None


async def no_detach(_task: Task) -> None:
    return None


@contextlib.asynccontextmanager
async def _engine(what: str) -> AsyncIterator[None]:
    """Turn aiodocker/aiohttp failures into executor errors that say what failed."""
    try:
        yield
    except aiodocker.DockerError as exc:
        # The engine answered: its message is what the user sees (even "connection refused",
        # which is then about a registry, not about reaching the engine).
        message = str(exc.message) if exc.message else f"{what}: HTTP {exc.status}"
        raise _EngineStatus(exc.status, message) from exc
    except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
        raise TemporaryError(f"{what}: cannot reach the Docker engine ({exc})") from exc


class _EngineStatus(ExecutorError):
    """An engine answer other than success; the message is the engine's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_registry_auth(registry_auth: str) -> dict[str, Any] | None:
    """The task's base64 JSON credentials (X-Registry-Auth, as `--with-registry-auth` sends
    them), decoded; None if there are none or they cannot be read."""
    if not registry_auth:
        return None
    padded = registry_auth + "=" * (-len(registry_auth) % 4)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _state(info: dict[str, Any]) -> ContainerState:
    state = info.get("State") or {}
    health = state.get("Health") or {}
    return ContainerState(
        container_id=str(info.get("Id", "")),
        status=str(state.get("Status", "")),
        pid=int(state.get("Pid") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        health=str(health.get("Status", "")),
        error=str(state.get("Error") or ""),
    )


class DockerExecutor:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        node_id: str,
        secrets: SecretFiles,
        attach_networks: AttachNetworks = no_networks,
        detach_networks: DetachNetworks = no_detach,
        node_hostname: str = "",
        health_poll: float = 0.5,
    ) -> None:
        self.docker = docker
        self.node_id = node_id
        self.secrets = secrets
        self.attach_networks = attach_networks
        self.detach_networks = detach_networks
        self.node_hostname = node_hostname
        self.health_poll = health_poll

    def controller(self, task: Task) -> DockerController:
        return DockerController(self, task)

    async def task_containers(self) -> dict[str, ContainerState]:
        filters = json.dumps(
            {"label": [f"{LABEL_PREFIX}.task.id", f"{LABEL_PREFIX}.node.id={self.node_id}"]}
        )
        async with _engine("list containers"):
            containers = await self.docker.containers.list(all=True, filters=filters)
        out: dict[str, ContainerState] = {}
        for c in containers:
            labels = c._container.get("Labels") or {}
            state = str(c._container.get("State", ""))
            out[str(labels[f"{LABEL_PREFIX}.task.id"])] = ContainerState(
                container_id=str(c.id), status=state
            )
        return out


class DockerController:
    def __init__(self, executor: DockerExecutor, task: Task) -> None:
        self._x = executor
        self.task = task
        self.name = container_name(task)
        self._stop_grace = int(task.spec.container.stop_grace_period.total_seconds())
        self._detached = False  # detach_networks done since the last attach

    @property
    def _docker(self) -> aiodocker.Docker:
        return self._x.docker

    # -- lifecycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        files = self._x.secrets.write(self.task)
        if await self.inspect() is not None:
            raise TaskPrepared()
        await self._ensure_image()
        body = create_body(self.task, files, node_hostname=self._x.node_hostname)
        try:
            async with _engine("create container"):
                await self._docker.containers.create(config=body, name=self.name)
        except _EngineStatus as exc:
            if exc.status == 409:  # created by an earlier run of this controller
                raise TaskPrepared() from exc
            if exc.status == 404 and "image" in str(exc).lower():
                raise ImageNotFound(image_ref(self.task.spec.container.image), str(exc)) from exc
            raise

    async def start(self) -> None:
        state = await self._require()
        if state.status != "created":
            # Started before: by an agent that has since restarted, or by this start whose
            # attach asked for a retry. Attach again (idempotent), then carry on.
            if state.running:
                await self._attach(state)
            raise TaskStarted()
        async with _engine("start container"):
            await self._docker.containers.container(self.name).start()
        await self._attach(await self._require())
        if has_healthcheck(self.task):
            await self._until_healthy()

    async def wait(self) -> None:
        watch = has_healthcheck(self.task)
        exited = asyncio.ensure_future(self._engine_wait())
        unhealthy = asyncio.ensure_future(self._watch_health()) if watch else None
        try:
            pending = {f for f in (exited, unhealthy) if f is not None}
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (exited, unhealthy):
                if fut is not None and not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ExecutorError):
                        await fut
        if unhealthy is not None and unhealthy in done:
            unhealthy.result()
            await self.shutdown()
            state = await self.inspect()
            raise UnhealthyError(state.exit_code if state else 0)
        exited.result()
        await self._detach()
        state = await self._require()
        if state.exit_code != 0:
            raise ExitError(state.exit_code, state.error)

    async def shutdown(self) -> None:
        try:
            async with _engine("stop container"):
                await self._docker.containers.container(self.name).stop(t=self._stop_grace)
        except _EngineStatus as exc:
            if exc.status not in (304, 404):  # already stopped, or gone
                raise
        await self._detach()

    async def terminate(self) -> None:
        try:
            async with _engine("kill container"):
                await self._docker.containers.container(self.name).kill(signal="SIGKILL")
        except _EngineStatus as exc:
            if exc.status not in (404, 409):  # gone, or not running
                raise
        await self._detach()

    async def remove(self) -> None:
        with contextlib.suppress(ExecutorError):
            await self.shutdown()
        try:
            async with _engine("remove container"):
                await self._docker.containers.container(self.name).delete(force=True, v=True)
        except _EngineStatus as exc:
            if exc.status != 404:
                raise
        await self._detach()
        self._x.secrets.remove(self.task.id)

    async def inspect(self) -> ContainerState | None:
        try:
            async with _engine("inspect container"):
                info = await self._docker.containers.container(self.name).show()
        except _EngineStatus as exc:
            if exc.status == 404:
                return None
            raise
        return _state(info)

    # -- helpers -------------------------------------------------------------------------------

    async def _attach(self, state: ContainerState) -> None:
        try:
            await self._x.attach_networks(self.task, state)
        except TemporaryError:
            raise  # the container runs on; the retried start attaches
        except Exception as exc:
            with contextlib.suppress(ExecutorError):
                await self.terminate()  # no task runs cut off from its networks
            if isinstance(exc, ExecutorError):
                raise
            raise ExecutorError(f"attaching the task's networks failed: {exc}") from exc
        self._detached = False

    async def _detach(self) -> None:
        """Tell the network hook the container stopped (once per attach; also on a fresh
        controller, which cannot know whether an earlier agent attached it)."""
        if self._detached:
            return
        try:
            await self._x.detach_networks(self.task)
        except Exception as exc:  # best effort: the next set_networks or leave clears the rest
            log.warning(
                "detaching task %s from its networks failed: %s",
                self.task.id,
                exc,
                extra={"task_id": self.task.id},
            )
            return
        self._detached = True

    async def _require(self) -> ContainerState:
        state = await self.inspect()
        if state is None:
            raise ExecutorError(f"container {self.name} not found; it was removed outside shoal")
        return state

    async def _ensure_image(self) -> None:
        image = image_ref(self.task.spec.container.image)
        try:
            async with _engine("inspect image"):
                await self._docker.images.inspect(image)
            return
        except _EngineStatus as exc:
            if exc.status != 404:
                raise
        auth = decode_registry_auth(self.task.spec.container.registry_auth)
        try:
            async with _engine(f"pull {image}"):
                progress = await self._docker.images.pull(image, auth=auth)
        except _EngineStatus as exc:
            # Like Swarm: the pull error is logged, and create says "No such image".
            log.warning("pull %s failed: %s", image, exc, extra={"task_id": self.task.id})
            return
        errors = [p["error"] for p in progress if isinstance(p, dict) and p.get("error")]
        if errors:
            log.warning("pull %s failed: %s", image, errors[-1], extra={"task_id": self.task.id})

    async def _engine_wait(self) -> None:
        async with _engine("wait for container"):
            await self._docker.containers.container(self.name).wait()

    async def _watch_health(self) -> None:
        """Return when the container is reported unhealthy (never while it stays healthy)."""
        while True:
            state = await self.inspect()
            if state is None or not state.running:
                await asyncio.Event().wait()  # exited: the engine wait will say so
            if state is not None and state.health == "unhealthy":
                return
            await asyncio.sleep(self._x.health_poll)

    async def _until_healthy(self) -> None:
        while True:
            state = await self._require()
            if not state.running:
                if state.exit_code:
                    raise ExitError(state.exit_code, state.error)
                raise ExecutorError("task: container exited before its health check passed")
            if state.health == "healthy":
                return
            if state.health == "unhealthy":
                await self.shutdown()
                stopped = await self.inspect()
                raise UnhealthyError(stopped.exit_code if stopped else 0)
            await asyncio.sleep(self._x.health_poll)
