"""The worker's view of the node's network agent (overlay_net.agent.NetworkAgent): a protocol,
a no-op for nodes without networking, a recording fake, and the executor's hooks onto it.

    TaskManager.apply(batch) ─▶ set_networks(views)        views before the batch's tasks
    DockerController.start   ─▶ attach(task, pid)          after the container started
    wait / shutdown / remove ─▶ detach(task_id)            the container stopped or is gone
    TaskManager.run          ─▶ start() before the first views, close() at the end
    Node.leave               ─▶ leave()                    everything the node made goes
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from manager.dispatcher.networks import NetworkView
from manager.store import Task
from worker.executor.base import ContainerState, ExecutorError, TemporaryError

AttachHook = Callable[[Task, ContainerState], Awaitable[None]]
DetachHook = Callable[[Task], Awaitable[None]]


class NodeNetworks(Protocol):
    """What the worker calls on the node's network agent."""

    async def start(self) -> None: ...

    async def set_networks(self, views: Mapping[str, NetworkView]) -> None: ...

    async def attach(self, task: Task, pid: int) -> None: ...

    async def detach(self, task_id: str) -> None: ...

    async def close(self) -> None: ...

    async def leave(self) -> None: ...


class NoNetworks:
    """Networking off: every call does nothing (tests, nodes without an overlay)."""

    async def start(self) -> None:
        return None

    async def set_networks(self, views: Mapping[str, NetworkView]) -> None:
        return None

    async def attach(self, task: Task, pid: int) -> None:
        return None

    async def detach(self, task_id: str) -> None:
        return None

    async def close(self) -> None:
        return None

    async def leave(self) -> None:
        return None


class FakeNetworks:
    """Records every call in `calls` as (method, argument): ("set_networks", sorted ids),
    ("attach", task id), ("detach", task id), ("start" | "close" | "leave", "").
    `fail[method]` makes that method raise the given error (once per assignment)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.views: dict[str, NetworkView] = {}
        self.attached: dict[str, int] = {}  # task id -> pid
        self.fail: dict[str, Exception] = {}

    def _record(self, method: str, arg: object = "") -> None:
        self.calls.append((method, arg))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def ops(self, method: str) -> list[object]:
        return [arg for m, arg in self.calls if m == method]

    async def start(self) -> None:
        self._record("start")

    async def set_networks(self, views: Mapping[str, NetworkView]) -> None:
        self._record("set_networks", tuple(sorted(views)))
        self.views = dict(views)

    async def attach(self, task: Task, pid: int) -> None:
        self._record("attach", task.id)
        self.attached[task.id] = pid

    async def detach(self, task_id: str) -> None:
        self._record("detach", task_id)
        self.attached.pop(task_id, None)

    async def close(self) -> None:
        self._record("close")

    async def leave(self) -> None:
        self._record("leave")


def executor_hooks(
    networks: NodeNetworks, *, retry: tuple[type[Exception], ...] = ()
) -> tuple[AttachHook, DetachHook]:
    """The Docker executor's attach/detach hooks onto `networks`. An attach error of a `retry`
    type (the agent has no view of the network yet) is a TemporaryError: the start is tried
    again and attaches then; any other fails the task. Every task goes to the agent: one on
    no network still gets the gateway bridge (egress, host-mode ports), as Swarm's get the
    engine's default bridge."""

    async def attach(task: Task, container: ContainerState) -> None:
        try:
            await networks.attach(task, container.pid)
        except retry as e:
            raise TemporaryError(str(e)) from e
        except ExecutorError:
            raise
        except Exception as e:  # the agent's kernel and nft errors: the task says why
            raise ExecutorError(f"attaching the task's networks failed: {e}") from e

    async def detach(task: Task) -> None:
        await networks.detach(task.id)

    return attach, detach


__all__ = [
    "AttachHook",
    "DetachHook",
    "FakeNetworks",
    "NoNetworks",
    "NodeNetworks",
    "executor_hooks",
]
