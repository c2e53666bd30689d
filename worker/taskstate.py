"""The worker's task state machine, pure: (observed state, desired state) -> the next step, and
(step, its result) -> the next state. No I/O; `worker.controller` runs the steps.

    NEW/PENDING/ASSIGNED --accept--> ACCEPTED --> PREPARING --prepare()--> STARTING
        --start()--> RUNNING --wait()--> COMPLETE   (exit 0)
                                     \\-> FAILED     (non-zero exit, unhealthy)
    any non-terminal state --shutdown()--> SHUTDOWN  (desired state SHUTDOWN or beyond)
    an error before STARTING -> REJECTED; from STARTING on -> FAILED; a temporary error -> stay

This follows swarmkit's `exec.Do`; shoal has no READY state, so a successful prepare moves the
task straight to STARTING.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from manager.store import TaskState
from worker.executor.base import (
    ExitError,
    TaskPrepared,
    TaskStarted,
    TemporaryError,
)


class Step(enum.Enum):
    NOOP = "noop"  # nothing to do until the desired state changes (or ever, once terminal)
    ACCEPT = "accept"
    BEGIN_PREPARE = "begin-prepare"  # report PREPARING before the (slow) prepare
    PREPARE = "prepare"
    START = "start"
    WAIT = "wait"
    SHUTDOWN = "shutdown"


def decide(state: TaskState, desired: TaskState) -> Step:
    """The next step for a task observed in `state` that the manager wants in `desired`."""
    if state.terminal:
        return Step.NOOP
    if desired >= TaskState.SHUTDOWN:
        return Step.SHUTDOWN
    if state > desired:
        return Step.NOOP  # ahead of what the manager asked for: hold
    # These steps are in flight already; they proceed even at the desired state.
    if state == TaskState.PREPARING:
        return Step.PREPARE
    if state == TaskState.STARTING:
        return Step.START
    if state == TaskState.RUNNING:
        return Step.WAIT
    if state == desired:
        return Step.NOOP  # a "pause" state: move on only when asked to go further
    if state < TaskState.ACCEPTED:
        return Step.ACCEPT
    if state == TaskState.ACCEPTED:
        return Step.BEGIN_PREPARE
    return Step.NOOP


@dataclass(frozen=True, slots=True)
class Transition:
    state: TaskState
    message: str
    err: str = ""
    exit_code: int | None = None
    retry: bool = False  # a temporary error: stay in `state`, try the step again later


_SUCCESS: dict[Step, tuple[TaskState, str]] = {
    Step.ACCEPT: (TaskState.ACCEPTED, "accepted"),
    Step.BEGIN_PREPARE: (TaskState.PREPARING, "preparing"),
    Step.PREPARE: (TaskState.STARTING, "starting"),
    Step.START: (TaskState.RUNNING, "started"),
    Step.WAIT: (TaskState.COMPLETE, "finished"),
    Step.SHUTDOWN: (TaskState.SHUTDOWN, "shutdown"),
}


def outcome(step: Step, state: TaskState, message: str, error: Exception | None) -> Transition:
    """The task's next state after `step` ran in `state` and raised `error` (or not)."""
    if step is Step.NOOP:
        return Transition(state, message)
    if error is None or isinstance(error, TaskPrepared | TaskStarted):
        new_state, new_message = _SUCCESS[step]
        return Transition(new_state, new_message, exit_code=0 if step is Step.WAIT else None)
    if isinstance(error, TemporaryError):
        return Transition(state, message, err=str(error), retry=True)
    exit_code = error.exit_code if isinstance(error, ExitError) else None
    failed = TaskState.REJECTED if state < TaskState.STARTING else TaskState.FAILED
    return Transition(
        failed, failed.name.lower(), err=str(error) or type(error).__name__, exit_code=exit_code
    )
