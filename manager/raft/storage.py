"""Durable Raft storage: the WAL (wal.py) and snapshot files (snapshotter.py) in one directory.

    <directory>/wal/<seq>-<first index>.wal    hard state and entries, see wal.py
    <directory>/snap/<term>-<index>.snap        snapshots, see snapshotter.py

    open:  check cluster/node/key -> replay WAL (truncate a torn tail) -> newest good snapshot
           -> entries after it (must follow it without a gap) -> Restored
    save:  entries + hard state -> one write, one fdatasync
    save_snapshot: snap file (tmp, fsync, rename, fsync dir) -> WAL mark -> drop old segments
           and all but the latest two snapshots

Blocking file I/O: the driver calls it from a thread. Fail-stop: after a write fails, every
later save raises StorageError, so the node never acknowledges what it could not persist.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from manager.raft.cipher import Cipher, NullCipher
from manager.raft.errors import StorageError
from manager.raft.snapshotter import BadSnapshot, Snapshotter
from manager.raft.types import Entry, HardState, Snapshot
from manager.raft.wal import KEY_CHECK, WAL, Metadata, Replayed, fsync_dir

KEEP_SNAPSHOTS = 2


@dataclass(frozen=True)
class Restored:
    hard_state: HardState
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]  # after the snapshot, latest version of each index


class Storage:
    def __init__(self, directory: Path, wal: WAL, snapshotter: Snapshotter, snap_index: int):
        self._dir = directory
        self._wal = wal
        self._snapshotter = snapshotter
        self._snap_index = snap_index
        self._lock = threading.Lock()
        self._failure: str | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        cluster_id: str,
        node_id: int,
        cipher: Cipher | None = None,
        segment_bytes: int = 64 << 20,
    ) -> tuple[Storage, Restored]:
        """Creates the directory on first use, else replays it. Raises ClusterMismatchError for
        another cluster's or node's directory, WrongKeyError for a wrong or missing key,
        CorruptLogError for a damaged record that is not at the tail."""
        directory = Path(directory)
        if not directory.exists():
            directory.mkdir(parents=True)
            fsync_dir(directory.parent)
        encrypted = cipher is not None and not isinstance(cipher, NullCipher)
        cipher = cipher or NullCipher()
        expected = Metadata(
            cluster_id, node_id, encrypted, cipher.encrypt(KEY_CHECK) if encrypted else b""
        )
        if not any((directory / "wal").glob("*.wal")) and any((directory / "snap").glob("*.snap")):
            # Checked before WAL.open creates a first segment, so that it stays refused.
            raise StorageError(
                f"{directory} has snapshots but no Raft log (wal/ is missing or empty): the "
                "member's term and vote are lost; remove its data directory and rejoin it"
            )
        wal, replayed = WAL.open(
            directory / "wal", expected=expected, cipher=cipher, segment_bytes=segment_bytes
        )
        try:
            snapper = Snapshotter(
                directory / "snap", cluster_id=cluster_id, node_id=node_id, cipher=cipher
            )
            fsync_dir(directory)
            restored = _restore(directory, replayed, snapper)
        except BaseException:
            wal.close()
            raise
        snap_index = restored.snapshot.meta.index if restored.snapshot else 0
        return cls(directory, wal, snapper, snap_index), restored

    def save(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        """Persists a batch with one write and one fsync. Entries must be consecutive and may
        overwrite a suffix of the log. Raises StorageError, then refuses every later save."""
        with self._lock:
            self._check_usable()
            if entries:
                _check_batch(entries, max(self._wal.last_index, self._snap_index))
            try:
                self._wal.append(hard_state, entries)
            except OSError as e:
                raise self._fail(e, "append to the Raft log") from e

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Makes the snapshot durable, then drops the WAL segments it covers and all but the
        latest two snapshot files. A snapshot not newer than the current one is ignored."""
        with self._lock:
            self._check_usable()
            meta = snapshot.meta
            if meta.index <= self._snap_index:
                return
            try:
                self._snapshotter.save(snapshot)
                self._wal.mark_snapshot(meta.index, meta.term)
            except OSError as e:
                raise self._fail(e, "write a snapshot") from e
            self._snap_index = meta.index
            try:
                self._wal.delete_segments_below(meta.index)
                self._snapshotter.prune(KEEP_SNAPSHOTS)
            except OSError:
                pass  # only housekeeping: the next snapshot deletes them

    def close(self) -> None:
        with self._lock:
            self._wal.close()
            self._failure = self._failure or "the storage was closed"

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise StorageError(f"Raft storage in {self._dir} refuses to write: {self._failure}")

    def _fail(self, e: OSError, what: str) -> StorageError:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            todo = "free space on that filesystem, then restart the node"
        elif e.errno == errno.EIO:
            todo = (
                "check the disk (dmesg); restart the node if the disk is healthy, otherwise "
                "remove this member's data directory and rejoin it on healthy storage"
            )
        else:
            todo = "fix the cause, then restart the node"
        self._failure = (
            f"could not {what} in {self._dir}: {os.strerror(e.errno or 0)} "
            f"(errno {e.errno}); nothing in that batch was acknowledged and this member "
            f"accepts no more writes: {todo}"
        )
        return StorageError(self._failure)


def _check_batch(entries: Sequence[Entry], last_index: int) -> None:
    # A gap would be the driver's bug; refuse before anything reaches the disk.
    if entries[0].index > last_index + 1:
        raise ValueError(f"entry {entries[0].index} would leave a gap after entry {last_index}")
    for a, b in itertools.pairwise(entries):
        if b.index != a.index + 1:
            raise ValueError(f"entries {a.index} and {b.index} in one batch are not consecutive")


def _restore(directory: Path, replayed: Replayed, snapper: Snapshotter) -> Restored:
    paths = snapper.paths()
    snapshot: Snapshot | None = None
    broken: list[BadSnapshot] = []
    for path in paths:
        try:
            snapshot = snapper.load(path)
            break
        except BadSnapshot as e:
            broken.append(e)
    snap_index = snapshot.meta.index if snapshot else 0
    entries = [e for e in replayed.entries if e.index > snap_index]
    last = entries[-1].index if entries else snap_index
    hs = replayed.hard_state
    problem = None
    if entries and entries[0].index != snap_index + 1:
        problem = f"the log holds entries from {entries[0].index}, not from {snap_index + 1}"
    elif hs.commit > last:
        problem = f"entries up to {hs.commit} were committed but the log ends at {last}"
    if problem:
        found = f"the newest snapshot is damaged ({broken[0]}) and " if broken else ""
        raise StorageError(
            f"cannot restore the Raft state in {directory}: {found}{problem}. Restore this "
            "member from a healthy one: remove its data directory and rejoin it to the cluster"
        )
    for bad in broken:  # fell back to an older snapshot that the log still follows
        snapper.quarantine(bad.path)
    if hs.commit < snap_index:  # the node crashed between saving a snapshot and its state
        hs = replace(hs, commit=snap_index)
    return Restored(hs, snapshot, tuple(entries))
