"""The asyncio loop around the pure Raft core: ticks, persistence, sending, applying.

    clock ──tick──┐
    transport ────┼─▶ inbox ─▶ core.step/tick/propose ─▶ core.ready()
    callers ──────┘     ▲                                    │
                        │    1. storage.save(hard state, entries)   (thread, fsync)
     (everything that   │    2. transport.send(messages)
      arrived meanwhile │    3. apply snapshot, then committed entries; resolve waiters
      goes into the     │    4. core.advance(); snapshot every `snapshot_interval` entries
      next Ready: group └────────────────────────────────────────────┘
      commit)

Only the loop task touches the core. Callers post operations to the inbox and await futures,
so whatever arrives while an fsync runs is fed to the core together and saved with one write.
Persisting before sending is the simple, always-correct rule (etcd lets a leader send in
parallel with its own fsync; we do not).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from manager.raft.clock import Clock, LoopClock
from manager.raft.core import RaftNode, Status
from manager.raft.errors import NotLeader, ProposalDropped, ProposalLost, RaftError
from manager.raft.types import (
    ConfChange,
    ConfChangeType,
    Entry,
    EntryType,
    HardState,
    Message,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class StateMachine(Protocol):
    def apply(self, entry: Entry) -> object:
        """Apply a NORMAL entry with data; the result goes to its proposer. Deterministic."""
        ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...


class RaftStorage(Protocol):
    """The part of `storage.Storage` the driver uses (blocking; called from a thread)."""

    def save(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None: ...

    def save_snapshot(self, snapshot: Snapshot) -> None: ...


class Transport(Protocol):
    """Best-effort, in-order-per-peer delivery. The driver sets `on_message` to its `receive`."""

    on_message: Callable[[Message], None]

    def send(self, messages: Sequence[Message]) -> None: ...

    def add_peer(self, node_id: int, address: str) -> None: ...

    def remove_peer(self, node_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class DriverOptions:
    tick_interval: float = 1.0  # seconds per core tick, like Swarm's default
    snapshot_interval: int = 10_000  # applied entries between snapshots
    snapshot_keep: int = 500  # log entries kept behind a snapshot for slow followers
    promote_lag: int = 100  # a learner becomes a voter once this close to the leader's commit
    transfer_ticks: int = 30  # how long transfer_leadership waits for the new leader


# The snapshot data the driver stores: its member address book, then the state machine's
# bytes. A member that catches up by snapshot learns the addresses the conf change entries
# it never saw carried.
_MAGIC = b"shoal-raft-snap1"
_LEN = struct.Struct(">I")


def wrap_snapshot_data(members: Mapping[int, str], state: bytes) -> bytes:
    book = json.dumps({str(k): v for k, v in sorted(members.items())}).encode()
    return _MAGIC + _LEN.pack(len(book)) + book + state


def unwrap_snapshot_data(data: bytes) -> tuple[dict[int, str], bytes]:
    if not data.startswith(_MAGIC):
        return {}, data  # not written by a driver (e.g. a test's hand-made snapshot)
    start = len(_MAGIC) + _LEN.size
    (size,) = _LEN.unpack_from(data, len(_MAGIC))
    book = json.loads(data[start : start + size])
    return {int(k): str(v) for k, v in book.items()}, data[start + size :]


class RaftDriver:
    """Owns a RaftNode and runs it: see the module docstring for the loop.

    `peers` is the initial address book (node id -> "host:port"); conf change entries and
    snapshots keep it current. `snapshot` is the snapshot storage restored on start (the core
    was built from the same `Restored`); the state machine is restored from it here.
    The caller runs the transport and closes the storage.
    """

    def __init__(
        self,
        core: RaftNode,
        storage: RaftStorage,
        transport: Transport,
        state_machine: StateMachine,
        *,
        clock: Clock | None = None,
        peers: Mapping[int, str] | None = None,
        snapshot: Snapshot | None = None,
        options: DriverOptions | None = None,
    ) -> None:
        self._core = core
        self._storage = storage
        self._transport = transport
        self._sm = state_machine
        self._clock = clock or LoopClock()
        self._options = options or DriverOptions()
        self.node_id = core.id
        self._members: dict[int, str] = {}
        self._inbox: asyncio.Queue[Callable[[], None]] = asyncio.Queue()
        self._busy = False
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self._stopped = False
        self._role = core.role
        self._leader = core.leader
        self._applied = core.applied
        self._applied_term = 0
        self._snapshot_index = 0
        # Waiters, all resolved by the loop task.
        self._proposals: dict[int, tuple[int, asyncio.Future[object]]] = {}  # index -> term
        self._reads: dict[bytes, asyncio.Future[int]] = {}
        self._applied_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._catchups: list[tuple[int, asyncio.Future[None]]] = []
        self._transfers: list[tuple[int, int, asyncio.Future[None]]] = []  # to, ticks left
        self._seq = itertools.count(1)
        transport.on_message = self.receive
        if snapshot is not None and not snapshot.empty:
            self._restore(snapshot)
        for node_id, address in (peers or {}).items():
            self._set_member(node_id, address)

    # -- what callers see ------------------------------------------------------------------

    @property
    def leader(self) -> int:
        return self._leader

    @property
    def role(self) -> Role:
        return self._role

    @property
    def applied(self) -> int:
        return self._applied

    @property
    def members(self) -> dict[int, str]:
        """The address book: every member the applied configuration knows an address for."""
        return dict(self._members)

    def status(self) -> Status:
        """The core's status now (per-member progress on the leader); read it, do not keep it."""
        return self._core.status()

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing in progress, or stopped (tests wait for this to settle)."""
        return not self._running or (not self._busy and self._inbox.empty())

    def receive(self, m: Message) -> None:
        """The transport's callback: queue a message from a peer for the core."""
        if self._running:
            self._inbox.put_nowait(partial(self._core.step, m))

    async def propose(self, data: bytes) -> object:
        """Replicate `data`; returns StateMachine.apply's result once applied here.

        Raises NotLeader (with the leader's id, 0 if unknown), ProposalLost, or the
        StorageError that stopped the driver.
        """
        if not data:
            raise ValueError("empty proposal: Raft uses empty entries internally; send data")
        return await self._submit(partial(self._do_propose, data))

    async def read_barrier(self) -> None:
        """Return once this member's state machine reflects every write acknowledged before
        the call (ReadIndex). Bound it with asyncio.timeout: a read sent to a leader that
        cannot confirm its leadership waits until the leader changes."""
        context = self.node_id.to_bytes(8, "big") + next(self._seq).to_bytes(8, "big")
        index: int = await self._submit(partial(self._do_read_index, context))
        await self._wait_applied(index)

    async def add_member(self, node_id: int, address: str) -> None:
        """Add `node_id` as a learner, wait until it has caught up, then make it a voter."""
        context = address.encode()
        await self._submit(
            partial(self._do_conf_change, ConfChange(ConfChangeType.ADD_LEARNER, node_id, context))
        )
        await self._submit(partial(self._do_wait_caught_up, node_id))
        await self._submit(
            partial(self._do_conf_change, ConfChange(ConfChangeType.ADD_VOTER, node_id, context))
        )

    async def remove_member(self, node_id: int) -> None:
        await self._submit(
            partial(self._do_conf_change, ConfChange(ConfChangeType.REMOVE, node_id))
        )

    async def transfer_leadership(self, to: int) -> None:
        """Hand leadership to `to`; returns when it leads. TimeoutError after `transfer_ticks`."""
        await self._submit(partial(self._do_transfer, to))

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop`. Raises the StorageError (or bug) that stopped the loop."""
        self._check_usable()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [tg.create_task(self._loop()), tg.create_task(self._ticker())]
        finally:
            self._stopped = True
            self._tasks = []
            self._fail_all(self._error or ProposalLost("the Raft driver stopped"))
        if self._error is not None:
            raise self._error

    async def stop(self) -> None:
        self._stopped = True
        for task in self._tasks:
            task.cancel()

    # -- the loop ----------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return not self._stopped and self._error is None

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopped:
            raise ProposalLost("the Raft driver stopped")

    async def _submit(self, op: Callable[[asyncio.Future[T]], None]) -> T:
        self._check_usable()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(partial(op, future))
        return await future

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self._options.tick_interval)
            self._inbox.put_nowait(self._do_tick)

    async def _loop(self) -> None:
        try:
            while True:
                op = await self._inbox.get()
                self._busy = True
                op()
                while True:
                    # Group commit: everything that queued up while the last Ready was being
                    # saved goes to the core now and into the next single save.
                    while not self._inbox.empty():
                        self._inbox.get_nowait()()
                    if not self._core.has_ready():
                        break
                    await self._handle_ready(self._core.ready())
                self._busy = False
        except Exception as e:
            log.exception("raft driver stopped", extra={"node_id": self.node_id})
            self._error = e
            self._fail_all(e)
            for task in self._tasks:
                task.cancel()

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            await asyncio.to_thread(self._storage.save_snapshot, rd.snapshot)
        if rd.hard_state is not None or rd.entries:
            await asyncio.to_thread(self._storage.save, rd.hard_state, rd.entries)
        self._transport.send(rd.messages)
        if rd.snapshot is not None:
            self._restore(rd.snapshot)
        for entry in rd.committed_entries:
            self._apply(entry)
        for rs in rd.read_states:
            self._on_read_state(rs)
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        self._core.advance(rd)
        self._resolve_applied()
        if self._applied - self._snapshot_index >= self._options.snapshot_interval:
            await self._take_snapshot()

    def _do_tick(self) -> None:
        self._core.tick()
        self._check_catchups()
        for i, (to, left, future) in enumerate(self._transfers):
            if left <= 1 and not future.done():
                future.set_exception(
                    TimeoutError(f"leadership transfer to node {to} did not finish; retry")
                )
            self._transfers[i] = (to, left - 1, future)
        self._transfers = [t for t in self._transfers if not t[2].done()]

    # -- operations posted by callers (run on the loop task) -----------------------------------

    def _do_propose(self, data: bytes, future: asyncio.Future[object]) -> None:
        if future.done():  # the caller gave up before the core saw it: do not propose
            return
        try:
            index = self._core.propose(data)
        except ProposalDropped as e:
            future.set_exception(self._refused(e))
            return
        self._proposals[index] = (self._core.term, future)

    def _do_conf_change(self, cc: ConfChange, future: asyncio.Future[object]) -> None:
        if future.done():
            return
        try:
            index = self._core.propose_conf_change(cc)
        except ProposalDropped as e:
            future.set_exception(self._refused(e))
            return
        except RaftError as e:  # ConfChangeInProgress: one change at a time
            future.set_exception(e)
            return
        self._proposals[index] = (self._core.term, future)

    def _do_read_index(self, context: bytes, future: asyncio.Future[int]) -> None:
        if future.done():
            return
        try:
            self._core.read_index(context)
        except ProposalDropped as e:
            future.set_exception(self._refused(e))
            return
        self._reads[context] = future

    def _do_wait_caught_up(self, node_id: int, future: asyncio.Future[None]) -> None:
        self._catchups.append((node_id, future))
        self._check_catchups()

    def _do_transfer(self, to: int, future: asyncio.Future[None]) -> None:
        if self._core.role is not Role.LEADER:
            future.set_exception(NotLeader(self._core.leader))
        elif self._core.leader == to:
            future.set_result(None)
        else:
            self._core.transfer_leadership(to)
            self._transfers.append((to, self._options.transfer_ticks, future))

    def _refused(self, e: ProposalDropped) -> RaftError:
        # Dropped while this member leads (a leadership transfer): the core's reason says why.
        return e if e.leader == self.node_id else NotLeader(e.leader)

    # -- applying ----------------------------------------------------------------------------

    def _apply(self, entry: Entry) -> None:
        result: object = None
        error: BaseException | None = None
        if entry.type is EntryType.CONF_CHANGE:
            self._apply_conf_change(ConfChange.decode(entry.data))
        elif entry.data:  # a new leader's empty entry is Raft's own, not the state machine's
            try:
                result = self._sm.apply(entry)
            except Exception as e:
                # The state machine is deterministic, so every member fails alike: the error is
                # the proposer's answer, and the log moves on.
                log.exception(
                    "applying entry %d failed", entry.index, extra={"node_id": self.node_id}
                )
                error = e
        self._applied, self._applied_term = entry.index, entry.term
        waiter = self._proposals.pop(entry.index, None)
        if waiter is None:
            return
        term, future = waiter
        if future.done():
            pass
        elif term != entry.term:
            future.set_exception(ProposalLost("overwritten"))
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _apply_conf_change(self, cc: ConfChange) -> None:
        if cc.type is ConfChangeType.REMOVE:
            self._members.pop(cc.node_id, None)
            if cc.node_id != self.node_id:
                self._transport.remove_peer(cc.node_id)
            for node_id, future in self._catchups:
                if node_id == cc.node_id and not future.done():
                    future.set_exception(ProposalLost(f"node {node_id} was removed"))
        elif cc.context:
            self._set_member(cc.node_id, cc.context.decode())

    def _set_member(self, node_id: int, address: str) -> None:
        self._members[node_id] = address
        if node_id != self.node_id:
            self._transport.add_peer(node_id, address)

    def _restore(self, snapshot: Snapshot) -> None:
        members, state = unwrap_snapshot_data(snapshot.data)
        self._sm.restore(state)
        for node_id in set(self._members) - set(members):
            self._members.pop(node_id)
            if node_id != self.node_id:
                self._transport.remove_peer(node_id)
        for node_id, address in members.items():
            self._set_member(node_id, address)
        meta = snapshot.meta
        self._applied, self._applied_term = meta.index, meta.term
        self._snapshot_index = meta.index
        for index in [i for i in self._proposals if i <= meta.index]:
            _, future = self._proposals.pop(index)
            if not future.done():
                future.set_exception(ProposalLost("superseded by the leader's snapshot"))

    async def _take_snapshot(self) -> None:
        meta = SnapshotMeta(self._applied, self._applied_term, self._core.conf_state)
        snapshot = Snapshot(meta, wrap_snapshot_data(self._members, self._sm.snapshot()))
        await asyncio.to_thread(self._storage.save_snapshot, snapshot)
        self._core.compact(snapshot, keep=self._options.snapshot_keep)
        self._snapshot_index = meta.index
        log.info("raft snapshot at index %d", meta.index, extra={"node_id": self.node_id})

    # -- resolving waiters -----------------------------------------------------------------

    async def _wait_applied(self, index: int) -> None:
        if self._applied >= index:
            return
        self._check_usable()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._applied_waiters, (index, next(self._seq), future))
        await future

    def _resolve_applied(self) -> None:
        while self._applied_waiters and self._applied_waiters[0][0] <= self._applied:
            future = heapq.heappop(self._applied_waiters)[2]
            if not future.done():
                future.set_result(None)

    def _on_read_state(self, rs: ReadState) -> None:
        future = self._reads.pop(rs.context, None)
        if future is not None and not future.done():
            future.set_result(rs.index)

    def _on_soft_state(self, ss: SoftState) -> None:
        if self._role is Role.LEADER and ss.role is not Role.LEADER:
            log.info("raft leadership lost", extra={"node_id": self.node_id})
            self._fail(self._proposals.pop(i)[1] for i in list(self._proposals))
            self._fail(f for _, f in self._catchups)
            self._catchups = []
        if ss.leader != self._leader:
            # A ReadIndex request forwarded to the old leader will never be answered.
            self._fail(self._reads.values(), reason="leader changed")
            self._reads = {}
            for to, _, future in self._transfers:
                if ss.leader == to and not future.done():
                    future.set_result(None)
        self._role, self._leader = ss.role, ss.leader

    def _check_catchups(self) -> None:
        if not self._catchups:
            return
        if self._core.role is not Role.LEADER:
            self._fail(f for _, f in self._catchups)
            self._catchups = []
            return
        status = self._core.status()
        lag = self._options.promote_lag
        for node_id, future in self._catchups:
            progress = status.progress.get(node_id)
            caught_up = progress is not None and progress.match + lag >= status.commit
            if caught_up and not future.done():
                future.set_result(None)
        self._catchups = [(n, f) for n, f in self._catchups if not f.done()]

    def _fail(self, futures: Iterable[_Waiter], reason: str = "leadership lost") -> None:
        for future in futures:
            if not future.done():
                future.set_exception(ProposalLost(reason))

    def _fail_all(self, error: BaseException) -> None:
        futures: list[_Waiter] = [f for _, f in self._proposals.values()]
        futures += self._reads.values()
        futures += [f for _, _, f in self._applied_waiters]
        futures += [f for _, f in self._catchups]
        futures += [f for _, _, f in self._transfers]
        self._proposals, self._reads, self._applied_waiters = {}, {}, []
        self._catchups, self._transfers = [], []
        for future in futures:
            if not future.done():
                future.set_exception(error)


class _Waiter(Protocol):
    """Any caller's future, whatever its result type, as far as failing it goes."""

    def done(self) -> bool: ...

    def set_exception(self, exception: type | BaseException, /) -> None: ...
