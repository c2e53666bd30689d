"""The leader's side of node heartbeats: node status Ready/Down from heartbeats.

    heartbeat(node, addr, desc) ─▶ deadline[node] = now + 3 * period
          │ status differs from READY/addr/desc?
          ▼
      pending[node] = Ready(...) ──┐           expire loop: deadline passed ─▶ pending[node] = Down
                                   ▼                                    │
                  flush loop: ONE store.update for everything pending ◀─┘
                  (what arrives while a write is in flight goes into the next one)

Deadlines live in memory on the leader only. A new leader gives every node that is not Down
six periods (it cannot know when the node last heartbeat to the old leader), then three per
heartbeat, like swarmkit. The period is the cluster's dispatcher heartbeat setting, read at each
heartbeat. Steady-state heartbeats (nothing changed) write nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from manager.dispatcher.errors import DispatcherNotLeader, UnknownNode
from manager.raft.clock import Clock
from manager.store import (
    DispatcherConfig,
    Node,
    NodeDescription,
    NodeRole,
    NodeState,
    ReadTx,
    SequenceError,
    Store,
    WriteTx,
)

log = logging.getLogger(__name__)

MISSED_PERIODS = 3  # a node is Down after this many periods without a heartbeat
LEADER_CHANGE_PERIODS = 6  # ... and after this many right after this manager became leader
DOWN_MESSAGE = "heartbeat failure"
DEFAULT_PERIOD = DispatcherConfig().heartbeat_period.total_seconds()
_WRITE_ATTEMPTS = 3  # a batch refused as out of sequence is rebuilt from fresh state


@dataclass(frozen=True, slots=True)
class _Ready:
    addr: str
    description: NodeDescription | None


@dataclass(frozen=True, slots=True)
class _Down:
    pass


_Change = _Ready | _Down


def desired_role(node: Node) -> NodeRole:
    """The role a node should run as now (the heartbeat's `desired_role`).

    Promotion takes effect at once (the node gets a manager certificate, starts its manager and
    joins Raft); demotion only once the leader has removed it from Raft and set `node.role`, so
    a manager never stops before the cluster stopped counting on it.
    """
    if NodeRole.MANAGER in (node.spec.role, node.role):
        return NodeRole.MANAGER
    return NodeRole.WORKER


def heartbeat_period(view: ReadTx) -> float:
    """The cluster's dispatcher heartbeat period in seconds (default 5)."""
    cluster = view.cluster()
    if cluster is None:
        return DEFAULT_PERIOD
    seconds = cluster.spec.dispatcher.heartbeat_period.total_seconds()
    return seconds if seconds > 0 else DEFAULT_PERIOD


def _with_change(node: Node, change: _Change) -> Node:
    if isinstance(change, _Down):
        status = dataclasses.replace(node.status, state=NodeState.DOWN, message=DOWN_MESSAGE)
        return dataclasses.replace(node, status=status)
    status = dataclasses.replace(
        node.status, state=NodeState.READY, message="", addr=change.addr or node.status.addr
    )
    description = node.description if change.description is None else change.description
    return dataclasses.replace(node, status=status, description=description)


class Dispatcher:
    """Leader-side heartbeat logic, over the store and a clock. `run()` while leading."""

    def __init__(self, store: Store, clock: Clock, *, is_leader: Callable[[], bool]) -> None:
        self._store = store
        self._clock = clock
        self._is_leader = is_leader
        self._deadlines: dict[str, float] = {}  # node id -> when it is Down (inf: marked Down)
        self._pending: dict[str, _Change] = {}
        self._inflight: dict[str, _Change] = {}  # the write being committed
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the servicer calls -----------------------------------------------------------

    async def heartbeat(
        self, node_id: str, addr: str, description: NodeDescription | None
    ) -> float:
        """Record a heartbeat; returns the period until the next one (seconds).

        Returns once the node's status is Ready in the store (at once when it already was).
        Raises DispatcherNotLeader on a follower, UnknownNode for a node the store does not
        hold, and NotLeader/ProposalLost when leadership is lost during the write.
        """
        if not self._running or not self._is_leader():
            raise DispatcherNotLeader()
        view = self._store.view()
        node = view.get(Node, node_id)
        if node is None:
            raise UnknownNode(node_id)
        period = heartbeat_period(view)
        self._deadlines[node_id] = self._clock.now() + MISSED_PERIODS * period
        change = _Ready(addr, description)
        unchanged = _with_change(node, change) == node
        if unchanged and node_id not in self._pending and node_id not in self._inflight:
            return period
        await self._submit(node_id, change)
        return period

    def desired_role(self, node_id: str) -> NodeRole:
        node = self._store.view().get(Node, node_id)
        if node is None:
            raise UnknownNode(node_id)
        return desired_role(node)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run while this manager leads; stop() (or cancellation) ends it."""
        self._start_deadlines()
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [
                    tg.create_task(self._expire_loop()),
                    tg.create_task(self._flush_loop()),
                ]
        finally:
            self._running = False
            self._tasks = []
            self._deadlines.clear()
            self._pending.clear()
            self._fail_waiters(DispatcherNotLeader())

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()

    # -- Down detection --------------------------------------------------------------------

    def _start_deadlines(self) -> None:
        view = self._store.view()
        grace = self._clock.now() + LEADER_CHANGE_PERIODS * heartbeat_period(view)
        self._deadlines = {
            node.id: math.inf if node.status.state is NodeState.DOWN else grace
            for node in view.all(Node)
        }

    async def _expire_loop(self) -> None:
        while True:
            view = self._store.view()
            period = heartbeat_period(view)
            now = self._clock.now()
            known = {node.id: node for node in view.all(Node)}
            for node_id in [n for n in self._deadlines if n not in known]:
                del self._deadlines[node_id]  # removed from the cluster
            for node_id, node in known.items():
                if node_id not in self._deadlines:  # joined since: it has to heartbeat too
                    down = node.status.state is NodeState.DOWN
                    self._deadlines[node_id] = math.inf if down else now + MISSED_PERIODS * period
            for node_id, deadline in self._deadlines.items():
                if deadline <= now:
                    log.info(
                        "node missed its heartbeats; marking it down", extra={"node_id": node_id}
                    )
                    self._deadlines[node_id] = math.inf
                    self._queue(node_id, _Down())
            # Sleep until the earliest deadline, but at most one period: a node that heartbeats
            # for the first time meanwhile gets a deadline at least three periods away.
            earliest = min(self._deadlines.values(), default=math.inf)
            await self._clock.sleep(min(period, earliest - now))

    # -- batched status writes -------------------------------------------------------------

    def _queue(self, node_id: str, change: _Change) -> None:
        self._pending[node_id] = change  # the latest wins: Ready after Down, or Down after Ready
        self._wake.set()

    async def _submit(self, node_id: str, change: _Change) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._queue(node_id, change)
        await waiter

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                continue
            changes, self._pending = self._pending, {}
            waiters, self._waiters = self._waiters, []
            self._inflight = changes
            try:
                await self._write(changes)
            except asyncio.CancelledError:
                self._fail(waiters, DispatcherNotLeader())
                raise
            except Exception as e:  # NotLeader, ProposalLost, StoreError: the callers see it
                log.warning("node status write failed: %s", e)
                self._retry_downs(changes)
                self._fail(waiters, e)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            finally:
                self._inflight = {}

    async def _write(self, changes: dict[str, _Change]) -> None:
        def apply(tx: WriteTx) -> None:
            for node_id, change in changes.items():
                node = tx.get(Node, node_id)
                if node is None:
                    continue  # removed meanwhile
                new = _with_change(node, change)
                if new != node:
                    tx.update(new)

        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                await self._store.update(apply)
                return
            except SequenceError:
                if attempt == _WRITE_ATTEMPTS:
                    raise

    def _retry_downs(self, changes: dict[str, _Change]) -> None:
        now = self._clock.now()
        for node_id, change in changes.items():
            if isinstance(change, _Down) and self._deadlines.get(node_id) == math.inf:
                self._deadlines[node_id] = now  # the next expiry pass queues it again

    def _fail_waiters(self, error: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        self._fail(waiters, error)

    @staticmethod
    def _fail(waiters: list[asyncio.Future[None]], error: BaseException) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
