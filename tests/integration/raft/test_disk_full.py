"""A full disk, for real: a 1 MiB tmpfs. The storage refuses to acknowledge what it could not
persist, says why, and what it acknowledged before is intact on reopen."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from manager.raft.errors import StorageError
from manager.raft.storage import Storage
from manager.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta

pytestmark = pytest.mark.integration


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        # lazily if a failed test left a file open, so that the mount never outlives the test
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def _open(directory: Path) -> tuple[Storage, list[Entry], HardState]:
    s, r = Storage.open(directory, cluster_id="c-1", node_id=1, segment_bytes=128 << 10)
    return s, list(r.entries), r.hard_state


def test_a_full_disk_stops_acknowledgements_and_keeps_what_was_acknowledged(
    small_fs: Path,
) -> None:
    filler = small_fs / "filler"
    filler.write_bytes(bytes(300 << 10))  # leave room for a few segments only
    s, _, _ = _open(small_fs / "raft")
    acked: list[Entry] = []
    acked_hs = HardState()
    index = 0
    with pytest.raises(StorageError) as info:
        for _ in range(10_000):  # far more than fits
            batch = [Entry(1, index + i, data=os.urandom(1000)) for i in range(1, 9)]
            hs = HardState(term=1, vote=1, commit=index)
            s.save(hs, batch)
            acked += batch
            acked_hs = hs
            index += len(batch)
    msg = str(info.value)
    assert "No space left on device" in msg and "free space" in msg
    assert len(acked) > 100  # the disk held a fair amount before it filled up

    # Nothing more is acknowledged, however small, even a snapshot.
    with pytest.raises(StorageError, match="refuses to write"):
        s.save(HardState(term=2, vote=1, commit=index), [])
    with pytest.raises(StorageError, match="refuses to write"):
        s.save_snapshot(Snapshot(SnapshotMeta(index=1, term=1), b"x"))
    s.close()

    # Restart while the disk is still full: everything acknowledged is there, nothing else.
    s, entries, hs = _open(small_fs / "raft")
    assert entries == acked
    assert hs == acked_hs
    s.close()

    # The operator frees space and restarts: the node writes again.
    filler.unlink()
    s, _, _ = _open(small_fs / "raft")
    nxt = Entry(2, len(acked) + 1, data=b"after")
    s.save(HardState(term=2, vote=1, commit=len(acked)), [nxt])
    s.close()
    s, entries, hs = _open(small_fs / "raft")
    s.close()
    assert entries == [*acked, nxt]
    assert hs.term == 2


def test_a_snapshot_that_does_not_fit_is_refused_and_leaves_no_trace(small_fs: Path) -> None:
    s, _, _ = _open(small_fs / "raft")
    entries = [Entry(1, i, data=b"e%d" % i) for i in range(1, 11)]
    s.save(HardState(term=1, vote=1, commit=10), entries)
    big = Snapshot(SnapshotMeta(10, 1, ConfState(voters=frozenset({1}))), os.urandom(2 << 20))
    with pytest.raises(StorageError, match="could not write a snapshot") as info:
        s.save_snapshot(big)
    assert "No space left on device" in str(info.value)
    with pytest.raises(StorageError, match="refuses to write"):
        s.save(None, [Entry(1, 11)])
    s.close()
    assert list((small_fs / "raft" / "snap").iterdir()) == []  # the temp file is gone
    s, restored, hs = _open(small_fs / "raft")
    s.close()
    assert restored == entries and hs == HardState(term=1, vote=1, commit=10)
