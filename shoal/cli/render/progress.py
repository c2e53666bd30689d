"""Service create/scale progress lines and bars
(docker/cli cli/command/service/progress)."""

from __future__ import annotations

from proto import objects_pb2

from ._common import ellipsis
from .tasks import task_state

# docker's numberedStates: how far along a task is, out of 9
PROGRESS_STEPS = {
    "new": 1,
    "allocated": 2,
    "pending": 3,
    "assigned": 4,
    "accepted": 5,
    "preparing": 6,
    "ready": 7,
    "starting": 8,
    "running": 9,
}
_LONGEST_STATE = max(len(s) for s in PROGRESS_STEPS)


def progress_bar(state: str) -> str:
    """The `[=====>     ]` bar docker draws on a terminal for a task's state."""
    current = PROGRESS_STEPS.get(state, 0)
    filled = min(int(current / len(PROGRESS_STEPS) * 100) // 2, 50)
    return f"[{'=' * filled}>{' ' * (50 - filled)}]"


def progress_line(slot_id: str, task: objects_pb2.Task, bar: bool) -> str:
    """`1/3: running   [=====...>]`, or `1/3: <error>` for a task that failed."""
    if task.status.err:
        return f"{slot_id}: {ellipsis(task.status.err, 60)}"
    state = task_state(task.status.state)
    text = f"{slot_id}: {state:<{_LONGEST_STATE}}"
    return f"{text} {progress_bar(state)}" if bar else text.rstrip()
