"""The Docker controller's network hooks against a fake engine: attach after start (again on a
container that runs already), kill on a failed attach, detach once the container stops; and
the hooks that join the executor to the node's network agent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import aiodocker
import pytest

from manager.store import NetworkAttachment, ServiceAnnotations, Task
from worker.executor import ContainerState, ExecutorError, MemoryDependencies, TaskStarted
from worker.executor.base import TemporaryError
from worker.executor.docker import DockerController, DockerExecutor
from worker.networks import FakeNetworks, executor_hooks
from worker.secrets import SecretFiles


class FakeEngine:
    """The part of aiodocker.Docker the controller uses for a created container."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.exited = asyncio.Event()
        self.calls: list[str] = []

    @property
    def containers(self) -> FakeEngine:
        return self

    def container(self, name: str) -> FakeContainer:
        return FakeContainer(self, name)


class FakeContainer:
    def __init__(self, engine: FakeEngine, name: str) -> None:
        self.engine, self.name = engine, name

    def _set(self, op: str, status: str, pid: int = 0, exit_code: int = 0) -> None:
        self.engine.calls.append(op)
        self.engine.states[self.name] = {"Status": status, "Pid": pid, "ExitCode": exit_code}
        if status == "exited":
            self.engine.exited.set()

    async def show(self) -> dict[str, Any]:
        if self.name not in self.engine.states:
            raise aiodocker.DockerError(404, "No such container")
        return {"Id": self.name, "State": dict(self.engine.states[self.name])}

    async def start(self) -> None:
        self._set("start", "running", pid=77)

    async def wait(self) -> None:
        await self.engine.exited.wait()

    async def stop(self, t: int) -> None:
        self._set("stop", "exited")

    async def kill(self, signal: str) -> None:
        self._set("kill", "exited", exit_code=137)

    async def delete(self, force: bool, v: bool) -> None:
        self.engine.calls.append("delete")
        self.engine.states.pop(self.name, None)


class Hooks:
    """Attach/detach hooks that record what they were given; `attach_error` is raised once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []  # (op, task id, pid)
        self.attach_error: Exception | None = None

    async def attach(self, task: Task, state: ContainerState) -> None:
        self.calls.append(("attach", task.id, state.pid))
        error, self.attach_error = self.attach_error, None
        if error is not None:
            raise error

    async def detach(self, task: Task) -> None:
        self.calls.append(("detach", task.id, 0))


TASK = Task(
    id="t1",
    service_id="s1",
    slot=1,
    node_id="n1",
    service_annotations=ServiceAnnotations(name="web"),
    networks=(NetworkAttachment("front", ("10.0.1.5/24",), (), "02:42:0a:00:01:05"),),
)


def controller(tmp_path: Path, engine: FakeEngine, hooks: Hooks) -> DockerController:
    executor = DockerExecutor(
        cast(aiodocker.Docker, engine),
        node_id="n1",
        secrets=SecretFiles(tmp_path, MemoryDependencies(), ensure_tmpfs=lambda _: None),
        attach_networks=hooks.attach,
        detach_networks=hooks.detach,
    )
    ctlr = executor.controller(TASK)
    engine.states[ctlr.name] = {"Status": "created"}
    return ctlr


async def test_start_attaches_the_running_container_and_exit_detaches_it(tmp_path: Path) -> None:
    engine, hooks = FakeEngine(), Hooks()
    ctlr = controller(tmp_path, engine, hooks)
    await ctlr.start()
    assert engine.calls == ["start"]
    assert hooks.calls == [("attach", "t1", 77)]
    waiting = asyncio.create_task(ctlr.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    engine.container(ctlr.name)._set("exit", "exited")
    await waiting
    assert hooks.calls[-1] == ("detach", "t1", 0)
    await ctlr.remove()
    assert [c[0] for c in hooks.calls] == ["attach", "detach"]  # detached once


async def test_a_temporary_attach_error_keeps_the_container_and_the_retry_attaches(
    tmp_path: Path,
) -> None:
    engine, hooks = FakeEngine(), Hooks()
    ctlr = controller(tmp_path, engine, hooks)
    hooks.attach_error = TemporaryError("network front is not set up on this node yet")
    with pytest.raises(TemporaryError):
        await ctlr.start()
    assert engine.calls == ["start"]  # still running
    with pytest.raises(TaskStarted):
        await ctlr.start()
    assert hooks.calls == [("attach", "t1", 77), ("attach", "t1", 77)]


async def test_a_failed_attach_kills_the_container(tmp_path: Path) -> None:
    engine, hooks = FakeEngine(), Hooks()
    ctlr = controller(tmp_path, engine, hooks)
    hooks.attach_error = RuntimeError("nft: syntax error")
    with pytest.raises(ExecutorError, match="attaching the task's networks failed: nft"):
        await ctlr.start()
    assert engine.calls == ["start", "kill"]
    assert hooks.calls[-1] == ("detach", "t1", 0)


async def test_shutdown_detaches_and_a_fresh_controller_detaches_on_remove(
    tmp_path: Path,
) -> None:
    engine, hooks = FakeEngine(), Hooks()
    ctlr = controller(tmp_path, engine, hooks)
    await ctlr.start()
    await ctlr.shutdown()
    assert hooks.calls[-1] == ("detach", "t1", 0)

    # After an agent restart nobody knows whether it was attached: remove detaches.
    again = DockerController(ctlr._x, TASK)
    await again.remove()
    assert engine.calls[-1] == "delete"
    assert [c[0] for c in hooks.calls] == ["attach", "detach", "detach"]


async def test_a_failing_detach_does_not_fail_the_removal(tmp_path: Path) -> None:
    engine, hooks = FakeEngine(), Hooks()
    ctlr = controller(tmp_path, engine, hooks)

    async def broken(task: Task) -> None:
        raise OSError("gone")

    ctlr._x.detach_networks = broken
    await ctlr.remove()
    assert engine.calls[-1] == "delete"


# -- the hooks onto the network agent --------------------------------------------------------


class NotYet(Exception):
    pass


async def test_executor_hooks_map_the_agents_errors() -> None:
    agent = FakeNetworks()
    attach, detach = executor_hooks(agent, retry=(NotYet,))
    running = ContainerState(container_id="c", status="running", pid=42)
    await attach(TASK, running)
    assert agent.attached == {"t1": 42}

    agent.fail["attach"] = NotYet("network front is not set up on this node yet")
    with pytest.raises(TemporaryError, match="not set up"):
        await attach(TASK, running)
    agent.fail["attach"] = OSError("RTNETLINK answers: File exists")
    with pytest.raises(ExecutorError, match="attaching the task's networks failed: RTNETLINK"):
        await attach(TASK, running)

    await detach(TASK)
    assert agent.attached == {}

    # A task on no network reaches the agent too (it gets the gateway bridge).
    bare = Task(id="t2")
    await attach(bare, running)
    await detach(bare)
    assert agent.ops("attach") == ["t1", "t1", "t1", "t2"]
    assert agent.ops("detach") == ["t1", "t2"]
