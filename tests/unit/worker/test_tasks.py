"""The agent's task manager with the FakeExecutor, a fake dispatcher stub and a FakeClock:
assignments in, containers driven, status reported in batches, state kept on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from manager.dispatcher import (
    AssignmentBatch,
    AssignmentChange,
    ChangeAction,
    StatusUpdate,
    wire,
)
from manager.raft import FakeClock
from manager.store import (
    ContainerSpec,
    Secret,
    SecretReference,
    SecretSpec,
    ServiceAnnotations,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
)
from proto import dispatcher_pb2
from worker.executor import FakeBehaviour, FakeExecutor, MemoryDependencies
from worker.tasks import StreamGap, TaskDB, TaskManager

S = TaskState
T0 = datetime(2025, 1, 1, tzinfo=UTC)
UPDATE, REMOVE = ChangeAction.UPDATE, ChangeAction.REMOVE


def task(
    task_id: str = "t1",
    desired: TaskState = S.RUNNING,
    state: TaskState = S.ASSIGNED,
    secrets: tuple[str, ...] = (),
) -> Task:
    refs = tuple(SecretReference(secret_id=s, secret_name=s) for s in secrets)
    return Task(
        id=task_id,
        service_id="s1",
        slot=1,
        node_id="n1",
        service_annotations=ServiceAnnotations(name="web"),
        spec=TaskSpec(container=ContainerSpec(image="busybox", secrets=refs)),
        desired_state=desired,
        status=TaskStatus(state=state),
    )


def complete(*objs: Task | Secret, sequence: int = 1) -> AssignmentBatch:
    return AssignmentBatch(True, sequence, tuple(AssignmentChange(UPDATE, o) for o in objs))


def changes(sequence: int, *items: tuple[ChangeAction, Task | Secret]) -> AssignmentBatch:
    return AssignmentBatch(False, sequence, tuple(AssignmentChange(a, o) for a, o in items))


async def settle(rounds: int = 60) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeStub:
    """The dispatcher as the task manager sees it: a queue of assignment messages, and the
    status requests it received (optionally held until `gate` is set)."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dispatcher_pb2.AssignmentsMessage | None] = asyncio.Queue()
        self.requests: list[list[StatusUpdate]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def send(self, batch: AssignmentBatch) -> None:
        self.messages.put_nowait(wire.assignments_message(batch))

    async def _stream(self) -> AsyncIterator[dispatcher_pb2.AssignmentsMessage]:
        while (message := await self.messages.get()) is not None:
            yield message

    def Assignments(
        self, request: dispatcher_pb2.AssignmentsRequest
    ) -> AsyncIterator[dispatcher_pb2.AssignmentsMessage]:
        assert request.node_id == "n1"
        return self._stream()

    async def UpdateTaskStatus(
        self,
        request: dispatcher_pb2.UpdateTaskStatusRequest,
        *,
        timeout: float,  # noqa: ASYNC109 - grpc's keyword
    ) -> dispatcher_pb2.UpdateTaskStatusResponse:
        self.requests.append(wire.decode_status_request(request))
        await self.gate.wait()
        return dispatcher_pb2.UpdateTaskStatusResponse()

    def reported(self, task_id: str) -> list[TaskState]:
        return [u.status.state for batch in self.requests for u in batch if u.task_id == task_id]


class Worker:
    def __init__(self, data: Path, executor: FakeExecutor | None = None) -> None:
        self.executor = executor or FakeExecutor()
        self.deps = MemoryDependencies()
        self.db = TaskDB(data / "tasks")
        self.clock = FakeClock()
        self.manager = TaskManager(
            node_id="n1",
            executor=self.executor,
            dependencies=self.deps,
            db=self.db,
            clock=self.clock,
            now=lambda: T0,
        )

    def state(self, task_id: str) -> TaskState:
        return self.manager.tasks[task_id].status.state


@asynccontextmanager
async def running(worker: Worker, stub: FakeStub | None = None) -> AsyncIterator[None]:
    run = asyncio.create_task(worker.manager.run())
    await settle()
    session = asyncio.create_task(worker.manager.session(stub)) if stub else None
    await settle()
    try:
        yield
    finally:
        if session is not None:
            session.cancel()
        await worker.manager.stop()
        await asyncio.gather(run, *([session] if session else []), return_exceptions=True)


async def test_an_assigned_task_runs_and_its_states_are_reported(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    async with running(w, stub):
        stub.send(complete(task("t1")))
        await settle()
        assert w.state("t1") == S.RUNNING
        assert w.executor.ops("t1") == ["prepare", "start", "wait"]
        # Every state reached the manager, in order, in fewer calls than states.
        assert stub.reported("t1")[-1] == S.RUNNING
        assert stub.reported("t1") == sorted(stub.reported("t1"))
        assert w.manager.pending_reports == {}
        assert w.db.load()["t1"].status.state == S.RUNNING


async def test_reports_made_during_a_call_go_in_the_next_one(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    async with running(w, stub):
        stub.gate.clear()
        stub.send(complete(*(task(f"t{i}") for i in range(5))))
        await settle()
        assert len(stub.requests) == 1  # in flight; everything else waits for it
        stub.gate.set()
        await settle()
        assert all(w.state(f"t{i}") == S.RUNNING for i in range(5))
        assert len(stub.requests) <= 3
        assert all(stub.reported(f"t{i}")[-1] == S.RUNNING for i in range(5))


async def test_desired_shutdown_stops_the_task_and_remove_drops_it(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    async with running(w, stub):
        stub.send(complete(task("t1")))
        await settle()
        stub.send(changes(2, (UPDATE, task("t1", desired=S.SHUTDOWN))))
        await settle()
        assert w.state("t1") == S.SHUTDOWN
        assert stub.reported("t1")[-1] == S.SHUTDOWN
        stub.send(changes(3, (REMOVE, Task(id="t1"))))
        await settle()
        assert "t1" not in w.manager.tasks
        assert w.executor.ops("t1")[-1] == "remove"
        assert w.db.load() == {}


async def test_secrets_are_held_in_memory_only_while_assigned(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    secret = Secret(id="s1", spec=SecretSpec(name="s1", data=b"hunter2"))
    async with running(w, stub):
        stub.send(complete(secret, task("t1", secrets=("s1",))))
        await settle()
        assert w.deps.secret("s1") == b"hunter2"
        assert all(b"hunter2" not in p.read_bytes() for p in (tmp_path / "tasks").iterdir())
        stub.send(changes(2, (REMOVE, Secret(id="s1"))))
        await settle()
        assert w.deps.secret("s1") is None


async def test_a_restarted_agent_resumes_its_running_tasks_without_a_manager(
    tmp_path: Path,
) -> None:
    first = Worker(tmp_path)
    stub = FakeStub()
    async with running(first, stub):
        stub.send(complete(task("t1")))
        await settle()
        assert first.state("t1") == S.RUNNING

    # The agent restarts; its container still runs; no manager answers.
    executor = FakeExecutor()
    executor.behaviours["t1"] = FakeBehaviour(exists=True, running=True)
    again = Worker(tmp_path, executor)
    async with running(again):
        assert again.state("t1") == S.RUNNING
        assert executor.ops("t1") == ["wait"]  # followed, not created or started again
        executor.controllers["t1"].exit(3)
        await settle()
        assert again.state("t1") == S.FAILED
        assert again.db.load()["t1"].status.state == S.FAILED


async def test_reconnecting_reconciles_with_the_manager(tmp_path: Path) -> None:
    w = Worker(tmp_path)
    stub = FakeStub()
    async with running(w, stub):
        stub.send(complete(task("t1"), task("t2")))
        await settle()
        stub.messages.put_nowait(None)  # the manager went away
        await settle()
        w.executor.controllers["t1"].exit(0)  # meanwhile t1 completed
        await settle()
        assert w.state("t1") == S.COMPLETE

        # A new leader: it still thinks t1 runs, and no longer assigns t2.
        stub2 = FakeStub()
        reconnect = asyncio.create_task(w.manager.session(stub2))
        await settle()
        stub2.send(complete(task("t1", state=S.RUNNING)))
        await settle()
        assert stub2.reported("t1") == [S.COMPLETE]
        assert "t2" not in w.manager.tasks
        assert w.executor.ops("t2")[-2:] == ["shutdown", "remove"]
        assert sorted(w.db.load()) == ["t1"]
        reconnect.cancel()
        await asyncio.gather(reconnect, return_exceptions=True)


async def test_a_gap_in_the_stream_is_refused() -> None:
    manager = TaskManager(
        node_id="n1",
        executor=FakeExecutor(),
        dependencies=MemoryDependencies(),
        db=TaskDB(Path("/nonexistent")),
        clock=FakeClock(),
    )
    await manager.apply(complete())
    with pytest.raises(StreamGap):
        await manager.apply(changes(3))
