"""The scheduler loop: the leader's reconciler that writes placement plans to the store.

    store.watch(Task, Node) ─▶ note(event): mark dirty, nothing else
          │ a pending task appeared/changed ─▶ candidates
          │ a task freed resources, a node changed ─▶ retry the waiting ones
          ▼ (debounce: let the rest of a burst of commits arrive)
    pass: view ─▶ schedule(Snapshot.of(view), pending) ─▶ Plan
          ▼
    write: chunks of `batch_size` tasks, ONE store.update per chunk:
          placed  ─▶ node_id, ASSIGNED, "scheduler assigned task to node"
          refused ─▶ stays PENDING, status.err = "no suitable node (...)" (only if it changed)

Level-triggered: a pass re-reads every task it considers from the current view, so running
it twice does nothing new. The first pass (when this manager becomes leader, or after the store
was restored from a snapshot) considers every task in the store.

Which tasks: observed state PENDING and desired state RUNNING, and not awaiting the allocator:
a task that needs networks (its spec names some, or it publishes an ingress port) is left
alone until the allocator (manager/allocator/loop.py) wrote its attachments; that write is a
task change like any other and brings it here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from manager.raft.clock import Clock
from manager.scheduler.nodeinfo import holds_resources, should_run
from manager.scheduler.placement import Plan, Snapshot, schedule, wants_node
from manager.store import (
    Event,
    Node,
    ObjectEvent,
    ResetEvent,
    Store,
    Task,
    TaskState,
    TaskStatus,
    WriteTx,
)

log = logging.getLogger(__name__)

ASSIGNED_MESSAGE = "scheduler assigned task to node"
CONFIRMED_MESSAGE = "scheduler confirmed task can run on preassigned node"
PENDING_MESSAGE = "pending task scheduling"

DEFAULT_BATCH_SIZE = 1000  # tasks per store transaction (one Raft entry)
DEFAULT_DEBOUNCE = 0.05  # seconds to wait after a change for the rest of its burst (swarmkit: 50ms)
RETRY_DELAY = 1.0  # seconds before retrying after a failed write


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class _Write:
    task: Task  # as the pass read it: the write is skipped if it changed since
    node_id: str  # "" for a refusal
    err: str = ""


class Scheduler:
    """Run on the leader: `run()` until `stop()` (or cancellation)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        now: Callable[[], datetime] = _utcnow,
        batch_size: int = DEFAULT_BATCH_SIZE,
        debounce: float = DEFAULT_DEBOUNCE,
        manager_id: str = "",
    ) -> None:
        self._store = store
        self._clock = clock
        self._now = now
        self._batch_size = max(1, batch_size)
        self._debounce = debounce
        self._manager_id = manager_id  # recorded as status.applied_by
        self._full = True  # consider every task on the next pass
        self._candidates: set[str] = set()  # pending tasks that appeared or changed
        self._waiting: set[str] = set()  # pending tasks that fit nowhere on the last pass
        self._retry = False  # something changed that may let a waiting task fit
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # for tests and the benchmark

    async def run(self) -> None:
        """Schedule until stop(). Can run again later (a new term as leader): each run starts
        with a full pass."""
        self._candidates.clear()
        self._waiting.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                self._task = tg.create_task(self._loop())
        finally:
            self._task = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # -- events ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        with self._store.watch(Task, Node) as watch:
            self._full = True
            while True:
                for event in watch.drain():
                    self._note(event)
                if self._needs_pass():
                    await self._pass()
                    continue
                self._note(await watch.get())
                if self._needs_pass() and self._debounce > 0:
                    await self._clock.sleep(self._debounce)

    def _needs_pass(self) -> bool:
        return self._full or bool(self._candidates) or (self._retry and bool(self._waiting))

    def _note(self, event: Event) -> None:
        if isinstance(event, ResetEvent):
            self._full = True
        elif isinstance(event, ObjectEvent):
            if isinstance(event.obj, Node):
                self._retry = True
            else:
                self._note_task(event)

    def _note_task(self, event: ObjectEvent) -> None:
        old, new = event.old, event.new
        assert old is None or isinstance(old, Task)
        assert new is None or isinstance(new, Task)
        if new is not None and wants_node(new):
            self._candidates.add(new.id)
        if old is not None and _frees_room(old, new):
            self._retry = True

    # -- a pass ----------------------------------------------------------------------------

    async def _pass(self) -> None:
        self.passes += 1
        view = self._store.view()
        if self._full:
            pending = [t for t in view.all(Task) if wants_node(t)]
        else:
            ids = self._candidates | self._waiting
            found = (view.get(Task, i) for i in ids)
            pending = sorted(
                (t for t in found if t is not None and wants_node(t)),
                key=lambda t: (t.meta.version, t.id),  # oldest first, deterministically
            )
        self._full, self._retry = False, False
        self._candidates.clear()
        if not pending:
            self._waiting.clear()
            return
        plan = schedule(Snapshot.of(view), pending)
        self._waiting = {r.task_id for r in plan.refusals}
        await self._write(_writes(plan, {t.id: t for t in pending}))

    async def _write(self, writes: Sequence[_Write]) -> None:
        for start in range(0, len(writes), self._batch_size):
            chunk = writes[start : start + self._batch_size]
            now = self._now()
            try:
                await self._store.update(functools.partial(self._apply, chunk=chunk, now=now))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # StoreError, NotLeader, ProposalLost: try again later
                log.warning("scheduler could not write %d tasks: %s", len(chunk), e)
                self._candidates.update(w.task.id for w in writes[start:])
                await self._clock.sleep(RETRY_DELAY)
                return

    def _apply(self, tx: WriteTx, chunk: Sequence[_Write], now: datetime) -> None:
        for write in chunk:
            current = tx.get(Task, write.task.id)
            if current is None or current.meta.version != write.task.meta.version:
                continue  # changed since the pass read it: its event brings it back if need be
            if write.node_id:
                message = CONFIRMED_MESSAGE if current.node_id else ASSIGNED_MESSAGE
                status = TaskStatus(
                    state=TaskState.ASSIGNED,
                    timestamp=now,
                    message=message,
                    applied_by=self._manager_id,
                )
                tx.update(dataclasses.replace(current, node_id=write.node_id, status=status))
                log.debug("task assigned", extra={"task_id": current.id, "node_id": write.node_id})
            else:
                status = dataclasses.replace(
                    current.status, timestamp=now, message=PENDING_MESSAGE, err=write.err
                )
                tx.update(dataclasses.replace(current, status=status))


def _writes(plan: Plan, tasks: dict[str, Task]) -> list[_Write]:
    writes = [_Write(tasks[d.task_id], d.node_id) for d in plan.decisions]
    for refusal in plan.refusals:
        task = tasks[refusal.task_id]
        # Only when the reason changed: a task that fits nowhere is retried on every change
        # in the cluster, and rewriting the same message each time would be a write storm.
        if task.status.err != refusal.reason or task.status.message != PENDING_MESSAGE:
            writes.append(_Write(task, "", refusal.reason))
    return writes


def _frees_room(old: Task, new: Task | None) -> bool:
    """Whether this change can let a waiting task fit: resources or ports released, or one
    fewer active task on a node (max replicas per node, spreading)."""
    if not holds_resources(old):
        return False
    if new is None or not holds_resources(new) or new.node_id != old.node_id:
        return True
    return should_run(old) and not should_run(new)
