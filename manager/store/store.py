"""The store: tables of typed objects, read views, write transactions, watch events.

    update(fn) -> WriteTx -> StoreBatch -> Proposer -> apply_batch(batch, index) on every manager
                                                              -> tables + ObjectEvents + CommitEvent

The store is also the Raft state machine (`apply`, `snapshot`, `restore`), so one instance is
handed to the Raft driver as its state machine and given a RaftProposer around that driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar, cast

from manager.store import codec
from manager.store.batch import Op, StoreBatch, StoreSnapshot
from manager.store.errors import SequenceError, StoreError
from manager.store.ids import new_id
from manager.store.objects import (
    Cluster,
    Config,
    Meta,
    Network,
    Node,
    Secret,
    Service,
    Stack,
    StoreObject,
    Task,
)
from manager.store.proposer import BatchResult, LocalProposer, Proposer
from manager.store.tables import new_tables
from manager.store.tx import Overlay, ReadTx, StoreState, WriteTx
from manager.store.watch import Broker, CommitEvent, Event, ObjectEvent, ResetEvent, Watch

# A write transaction that lost a race with another write is run again this many times.
CONFLICT_RETRIES = 5

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=StoreObject)


class EntryLike(Protocol):
    """What `apply` needs of a Raft entry (manager.raft.types.Entry)."""

    @property
    def index(self) -> int: ...

    @property
    def data(self) -> bytes: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(
        self,
        proposer: Proposer | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        id_source: Callable[[], str] = new_id,
    ) -> None:
        """Without a proposer the store applies its own writes (LocalProposer)."""
        self._state = StoreState(new_tables())
        self._broker = Broker()
        self._clock = clock
        self._new_id = id_source
        self._proposer: Proposer = proposer if proposer is not None else LocalProposer(self)

    def attach(self, proposer: Proposer) -> None:
        """Send writes through `proposer` from now on (e.g. a RaftProposer once the driver
        that holds this store as its state machine exists)."""
        self._proposer = proposer

    @property
    def index(self) -> int:
        """Index of the last batch applied (the Raft index, or the local counter)."""
        return self._state.index

    # -- reads, writes, events ---------------------------------------------------------------

    def view(self) -> ReadTx:
        """A consistent read-only view, valid until the next await. Local state: on a
        follower it may lag the leader; for a linearizable read call the Raft driver's
        `read_barrier()` first, then take the view."""
        return ReadTx(self._state)

    async def update(self, fn: Callable[[WriteTx], T]) -> T:
        """Run `fn` on a write transaction, then commit its changes as ONE batch, applied
        atomically (all or nothing) on every manager. Returns what `fn` returned; raises the
        StoreError `fn` or the apply raised (nothing is written then), or the proposer's
        error (NotLeader, ProposalLost).

        When another write to the same objects commits between `fn`'s read and this batch's
        commit, the apply refuses the batch as out of sequence; `fn` then runs again on the new
        state (it re-checks everything it checked, so an update based on a version the caller
        read earlier still fails), up to CONFLICT_RETRIES times."""
        for attempt in range(CONFLICT_RETRIES + 1):
            tx = WriteTx(self._state, now=self._clock, new_id=self._new_id)
            try:
                value = fn(tx)
            finally:
                batch = tx.close()
            if not batch.actions:
                return value
            result = await self._proposer.propose(batch)
            if result.error is None:
                return value
            if not isinstance(result.error, SequenceError) or attempt == CONFLICT_RETRIES:
                raise result.error
        raise AssertionError("unreachable")

    def watch(
        self,
        *kinds: type[StoreObject],
        predicate: Callable[[ObjectEvent], bool] | None = None,
    ) -> Watch:
        """Events from now on: ObjectEvents of these kinds (all if none given) that pass
        `predicate`, and every CommitEvent and ResetEvent. Close it when done."""
        return self._broker.subscribe(tuple(kinds), predicate)

    def view_and_watch(
        self,
        *kinds: type[StoreObject],
        predicate: Callable[[ObjectEvent], bool] | None = None,
    ) -> tuple[ReadTx, Watch]:
        """A view and a watch starting exactly after it: nothing missed, nothing twice."""
        return self.view(), self.watch(*kinds, predicate=predicate)

    # -- applying (every manager) ------------------------------------------------------------

    def apply_batch(self, batch: StoreBatch, index: int) -> BatchResult:
        """Apply all of `batch` at `index`, or none of it. Deterministic: every check depends
        only on the current state and the batch, so every manager reaches the same result."""
        overlay = Overlay(self._state)
        try:
            for action in batch.actions:
                obj = action.obj
                current = overlay.check(action.op, obj)
                if action.op is Op.REMOVE:
                    overlay.stage_removal(type(obj), obj.id)
                    continue
                created = obj.meta.created_at if current is None else current.meta.created_at
                meta = Meta(index, created, obj.meta.updated_at)
                overlay.stage(dataclasses.replace(obj, meta=meta))
        except StoreError as e:
            self._state.index = index
            return BatchResult(index, e)
        events: list[Event] = []
        for (cls, id), new in overlay.staged.items():
            table = self._state.tables[cls]
            if new is None:
                old = table.delete(id)
                if old is not None:
                    events.append(ObjectEvent(Op.REMOVE, old, None, index))
            else:
                old = table.put(new)
                op = Op.CREATE if old is None else Op.UPDATE
                events.append(ObjectEvent(op, old, new, index))
        self._state.index = index
        self._state.generation += 1
        events.append(CommitEvent(index))
        self._broker.publish(events)
        return BatchResult(index)

    # -- Raft state machine ------------------------------------------------------------------

    def apply(self, entry: EntryLike) -> BatchResult:
        """A committed Raft entry holding a StoreBatch (the driver passes the result, with any
        StoreError in it, to the proposer)."""
        return self.apply_batch(codec.decode_batch(entry.data), entry.index)

    def snapshot(self) -> bytes:
        """The whole store; tables sorted by id so every replica gives the same bytes."""
        snap = StoreSnapshot(
            index=self._state.index,
            clusters=self._sorted(Cluster),
            nodes=self._sorted(Node),
            services=self._sorted(Service),
            tasks=self._sorted(Task),
            networks=self._sorted(Network),
            secrets=self._sorted(Secret),
            configs=self._sorted(Config),
            stacks=self._sorted(Stack),
        )
        return codec.encode_snapshot(snap)

    def restore(self, data: bytes) -> None:
        """Replace everything with a snapshot. Watchers get one ResetEvent, no object events;
        views opened before are stale."""
        snap = codec.decode_snapshot(data)
        tables = new_tables()
        for objects in (
            snap.clusters,
            snap.nodes,
            snap.services,
            snap.tasks,
            snap.networks,
            snap.secrets,
            snap.configs,
            snap.stacks,
        ):
            for obj in objects:
                tables[type(obj)].put(obj)
        self._state.tables = tables
        self._state.index = snap.index
        self._state.generation += 1
        self._broker.publish([ResetEvent(snap.index)])

    def _sorted(self, cls: type[ObjT]) -> tuple[ObjT, ...]:
        objects = self._state.tables[cls].objects
        return tuple(cast(ObjT, objects[id]) for id in sorted(objects))
