"""Storage: snapshots and compaction, cluster identity, encryption, fail-stop on write errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from manager.raft.cipher import Cipher, NullCipher
from manager.raft.errors import ClusterMismatchError, StorageError, WrongKeyError
from manager.raft.storage import Storage
from manager.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from tests.unit.raft.test_wal import ents, open_, reopen, segments

CONF = ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4}))


def snap(index: int, term: int = 1, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMeta(index=index, term=term, conf_state=CONF), data + b"@%d" % index)


def snap_files(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / "snap").iterdir())


class AesGcm:
    """What the security issue will supply; here to prove the Cipher seam."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        return self._aead.decrypt(ciphertext[:12], ciphertext[12:], None)


def _fill(directory: Path, last: int, segment_bytes: int = 1024) -> Storage:
    s, _ = open_(directory, segment_bytes=segment_bytes)
    for i in range(1, last + 1):
        s.save(HardState(term=1, vote=1, commit=i), ents(i, i, size=100))
    return s


# --- identity ---


@pytest.mark.parametrize("cluster_id, node_id", [("c-2", 1), ("c-1", 2)])
def test_another_clusters_or_nodes_directory_is_refused(
    tmp_path: Path, cluster_id: str, node_id: int
) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1), ents(1, 1))
    s.close()
    (seg,) = segments(tmp_path)
    with open(seg, "ab") as f:
        f.write(b"\x01\x02\x03")  # a torn tail, which is not ours to truncate
    size = seg.stat().st_size
    with pytest.raises(ClusterMismatchError, match="cluster 'c-1' node 1") as info:
        Storage.open(tmp_path, cluster_id=cluster_id, node_id=node_id)
    assert "remove this one to join afresh" in str(info.value)
    assert seg.stat().st_size == size


# --- snapshots ---


def test_snapshot_save_load_and_compaction(tmp_path: Path) -> None:
    s = _fill(tmp_path, 60)
    before = segments(tmp_path)
    s.save_snapshot(snap(40))
    after = segments(tmp_path)
    assert len(after) < len(before)
    s.save(HardState(term=2, vote=1, commit=61), [Entry(2, 61, data=b"x")])
    s.close()
    s, r = open_(tmp_path, segment_bytes=1024)
    s.close()
    assert r.snapshot == snap(40)
    assert r.entries[0].index == 41 and r.entries[-1] == Entry(2, 61, data=b"x")
    assert [e.index for e in r.entries] == list(range(41, 62))
    assert r.hard_state == HardState(term=2, vote=1, commit=61)
    # the segment holding the snapshot's entry is kept; every deleted one held only older entries
    assert all(int(p.name[17:33], 16) <= 41 for p in set(before) - set(after))
    assert int(after[0].name[17:33], 16) <= 40


def test_only_the_latest_two_snapshots_are_kept(tmp_path: Path) -> None:
    s = _fill(tmp_path, 30)
    for i in (10, 20, 30):
        s.save_snapshot(snap(i))
    s.save_snapshot(snap(20))  # older than the current one: ignored
    s.close()
    assert snap_files(tmp_path) == [
        "0000000000000001-0000000000000014.snap",
        "0000000000000001-000000000000001e.snap",
    ]
    assert reopen(tmp_path, segment_bytes=1024).snapshot == snap(30)


def test_a_damaged_newest_snapshot_falls_back_when_the_log_still_covers(tmp_path: Path) -> None:
    s = _fill(tmp_path, 30, segment_bytes=1 << 20)  # one segment: nothing gets compacted
    s.save_snapshot(snap(10))
    s.save_snapshot(snap(20))
    s.close()
    newest = tmp_path / "snap" / "0000000000000001-0000000000000014.snap"
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0xFF
    newest.write_bytes(bytes(data))
    r = reopen(tmp_path)
    assert r.snapshot == snap(10)
    assert [e.index for e in r.entries] == list(range(11, 31))
    assert newest.with_name(newest.name + ".broken").exists()  # out of the way, kept to inspect


def test_a_damaged_newest_snapshot_is_an_error_when_the_log_was_compacted(tmp_path: Path) -> None:
    s = _fill(tmp_path, 60)
    s.save_snapshot(snap(20))
    s.save_snapshot(snap(50))
    s.close()
    newest = tmp_path / "snap" / "0000000000000001-0000000000000032.snap"
    newest.write_bytes(newest.read_bytes()[:-1])
    with pytest.raises(StorageError) as info:
        open_(tmp_path, segment_bytes=1024)
    msg = str(info.value)
    assert str(newest) in msg and "the log holds entries from" in msg
    assert "remove its data directory and rejoin" in msg
    assert newest.exists()


def test_a_snapshot_from_the_leader_replaces_a_diverging_log(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1, vote=1), ents(1, 30, term=1))  # uncommitted, another history
    s.save_snapshot(snap(20, term=3))  # the leader's snapshot: entry 20 has term 3 there
    s.save(HardState(term=3, commit=20), [])
    s.close()
    s, r = open_(tmp_path)
    assert r.snapshot == snap(20, term=3)
    assert r.entries == ()  # 21..30 of the old history are gone too
    s.save(None, [Entry(3, 21, data=b"new")])
    s.close()
    assert reopen(tmp_path).entries == (Entry(3, 21, data=b"new"),)


def test_a_snapshot_that_matches_the_log_keeps_the_entries_after_it(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1, vote=1, commit=25), ents(1, 30, term=1))
    s.save_snapshot(snap(20, term=1))  # taken locally, or the leader's with the same history
    s.close()
    assert [e.index for e in reopen(tmp_path).entries] == list(range(21, 31))


def test_a_snapshot_from_the_leader_after_a_short_log(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1, vote=1, commit=3), ents(1, 5))
    s.save_snapshot(snap(100, term=2))  # crash before the hard state was saved
    s.close()
    s, r = open_(tmp_path)
    assert r.snapshot == snap(100, term=2)
    assert r.entries == ()
    assert r.hard_state == HardState(term=1, vote=1, commit=100)
    s.save(HardState(term=2, commit=101), [Entry(2, 101)])  # no gap after the snapshot
    s.close()
    assert reopen(tmp_path).entries == (Entry(2, 101),)


def test_snapshots_without_a_log_are_refused(tmp_path: Path) -> None:
    s = _fill(tmp_path, 5)
    s.save_snapshot(snap(5))
    s.close()
    for p in segments(tmp_path):
        p.unlink()
    for _ in range(2):  # and it stays refused: the first attempt created nothing
        with pytest.raises(StorageError, match="has snapshots but no Raft log"):
            open_(tmp_path)


# --- encryption ---


def test_cipher_round_trip_keeps_no_plaintext_on_disk(tmp_path: Path) -> None:
    key = AESGCM.generate_key(bit_length=256)
    secret = b"top-secret-payload"
    s, _ = Storage.open(tmp_path, cluster_id="c-1", node_id=1, cipher=AesGcm(key))
    s.save(HardState(term=1, commit=1), [Entry(1, 1, data=secret)])
    s.save_snapshot(snap(1, data=secret))
    s.save(None, [Entry(1, 2, data=secret + b"2")])
    s.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert secret not in on_disk
    s, r = Storage.open(tmp_path, cluster_id="c-1", node_id=1, cipher=AesGcm(key))
    s.close()
    assert r.snapshot == snap(1, data=secret)
    assert r.entries == (Entry(1, 2, data=secret + b"2"),)


@pytest.mark.parametrize(
    "written, opened, match",
    [
        ("key", "other-key", "cannot decrypt"),
        ("key", None, "started without a key"),
        (None, "key", "started with a key"),
    ],
)
def test_a_wrong_or_missing_key_is_a_clear_error(
    tmp_path: Path, written: str | None, opened: str | None, match: str
) -> None:
    def cipher(name: str | None) -> Cipher | None:
        return None if name is None else AesGcm(name.encode().ljust(32, b"k")[:32])

    s, _ = Storage.open(tmp_path, cluster_id="c-1", node_id=1, cipher=cipher(written))
    s.save(HardState(term=1), [Entry(1, 1, data=b"x")])
    s.close()
    with pytest.raises(WrongKeyError, match=match):
        Storage.open(tmp_path, cluster_id="c-1", node_id=1, cipher=cipher(opened))


def test_null_cipher_is_no_encryption(tmp_path: Path) -> None:
    s, _ = Storage.open(tmp_path, cluster_id="c-1", node_id=1, cipher=NullCipher())
    s.save(None, [Entry(1, 1, data=b"plain")])
    s.close()
    assert reopen(tmp_path).entries == (Entry(1, 1, data=b"plain"),)


# --- fail-stop ---


def _fail_once(monkeypatch: pytest.MonkeyPatch, name: str, err: int, partial: bool = False) -> None:
    real = getattr(os, name)
    state = {"failed": False}

    def broken(fd: int, *args: object) -> object:
        if state["failed"]:
            return real(fd, *args)
        state["failed"] = True
        if partial:  # half the batch reaches the file, then the disk is full
            data = args[0]
            assert isinstance(data, memoryview)
            real(fd, data[: len(data) // 2])
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, name, broken)


@pytest.mark.parametrize(
    "call, err, partial, says",
    [
        ("fdatasync", errno.EIO, False, "check the disk"),
        ("write", errno.ENOSPC, True, "free space"),
        ("write", errno.ENOSPC, False, "free space"),
    ],
)
def test_a_failed_save_is_refused_for_good_and_nothing_half_written_survives(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    err: int,
    partial: bool,
    says: str,
) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1, commit=2), ents(1, 2))  # acknowledged
    _fail_once(monkeypatch, call, err, partial)
    with pytest.raises(StorageError, match=os.strerror(err)) as info:
        s.save(HardState(term=1, commit=12), ents(3, 12, size=300))
    assert says in str(info.value)
    # the disk works again, but this storage must not acknowledge anything any more
    with pytest.raises(StorageError, match="refuses to write"):
        s.save(HardState(term=1, commit=3), ents(3, 3))
    with pytest.raises(StorageError, match="refuses to write"):
        s.save_snapshot(snap(2))
    s.close()
    monkeypatch.undo()
    r = reopen(tmp_path)
    assert [e.index for e in r.entries] == [1, 2]
    assert r.hard_state == HardState(term=1, commit=2)


def test_a_failed_snapshot_write_is_refused_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _fill(tmp_path, 5)
    _fail_once(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(StorageError, match="could not write a snapshot"):
        s.save_snapshot(snap(5))
    monkeypatch.undo()
    assert snap_files(tmp_path) == []  # no temp file left behind
    with pytest.raises(StorageError, match="refuses to write"):
        s.save(None, ents(6, 6))
    s.close()
    r = reopen(tmp_path, segment_bytes=1024)
    assert r.snapshot is None and r.entries[-1].index == 5


def test_save_after_close_is_refused(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.close()
    with pytest.raises(StorageError, match="closed"):
        s.save(None, ents(1, 1))
