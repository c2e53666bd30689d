"""Task status intake: workers report their own tasks' status; the leader writes it in batches.

    UpdateTaskStatus(node, [(task, status)...])
        │ a task of another node? ─▶ ForeignTask (PERMISSION_DENIED, nothing written)
        ▼
    pending[task] = (node, status) ──┐  (the furthest state wins within a batch)
                                     ▼
    flush loop: ONE store.update for everything pending; what arrives while a write is in
    flight goes into the next one (group commit, like node status in dispatcher.py)

A status never moves backwards: one behind the stored state is dropped (a late or repeated
report). A task reassigned to another node or deleted meanwhile is skipped at write time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from manager.dispatcher.errors import DispatcherError, DispatcherNotLeader
from manager.store import SequenceError, Store, Task, TaskStatus, WriteTx

log = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    task_id: str
    status: TaskStatus


class ForeignTask(DispatcherError):
    """A node reported on a task that is not assigned to it."""

    def __init__(self, node_id: str, task_id: str) -> None:
        self.node_id = node_id
        self.task_id = task_id
        super().__init__(
            f"node {node_id} cannot report on task {task_id}: it is not assigned to it"
        )


def newer(current: TaskStatus, reported: TaskStatus) -> bool:
    """Whether `reported` should replace `current`: same state or further, and different."""
    return reported.state >= current.state and reported != current


def _apply(tx: WriteTx, pending: dict[str, tuple[str, TaskStatus]]) -> int:
    written = 0
    for task_id, (node_id, status) in pending.items():
        task = tx.get(Task, task_id)
        if task is None or task.node_id != node_id or not newer(task.status, status):
            continue
        tx.update(dataclasses.replace(task, status=status))
        written += 1
    return written


class TaskStatusIntake:
    """The leader's status intake. `run()` while leading; `update()` returns once written."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._running = False
        self._pending: dict[str, tuple[str, TaskStatus]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # store transactions made (for tests)

    async def update(self, node_id: str, updates: Sequence[StatusUpdate]) -> None:
        """Queue `node_id`'s reports and wait until they are committed. Raises ForeignTask
        (nothing queued) if one names a task of another node, DispatcherNotLeader on a follower,
        and the store's error (NotLeader, ProposalLost) if the write failed."""
        if not self._running:
            raise DispatcherNotLeader()
        view = self._store.view()
        for u in updates:
            task = view.get(Task, u.task_id)
            if task is not None and task.node_id != node_id:
                raise ForeignTask(node_id, u.task_id)
        queued = False
        for u in updates:
            held = self._pending.get(u.task_id)
            if held is None or u.status.state >= held[1].state:
                self._pending[u.task_id] = (node_id, u.status)
                queued = True
        if not queued:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def run(self) -> None:
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                self._task = tg.create_task(self._flush_loop())
        finally:
            self._running = False
            self._task = None
            self._pending.clear()
            waiters, self._waiters = self._waiters, []
            _fail(waiters, DispatcherNotLeader())

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            pending, self._pending = self._pending, {}
            waiters, self._waiters = self._waiters, []
            try:
                await self._write(pending)
            except asyncio.CancelledError:
                _fail(waiters, DispatcherNotLeader())
                raise
            except Exception as e:  # NotLeader, ProposalLost, StoreError: the callers see it
                log.warning("task status write failed: %s", e)
                _fail(waiters, e)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def _write(self, pending: dict[str, tuple[str, TaskStatus]]) -> None:
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                await self._store.update(lambda tx: _apply(tx, pending))
                self.writes += 1
                return
            except SequenceError:
                if attempt == _WRITE_ATTEMPTS:
                    raise


def _fail(waiters: list[asyncio.Future[None]], error: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)
