"""One simulated manager: a RaftNode, what it has "fsynced", and a small key-value store.

The durable state is modelled on `storage.Storage`: the WAL's replay semantics are the real
ones (`wal.Replayed`: an entry at index i replaces everything from i on; a snapshot from the
leader that does not match the log discards it), restored the way `storage._restore` does.
A crash throws away the RaftNode and everything it had not saved; a restart builds a new one
from `Durable.restore()`, like the driver does from `Storage.open()`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace

from manager.raft.core import Config, RaftNode
from manager.raft.types import Entry, HardState, Snapshot
from manager.raft.wal import Replayed


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold (or the core did something it must never do)."""


def encode_write(key: str, value: str) -> bytes:
    return f"{key}={value}".encode()


def decode_write(data: bytes) -> tuple[str, str]:
    key, _, value = data.decode().partition("=")
    return key, value


class KvStore:
    """The replicated state machine: each key holds the values appended to it, in order."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[str, ...]] = {}

    def apply(self, data: bytes) -> None:
        key, value = decode_write(data)
        self.data[key] = (*self.data.get(key, ()), value)

    def snapshot(self) -> bytes:
        return json.dumps(self.data, sort_keys=True).encode()

    def restore(self, data: bytes) -> None:
        self.data = {k: tuple(v) for k, v in json.loads(data).items()} if data else {}


@dataclass(frozen=True, slots=True)
class Restored:
    hard_state: HardState
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]


@dataclass
class Durable:
    """What one member has fsynced (its data directory)."""

    snapshot: Snapshot | None = None
    wal: Replayed = field(default_factory=Replayed)

    @property
    def snap_index(self) -> int:
        return self.snapshot.meta.index if self.snapshot is not None else 0

    def save_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.meta.index <= self.snap_index:
            return  # like Storage.save_snapshot: not newer, ignored
        self.snapshot = snapshot
        self.wal.mark_snapshot(snapshot.meta.index, snapshot.meta.term)

    def save(self, node_id: int, hard_state: HardState | None, entries: tuple[Entry, ...]) -> None:
        if entries:
            last = max(self.wal.entries[-1].index if self.wal.entries else 0, self.snap_index)
            if entries[0].index > last + 1:
                raise SafetyViolation(
                    f"node {node_id} handed out entries from {entries[0].index} to persist but "
                    f"its storage ends at {last}: that would leave a gap in the WAL"
                )
            for a, b in itertools.pairwise(entries):
                if b.index != a.index + 1:
                    raise SafetyViolation(f"node {node_id}: Ready entries are not consecutive")
        if hard_state is not None:
            self.wal.hard_state = hard_state
        for e in entries:
            self.wal.add(e)

    def restore(self, node_id: int) -> Restored:
        """Like `storage._restore`: the newest snapshot, the entries after it, the hard state."""
        snap_index = self.snap_index
        entries = tuple(e for e in self.wal.entries if e.index > snap_index)
        last = entries[-1].index if entries else snap_index
        hs = self.wal.hard_state
        if entries and entries[0].index != snap_index + 1:
            raise SafetyViolation(
                f"node {node_id}'s storage holds entries from {entries[0].index} after a "
                f"snapshot at {snap_index}: Storage.open would refuse it"
            )
        if hs.commit > last:
            raise SafetyViolation(
                f"node {node_id} persisted commit {hs.commit} but its log ends at {last}: "
                "Storage.open would refuse it"
            )
        if hs.commit < snap_index:
            hs = replace(hs, commit=snap_index)
        return Restored(hs, self.snapshot, entries)


@dataclass
class SimNode:
    id: int
    config: Config
    durable: Durable = field(default_factory=Durable)
    raft: RaftNode | None = None  # None while crashed
    kv: KvStore = field(default_factory=KvStore)
    applied: int = 0  # the last index applied to `kv`
    applied_term: int = 0
    snapshot_index: int = 0  # the last snapshot taken or installed
    incarnation: int = 0  # bumped on every crash: events of a dead incarnation are ignored
    ready_scheduled: bool = False
    removed: bool = False  # removed from the cluster and stopped for good

    @property
    def alive(self) -> bool:
        return self.raft is not None

    def start(self, seed: int) -> RaftNode:
        """(Re)start from the durable state: a brand-new member starts empty."""
        restored = self.durable.restore(self.id)
        self.config = replace(self.config, seed=seed)
        self.raft = RaftNode(
            self.config,
            hard_state=restored.hard_state,
            snapshot=restored.snapshot,
            entries=restored.entries,
        )
        self.kv = KvStore()
        snap = restored.snapshot
        self.kv.restore(snap.data if snap is not None else b"")
        self.applied = self.snapshot_index = snap.meta.index if snap is not None else 0
        self.applied_term = snap.meta.term if snap is not None else 0
        self.ready_scheduled = False
        return self.raft

    def crash(self) -> None:
        self.raft = None
        self.incarnation += 1
        self.ready_scheduled = False
