"""The thin, level-triggered loop around a pure decision function.

    watch events --mark--> dirty keys ... CommitEvent --> plan = decide(snapshot, dirty)
                                                      --> store.update(apply(plan.actions))

Event handlers only mark keys dirty; the work happens once per committed batch, on a fresh
snapshot, so a pass is safe to run twice (the decisions are idempotent and `apply_actions`
re-reads every task inside the transaction). A full pass runs at start (a manager that
becomes leader starts its orchestrators) and after a ResetEvent (snapshot restore).
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from manager.orchestrator._common import (
    Action,
    ClusterState,
    CreateTask,
    DeleteTask,
    Plan,
    SetDesiredState,
    SetObservedState,
)
from manager.raft.clock import Clock
from manager.store import Cluster as ClusterObject
from manager.store import (
    CommitEvent,
    Node,
    ObjectEvent,
    ResetEvent,
    Service,
    Store,
    StoreError,
    Task,
    Watch,
    WriteTx,
)

log = logging.getLogger(__name__)

ALL = None  # a scope of None means "everything"


def wall_time(clock: Clock) -> datetime:
    """The orchestrators' clock reads seconds since the Unix epoch (time.time() in production,
    a FakeClock in tests): restart delays and windows are compared with task timestamps that
    survive a leader change, so a monotonic clock would not do."""
    return datetime.fromtimestamp(clock.now(), UTC)


class WallClock:
    """Production clock for the orchestrators: wall time, asyncio sleeps."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def apply_actions(tx: WriteTx, actions: Iterable[Action], now: datetime) -> list[Action]:
    """Apply what still applies on the current state; returns the actions that changed
    something. Desired and observed states only move forward."""
    done: list[Action] = []
    for action in actions:
        if isinstance(action, CreateTask):
            done.append(CreateTask(tx.create(action.task)))
            continue
        current = tx.get(Task, action.task_id)
        if current is None:
            continue
        if isinstance(action, DeleteTask):
            tx.delete(Task, current.id)
        elif isinstance(action, SetDesiredState):
            if current.desired_state >= action.desired:
                continue
            tx.update(dataclasses.replace(current, desired_state=action.desired))
        elif isinstance(action, SetObservedState):
            if current.status.state >= action.state:
                continue
            status = dataclasses.replace(
                current.status,
                state=action.state,
                message=action.message,
                err=action.err,
                timestamp=now,
            )
            tx.update(dataclasses.replace(current, status=status))
        done.append(action)
    return done


def _apply(actions: tuple[Action, ...], now: datetime, tx: WriteTx) -> list[Action]:
    return apply_actions(tx, actions, now)


class ReconcileLoop(abc.ABC):
    """run() until stop(). Subclasses say which keys an event dirties and what to do."""

    name = "orchestrator"

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._dirty: set[str] = set()
        self._all = True  # the first pass is a full one
        self._stopped = False
        self._stop_event = asyncio.Event()

    # -- what subclasses provide ---------------------------------------------------------------

    @abc.abstractmethod
    def dirty_keys(self, event: ObjectEvent) -> Iterable[str] | None:
        """Keys this event makes dirty; None for "everything" (e.g. a node changed)."""

    @abc.abstractmethod
    def decide(self, state: ClusterState, scope: frozenset[str] | None) -> Plan:
        """The pure decision over `scope` (None: everything)."""

    def committed(self, plan: Plan, applied: list[Action]) -> None:  # noqa: B027
        """Called after the plan's actions were written (the restart supervisor records its
        restarts here)."""

    def start_pass(self, state: ClusterState) -> None:  # noqa: B027
        """Called before the first full pass (the restart supervisor seeds its history)."""

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        watch = self._store.watch(Node, Service, Task, ClusterObject)
        wake_at: datetime | None = None
        try:
            self.start_pass(ClusterState.from_view(self._store.view(), wall_time(self._clock)))
            wake_at = await self.reconcile_once()
            while not self._stopped:
                event = await self._next(watch, wake_at)
                if event is None:
                    if self._stopped:
                        break
                    self._all = True  # a deadline passed: look again at everything
                    wake_at = await self.reconcile_once()
                elif isinstance(event, ObjectEvent):
                    keys = self.dirty_keys(event)
                    if keys is None:
                        self._all = True
                    else:
                        self._dirty.update(keys)
                elif isinstance(event, ResetEvent):
                    self._all = True
                    wake_at = await self.reconcile_once()
                elif isinstance(event, CommitEvent) and (self._all or self._dirty):
                    wake_at = await self.reconcile_once()
        finally:
            watch.close()

    def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()

    async def _next(
        self, watch: Watch, wake_at: datetime | None
    ) -> ObjectEvent | CommitEvent | ResetEvent | None:
        get: asyncio.Future[object] = asyncio.ensure_future(watch.get())
        stop: asyncio.Future[object] = asyncio.ensure_future(self._stop_event.wait())
        waiters = {get, stop}
        if wake_at is not None:
            delay = max(0.0, (wake_at - wall_time(self._clock)).total_seconds())
            waiters.add(asyncio.ensure_future(self._clock.sleep(delay)))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if not w.done():
                    w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if get in done and get.exception() is None:
            result = get.result()
            assert isinstance(result, ObjectEvent | CommitEvent | ResetEvent)
            return result
        if get in done and get.exception() is not None:
            self._stopped = True  # the watch was closed
        return None

    async def reconcile_once(self) -> datetime | None:
        """One pass over what is dirty: decide on a snapshot, then write the plan (decision
        and write happen without an await in between, so the snapshot is current). A write
        refused because a task moved on in between is decided again, on everything."""
        for _ in range(3):
            scope = None if self._all else frozenset(self._dirty)
            self._all = False
            self._dirty = set()
            now = wall_time(self._clock)
            state = ClusterState.from_view(self._store.view(), now)
            plan = self.decide(state, scope)
            if not plan.actions:
                return plan.wake_at
            try:
                applied = await self._store.update(functools.partial(_apply, plan.actions, now))
            except StoreError as e:
                log.warning("%s: pass refused, deciding again: %s", self.name, e)
                self._all = True
                continue
            self.committed(plan, applied)
            return plan.wake_at
        return None
