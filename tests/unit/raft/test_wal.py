"""The WAL through the Storage API: round trips, group commit, torn tails, corruption."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.raft import wal as wal_module
from manager.raft.errors import CorruptLogError
from manager.raft.storage import Restored, Storage
from manager.raft.types import Entry, EntryType, HardState
from manager.raft.wal import scan

CLUSTER = "c-1"


def ents(lo: int, hi: int, term: int = 1, size: int = 8) -> list[Entry]:
    return [Entry(term, i, EntryType.NORMAL, bytes([i % 251]) * size) for i in range(lo, hi + 1)]


def open_(directory: Path, segment_bytes: int = 64 << 20) -> tuple[Storage, Restored]:
    return Storage.open(directory, cluster_id=CLUSTER, node_id=1, segment_bytes=segment_bytes)


def reopen(directory: Path, segment_bytes: int = 64 << 20) -> Restored:
    s, r = open_(directory, segment_bytes)
    s.close()
    return r


def segments(directory: Path) -> list[Path]:
    return sorted((directory / "wal").glob("*.wal"))


def record_offsets(path: Path) -> list[int]:
    records, _ = scan(path, path.read_bytes(), last=True)
    return [off for off, _, _ in records]


def test_fresh_directory_restores_nothing(tmp_path: Path) -> None:
    s, r = open_(tmp_path / "raft")
    s.close()
    assert r == Restored(HardState(), None, ())
    assert [p.name for p in segments(tmp_path / "raft")] == [
        "0000000000000001-0000000000000001.wal"
    ]


def test_round_trip(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    conf = Entry(2, 3, EntryType.CONF_CHANGE, b"\x01cc")
    s.save(HardState(term=1, vote=1, commit=0), ents(1, 2))
    s.save(HardState(term=2, vote=3, commit=2), [conf])
    s.save(None, [Entry(2, 4)])  # an empty entry, no hard state
    s.close()
    r = reopen(tmp_path)
    assert r.hard_state == HardState(term=2, vote=3, commit=2)
    assert r.entries == (*ents(1, 2), conf, Entry(2, 4))
    assert r.snapshot is None


def test_a_batch_is_one_write_and_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, _ = open_(tmp_path)
    calls: list[str] = []
    real_write, real_sync = os.write, os.fdatasync

    def write(fd: int, data: bytes) -> int:
        calls.append("write")
        return real_write(fd, data)

    def fdatasync(fd: int) -> None:
        calls.append("fsync")
        real_sync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    s.save(HardState(term=1, commit=100), ents(1, 100))
    assert calls == ["write", "fsync"]
    s.save(None, [])  # nothing to persist: no I/O at all
    assert calls == ["write", "fsync"]
    s.close()


def test_overwriting_a_suffix_keeps_the_latest(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1), ents(1, 5, term=1))
    s.save(HardState(term=2), ents(3, 4, term=2))  # a new leader replaced 3.. ; 5 is gone
    s.save(None, ents(5, 6, term=2))
    s.save(HardState(term=3), ents(6, 6, term=3))
    s.close()
    r = reopen(tmp_path)
    assert [(e.index, e.term) for e in r.entries] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 2),
        (6, 3),
    ]
    assert r.hard_state.term == 3


def test_a_gap_in_a_batch_is_refused_before_writing(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(None, ents(1, 2))
    with pytest.raises(ValueError, match="gap"):
        s.save(None, ents(4, 5))
    with pytest.raises(ValueError, match="consecutive"):
        s.save(None, [Entry(1, 3), Entry(1, 5)])
    s.save(None, ents(3, 3))  # the storage is still usable
    s.close()
    assert [e.index for e in reopen(tmp_path).entries] == [1, 2, 3]


def _three_batches(directory: Path) -> tuple[Path, int, int]:
    """Batches 1 and 2 acknowledged; batch 3 (entry 3 alone, one record) may be torn.
    Returns the segment and its size before and after batch 3."""
    s, _ = open_(directory)
    s.save(HardState(term=1, commit=1), ents(1, 1, size=100))
    s.save(HardState(term=1, commit=2), ents(2, 2, size=100))
    (seg,) = segments(directory)
    before = seg.stat().st_size
    s.save(None, ents(3, 3, size=100))
    s.close()
    return seg, before, seg.stat().st_size


@pytest.mark.parametrize("cut", [1, 4, 12, 13, 14, 60, -1], ids=lambda c: f"cut{c}")
def test_a_torn_tail_is_truncated_and_appends_continue(tmp_path: Path, cut: int) -> None:
    seg, before, after = _three_batches(tmp_path)
    keep = before + cut if cut > 0 else after + cut
    os.truncate(seg, keep)
    s, r = open_(tmp_path)
    assert [e.index for e in r.entries] == [1, 2]
    assert r.hard_state == HardState(term=1, commit=2)
    assert seg.stat().st_size == before  # truncated for good
    s.save(HardState(term=2, commit=3), [Entry(2, 3, data=b"again")])
    s.close()
    r = reopen(tmp_path)
    assert r.entries[-1] == Entry(2, 3, data=b"again")
    assert r.hard_state == HardState(term=2, commit=3)


def test_zeroes_after_the_last_record_are_a_torn_tail(tmp_path: Path) -> None:
    seg, _, after = _three_batches(tmp_path)
    with open(seg, "ab") as f:
        f.write(bytes(8192))  # e.g. preallocated or a size update that landed without data
    r = reopen(tmp_path)
    assert [e.index for e in r.entries] == [1, 2, 3]
    assert seg.stat().st_size == after


@pytest.mark.parametrize("where", ["payload", "payload-with-zeroes-after"])
def test_a_bad_checksum_on_the_last_record_is_a_torn_tail(tmp_path: Path, where: str) -> None:
    seg, before, _ = _three_batches(tmp_path)
    data = bytearray(seg.read_bytes())
    data[before + 50] ^= 0xFF
    if where == "payload-with-zeroes-after":
        data += bytes(100)
    seg.write_bytes(bytes(data))
    r = reopen(tmp_path)
    assert [e.index for e in r.entries] == [1, 2]


@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(min_value=0, max_value=1))
def test_any_cut_restores_exactly_the_whole_records_before_it(fraction: float) -> None:
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        s, _ = open_(directory)
        for i in range(1, 6):
            s.save(HardState(term=1, commit=i - 1), ents(i, i, size=40))
        s.close()
        (seg,) = segments(directory)
        offsets = record_offsets(seg)
        first, size = offsets[1], seg.stat().st_size  # keep the metadata record
        cut = first + round(fraction * (size - first))
        os.truncate(seg, cut)
        whole = [o for o in [*offsets[1:], size] if o <= cut]  # ends of whole records
        r = reopen(directory)
        # records alternate entry i, hard state (commit i-1)
        n_records = len(whole) - 1
        assert [e.index for e in r.entries] == list(range(1, (n_records + 1) // 2 + 1))
        assert seg.stat().st_size == whole[-1]


@pytest.mark.parametrize(
    "byte, what",
    [(0, "header"), (5, "header"), (8, "header"), (20, "checksum")],
    ids=["header-crc", "length", "type", "payload"],
)
def test_a_flipped_byte_in_the_middle_names_file_and_offset(
    tmp_path: Path, byte: int, what: str
) -> None:
    seg, _, _ = _three_batches(tmp_path)
    offset = record_offsets(seg)[1]  # entry 1, followed by four good records
    data = bytearray(seg.read_bytes())
    data[offset + byte] ^= 0x01
    seg.write_bytes(bytes(data))
    size = seg.stat().st_size
    with pytest.raises(CorruptLogError) as info:
        open_(tmp_path)
    err = info.value
    assert (err.path, err.offset) == (seg, offset)
    assert what in err.why
    assert str(seg) in str(err) and f"offset {offset}" in str(err)
    assert "remove its Raft data directory and rejoin" in str(err)
    assert seg.stat().st_size == size  # nothing truncated: the evidence stays


def test_rollover_to_new_segments_and_reopen(tmp_path: Path) -> None:
    s, _ = open_(tmp_path, segment_bytes=1024)
    for i in range(1, 41):
        s.save(HardState(term=1, vote=1, commit=i - 1), ents(i, i, size=100))
    s.save(None, ents(41, 41))  # the last hard state is in an older segment
    s.close()
    segs = segments(tmp_path)
    assert len(segs) > 3
    assert [int(p.name[:16], 16) for p in segs] == list(range(1, len(segs) + 1))
    assert int(segs[1].name[17:33], 16) > 1  # named after the first index it holds
    s, r = open_(tmp_path, segment_bytes=1024)
    assert r.entries == tuple(ents(1, 40, size=100)) + tuple(ents(41, 41))
    assert r.hard_state == HardState(term=1, vote=1, commit=39)
    s.save(HardState(term=2, commit=41), ents(42, 42))
    s.close()
    r = reopen(tmp_path)
    assert r.entries[-1].index == 42 and r.hard_state.commit == 41


def test_damage_at_the_end_of_an_older_segment_is_corruption(tmp_path: Path) -> None:
    s, _ = open_(tmp_path, segment_bytes=512)
    for i in range(1, 11):
        s.save(HardState(term=1, commit=i), ents(i, i, size=100))
    s.close()
    first = segments(tmp_path)[0]
    size = first.stat().st_size
    os.truncate(first, size - 3)
    with pytest.raises(CorruptLogError, match="not the last one") as info:
        open_(tmp_path)
    assert info.value.path == first


def test_a_missing_segment_is_corruption(tmp_path: Path) -> None:
    s, _ = open_(tmp_path, segment_bytes=512)
    for i in range(1, 11):
        s.save(HardState(term=1, commit=i), ents(i, i, size=100))
    s.close()
    segs = segments(tmp_path)
    segs[1].unlink()
    with pytest.raises(CorruptLogError, match="is missing") as info:
        open_(tmp_path)
    assert info.value.path == segs[2]


def test_a_segment_whose_creation_crashed_is_ignored(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.save(HardState(term=1), ents(1, 2))
    s.close()
    (tmp_path / "wal" / "0000000000000002-0000000000000003.wal.tmp").write_bytes(b"\x00\x01")
    assert [e.index for e in reopen(tmp_path).entries] == [1, 2]
    assert not list((tmp_path / "wal").glob("*.tmp"))


def test_unknown_record_type_is_corruption(tmp_path: Path) -> None:
    s, _ = open_(tmp_path)
    s.close()
    (seg,) = segments(tmp_path)
    with open(seg, "ab") as f:
        f.write(wal_module.encode_record(99, b"future"))  # type: ignore[arg-type]
        f.write(wal_module.encode_record(wal_module.RecordType.HARD_STATE, bytes(24)))
    with pytest.raises(CorruptLogError, match="unknown record type 99"):
        open_(tmp_path)
