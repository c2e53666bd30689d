"""The worker's task state machine as tables: (state, desired) -> step; (step, error) -> state."""

from __future__ import annotations

import pytest

from manager.store import TaskState
from worker.executor import (
    DependencyNotFound,
    ExecutorError,
    ExitError,
    ImageNotFound,
    TaskPrepared,
    TaskStarted,
    TemporaryError,
    UnhealthyError,
)
from worker.taskstate import Step, decide, outcome

S = TaskState


@pytest.mark.parametrize(
    ("state", "desired", "step"),
    [
        (S.ASSIGNED, S.RUNNING, Step.ACCEPT),
        (S.NEW, S.RUNNING, Step.ACCEPT),
        (S.ACCEPTED, S.RUNNING, Step.BEGIN_PREPARE),
        (S.PREPARING, S.RUNNING, Step.PREPARE),
        (S.STARTING, S.RUNNING, Step.START),
        (S.RUNNING, S.RUNNING, Step.WAIT),
        (S.RUNNING, S.COMPLETE, Step.WAIT),  # a job: runs to completion
        (S.ASSIGNED, S.SHUTDOWN, Step.SHUTDOWN),
        (S.STARTING, S.SHUTDOWN, Step.SHUTDOWN),
        (S.RUNNING, S.SHUTDOWN, Step.SHUTDOWN),
        (S.RUNNING, S.REMOVE, Step.SHUTDOWN),
        (S.COMPLETE, S.SHUTDOWN, Step.NOOP),  # terminal: never moves again
        (S.FAILED, S.RUNNING, Step.NOOP),
        (S.SHUTDOWN, S.REMOVE, Step.NOOP),
        (S.REJECTED, S.RUNNING, Step.NOOP),
        (S.ACCEPTED, S.ACCEPTED, Step.NOOP),  # pause at the desired state
        (S.ACCEPTED, S.ASSIGNED, Step.NOOP),  # ahead of the desired state: hold
        (S.PREPARING, S.PREPARING, Step.PREPARE),  # in flight: proceeds
    ],
)
def test_decide(state: TaskState, desired: TaskState, step: Step) -> None:
    assert decide(state, desired) is step


@pytest.mark.parametrize(
    ("step", "state", "error", "new_state", "err", "exit_code"),
    [
        (Step.ACCEPT, S.ASSIGNED, None, S.ACCEPTED, "", None),
        (Step.BEGIN_PREPARE, S.ACCEPTED, None, S.PREPARING, "", None),
        (Step.PREPARE, S.PREPARING, None, S.STARTING, "", None),
        (Step.PREPARE, S.PREPARING, TaskPrepared(), S.STARTING, "", None),
        (
            Step.PREPARE,
            S.PREPARING,
            ImageNotFound("web:bad"),
            S.REJECTED,
            "No such image: web:bad",
            None,
        ),
        (
            Step.PREPARE,
            S.PREPARING,
            DependencyNotFound("secret pw (s1) not found"),
            S.REJECTED,
            "secret pw (s1) not found",
            None,
        ),
        (Step.START, S.STARTING, None, S.RUNNING, "", None),
        (Step.START, S.STARTING, TaskStarted(), S.RUNNING, "", None),
        (
            Step.START,
            S.STARTING,
            ExecutorError("OCI runtime create failed"),
            S.FAILED,
            "OCI runtime create failed",
            None,
        ),
        (Step.START, S.STARTING, UnhealthyError(137), S.FAILED, "task: unhealthy container", 137),
        (Step.WAIT, S.RUNNING, None, S.COMPLETE, "", 0),
        (Step.WAIT, S.RUNNING, ExitError(1), S.FAILED, "task: non-zero exit (1)", 1),
        (Step.WAIT, S.RUNNING, UnhealthyError(143), S.FAILED, "task: unhealthy container", 143),
        (Step.SHUTDOWN, S.RUNNING, None, S.SHUTDOWN, "", None),
        (Step.WAIT, S.RUNNING, TemporaryError("engine down"), S.RUNNING, "engine down", None),
    ],
)
def test_outcome(
    step: Step,
    state: TaskState,
    error: Exception | None,
    new_state: TaskState,
    err: str,
    exit_code: int | None,
) -> None:
    t = outcome(step, state, "old", error)
    assert (t.state, t.err, t.exit_code) == (new_state, err, exit_code)
    assert t.retry == isinstance(error, TemporaryError)
    assert t.state >= state  # never backwards


def test_exit_error_message_with_cause() -> None:
    assert str(ExitError(2, "oom")) == "task: non-zero exit (2): oom"
