"""TaskController with the FakeExecutor and a FakeClock: the states a task goes through, what
the executor is asked to do, and what is reported (no Docker, no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from manager.raft import FakeClock
from manager.store import ContainerStatus, ServiceAnnotations, Task, TaskState, TaskStatus
from worker.controller import TaskController, TaskReport
from worker.executor import (
    FakeBehaviour,
    FakeExecutor,
    ImageNotFound,
    TemporaryError,
)

S = TaskState
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def make_task(
    state: TaskState = S.ASSIGNED, desired: TaskState = S.RUNNING, task_id: str = "t1"
) -> Task:
    return Task(
        id=task_id,
        service_id="s1",
        slot=1,
        node_id="n1",
        service_annotations=ServiceAnnotations(name="web"),
        desired_state=desired,
        status=TaskStatus(state=state),
    )


class Harness:
    def __init__(self, task: Task, executor: FakeExecutor | None = None) -> None:
        self.executor = executor or FakeExecutor()
        self.clock = FakeClock()
        self.reports: list[TaskReport] = []
        self.ctlr = TaskController(
            task,
            self.executor.controller(task),
            report=self._report,
            clock=self.clock,
            now=lambda: T0,
        )

    async def _report(self, report: TaskReport) -> None:
        self.reports.append(report)

    @property
    def states(self) -> list[TaskState]:
        return [r.status.state for r in self.reports]

    @property
    def last(self) -> TaskStatus:
        return self.reports[-1].status

    @property
    def ops(self) -> list[str]:
        return self.executor.ops(self.ctlr.task.id)

    def exit(self, code: int) -> None:
        self.executor.controllers[self.ctlr.task.id].exit(code)


async def settle(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


@asynccontextmanager
async def running(h: Harness) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(h.ctlr.run())
    await settle()
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_runs_through_every_state_to_complete() -> None:
    h = Harness(make_task())
    async with running(h) as run:
        assert h.states == [S.ACCEPTED, S.PREPARING, S.STARTING, S.RUNNING]
        assert [r.status.message for r in h.reports] == [
            "accepted",
            "preparing",
            "starting",
            "started",
        ]
        assert h.ops == ["prepare", "start", "wait"]
        running_status = h.last
        assert running_status.container == ContainerStatus("c-t1", 4242, 0)
        assert running_status.applied_by == "n1" and running_status.timestamp == T0
        h.exit(0)
        await settle()
        assert run.done()
    assert h.states[-1] is S.COMPLETE
    assert h.last.message == "finished" and h.last.err == ""
    assert h.last.container is not None and h.last.container.exit_code == 0


async def test_non_zero_exit_fails_with_the_code() -> None:
    h = Harness(make_task())
    async with running(h):
        h.exit(3)
        await settle()
    assert h.states[-1] is S.FAILED
    assert h.last.err == "task: non-zero exit (3)"
    assert h.last.container is not None and h.last.container.exit_code == 3


async def test_image_not_found_rejects_the_task_without_starting() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(prepare_error=ImageNotFound("web:bad"))
    h = Harness(make_task(), ex)
    async with running(h) as run:
        assert run.done()
    assert h.states == [S.ACCEPTED, S.PREPARING, S.REJECTED]
    assert h.last.err == "No such image: web:bad"
    assert h.ops == ["prepare"]


async def test_shutdown_requested_while_running_stops_the_container() -> None:
    task = make_task()
    h = Harness(task)
    async with running(h) as run:
        assert h.ctlr.status.state is S.RUNNING
        h.ctlr.update(replace(task, desired_state=S.SHUTDOWN))
        await settle()
        assert run.done()
    assert h.ops == ["prepare", "start", "wait", "shutdown"]
    assert h.states[-1] is S.SHUTDOWN
    assert h.last.err == ""
    assert h.last.container is not None and h.last.container.exit_code == 143


async def test_shutdown_before_start_never_prepares() -> None:
    h = Harness(make_task(desired=S.SHUTDOWN))
    async with running(h):
        pass
    assert h.states == [S.SHUTDOWN]
    assert h.ops == ["shutdown"]


async def test_unhealthy_container_fails_the_task() -> None:
    h = Harness(make_task())
    async with running(h):
        h.executor.controllers["t1"].fail_health()
        await settle()
    assert h.states[-1] is S.FAILED
    assert h.last.err == "task: unhealthy container"
    assert h.reports[-1].healthy is False


async def test_running_report_says_healthy() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(healthy=True)
    h = Harness(make_task(), ex)
    async with running(h):
        assert h.reports[-1].status.state is S.RUNNING
        assert h.reports[-1].healthy is True
        assert h.reports[0].healthy is None  # no container yet


async def test_resumes_a_running_container_after_an_agent_restart() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(exists=True, running=True)
    # The agent's stored copy said PREPARING: the container is there and running already.
    h = Harness(make_task(state=S.PREPARING), ex)
    async with running(h):
        assert h.ops == ["prepare", "start", "wait"]
        assert h.states == [S.STARTING, S.RUNNING]
        h.exit(0)
        await settle()
    assert h.states[-1] is S.COMPLETE


async def test_resumes_from_running_with_only_a_wait() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(exists=True, running=True)
    h = Harness(make_task(state=S.RUNNING), ex)
    async with running(h):
        assert h.ops == ["wait"]
        assert h.reports == []
        h.exit(1)
        await settle()
    assert h.states == [S.FAILED]


async def test_container_that_exited_while_the_agent_was_down() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(exists=True, exit_code=2)
    h = Harness(make_task(state=S.STARTING), ex)
    async with running(h):
        pass
    assert h.ops == ["start", "wait"]  # not restarted: start answers "already started"
    assert h.states == [S.RUNNING, S.FAILED]
    assert h.last.err == "task: non-zero exit (2)"


async def test_temporary_error_is_retried_after_a_backoff() -> None:
    ex = FakeExecutor()
    ex.behaviours["t1"] = FakeBehaviour(prepare_error=TemporaryError("engine unreachable"))
    h = Harness(make_task(), ex)
    async with running(h):
        assert h.states == [S.ACCEPTED, S.PREPARING, S.PREPARING]
        assert h.last.err == "engine unreachable"
        assert h.ops == ["prepare"]
        h.clock.advance(0.5)
        await settle()
        assert h.ops == ["prepare", "prepare"]
        assert len(h.reports) == 3  # the same error again is not reported again
        ex.behaviours["t1"].prepare_error = None
        h.clock.advance(0.9)
        await settle()
        assert h.ops == ["prepare", "prepare"]  # backoff doubled to 1s
        h.clock.advance(0.1)
        await settle()
        assert h.states[-1] is S.RUNNING
        assert h.last.err == ""


async def test_pauses_at_the_desired_state_until_asked_further() -> None:
    task = make_task(desired=S.ACCEPTED)
    h = Harness(task)
    async with running(h):
        assert h.states == [S.ACCEPTED]
        h.ctlr.update(replace(task, desired_state=S.RUNNING))
        await settle()
        assert h.states[-1] is S.RUNNING


async def test_never_moves_backwards() -> None:
    task = make_task()
    h = Harness(task)
    async with running(h):
        assert h.ctlr.status.state is S.RUNNING
        h.ctlr.update(replace(task, status=TaskStatus(state=S.ASSIGNED)))
        await settle()
        assert h.ctlr.status.state is S.RUNNING
        assert h.ops == ["prepare", "start", "wait"]  # the wait was not interrupted
        h.exit(0)
        await settle()
    states = h.states
    assert states == sorted(states)


async def test_update_for_another_task_is_refused() -> None:
    h = Harness(make_task())
    try:
        h.ctlr.update(make_task(task_id="t2"))
    except ValueError as exc:
        assert "t2" in str(exc)
    else:
        raise AssertionError("expected ValueError")


async def test_remove_stops_a_running_task_and_removes_its_container() -> None:
    h = Harness(make_task())
    async with running(h):
        await h.ctlr.remove()
    assert h.ops[-2:] == ["shutdown", "remove"]
    assert h.executor.removed == ["t1"]


async def test_remove_of_a_finished_task_only_removes() -> None:
    h = Harness(make_task())
    async with running(h):
        h.exit(0)
        await settle()
    await h.ctlr.remove()
    assert h.ops == ["prepare", "start", "wait", "remove"]


async def test_fake_executor_lists_its_containers() -> None:
    ex = FakeExecutor()
    h = Harness(make_task(), ex)
    async with running(h):
        containers = await ex.task_containers()
    assert list(containers) == ["t1"]
    assert containers["t1"].running
