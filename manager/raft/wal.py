"""The write-ahead log: CRC-protected records in numbered segment files.

    wal/<seq:016x>-<first index:016x>.wal     seq counts up from 1; the index is informative
    record  = header_crc u32 | length u32 | type u8 | payload_crc u32 | payload (length bytes)
              header_crc = crc32(length | type | payload_crc), payload_crc = crc32(payload),
              big-endian, zlib's CRC-32. The header has its own CRC so that a damaged length
              is detected instead of being mistaken for a record running past the end.
    segment = METADATA, HARD_STATE (the current one), then what save() appended

A save is one write() and one fdatasync() (entries first, the hard state last, so a hard
state is never accepted without the entries it commits). A new segment is written under a
temporary name, fsynced, renamed and the directory fsynced, so a segment always starts with a
whole METADATA record. On replay a damaged record at the end of the last segment (a write cut
short by a crash) is truncated; anywhere else it raises CorruptLogError.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from manager.raft.cipher import Cipher
from manager.raft.errors import ClusterMismatchError, CorruptLogError, WrongKeyError
from manager.raft.types import Entry, EntryType, HardState

FORMAT_VERSION = 1
# Encrypted with the cipher into every METADATA record: a wrong key fails here, clearly,
# instead of producing garbage entries.
KEY_CHECK = b"shoal raft storage key check v1"

_HEADER = struct.Struct(">IIBI")  # header_crc, length, type, payload_crc
_HEADER_BODY = struct.Struct(">IBI")  # what header_crc covers
_META = struct.Struct(">HQBH")  # version, node_id, flags, len(cluster_id)
_HARD_STATE = struct.Struct(">QQQ")  # term, vote, commit
_ENTRY = struct.Struct(">QQB")  # term, index, type; then the (encrypted) data
_SNAP_MARK = struct.Struct(">QQ")  # index, term
_FLAG_ENCRYPTED = 1
_SEGMENT_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.wal$")


class RecordType(enum.IntEnum):
    METADATA = 1
    HARD_STATE = 2
    ENTRY = 3
    SNAPSHOT = 4  # a snapshot at (index, term) was saved


def encode_record(rtype: RecordType, payload: bytes) -> bytes:
    body = _HEADER_BODY.pack(len(payload), rtype, zlib.crc32(payload))
    return zlib.crc32(body).to_bytes(4, "big") + body + payload


@dataclass(frozen=True, slots=True)
class Metadata:
    cluster_id: str
    node_id: int
    encrypted: bool
    key_check: bytes = b""  # KEY_CHECK encrypted with the cipher, if encrypted
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        cid = self.cluster_id.encode()
        flags = _FLAG_ENCRYPTED if self.encrypted else 0
        return _META.pack(self.version, self.node_id, flags, len(cid)) + cid + self.key_check

    @classmethod
    def decode(cls, payload: bytes) -> Metadata:
        version, node_id, flags, n = _META.unpack_from(payload)
        cid = payload[_META.size : _META.size + n]
        if len(cid) != n:
            raise ValueError("metadata record is too short for its cluster id")
        return cls(
            cid.decode(), node_id, bool(flags & _FLAG_ENCRYPTED), payload[_META.size + n :], version
        )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync(fd: int) -> None:
    # fdatasync flushes the data and the file size (all a reader needs), not the mtime.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass(slots=True)
class _Segment:
    path: Path
    seq: int
    max_index: int = 0  # highest entry index written into it (0: none)


@dataclass(slots=True)
class Replayed:
    """What the WAL holds: the last hard state and the log, latest version of each index."""

    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)  # contiguous

    def add(self, entry: Entry) -> None:
        log = self.entries
        if log and log[0].index <= entry.index <= log[-1].index + 1:
            del log[entry.index - log[0].index :]  # a later entry at i replaces >= i
        elif log:
            # Below what is left of the log, or after a gap that a snapshot received from the
            # leader filled: nothing before it still belongs to this log.
            log.clear()
        log.append(entry)

    def mark_snapshot(self, index: int, term: int) -> None:
        log = self.entries
        if (
            log
            and log[0].index <= index <= log[-1].index
            and log[index - log[0].index].term != term
        ):
            # A snapshot from the leader that does not match our entry at its index: the
            # entries written before it are another history (Raft discards them too).
            log.clear()


class WAL:
    """Appends to the last segment; see the module docstring for the format."""

    def __init__(
        self,
        directory: Path,
        segments: list[_Segment],
        metadata: Metadata,
        cipher: Cipher,
        segment_bytes: int,
        hard_state: HardState,
        last_index: int,
    ) -> None:
        self._dir = directory
        self._segments = segments
        self._metadata = metadata
        self._cipher = cipher
        self._segment_bytes = segment_bytes
        self._hard_state = hard_state
        self.last_index = last_index  # of the last entry written; 0 if none
        self._fd = os.open(segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    # --- opening ---

    @classmethod
    def open(
        cls, directory: Path, *, expected: Metadata, cipher: Cipher, segment_bytes: int
    ) -> tuple[WAL, Replayed]:
        """Replays every segment (truncating a torn tail), or creates the first one."""
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):  # a segment whose creation a crash interrupted
            tmp.unlink()
        segments = _list_segments(directory)
        if not segments:
            path = _create_segment(
                directory, 1, 1, [encode_record(RecordType.METADATA, expected.encode())]
            )
            wal = cls(
                directory, [_Segment(path, 1)], expected, cipher, segment_bytes, HardState(), 0
            )
            return wal, Replayed()
        replayed = Replayed()
        metadata: Metadata | None = None
        for i, seg in enumerate(segments):
            meta = _replay_segment(seg, replayed, cipher, expected, last=i == len(segments) - 1)
            metadata = metadata or meta
        assert metadata is not None
        last_index = replayed.entries[-1].index if replayed.entries else 0
        wal = cls(
            directory, segments, metadata, cipher, segment_bytes, replayed.hard_state, last_index
        )
        return wal, replayed

    # --- writing ---

    def append(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        """One write and one fdatasync for the whole batch. OSError leaves the file as it was
        (best effort); a partial record left behind is a torn tail that replay drops."""
        if hard_state is None and not entries:
            return
        if self._size >= self._segment_bytes:
            self._cut()
        buf = bytearray()
        for e in entries:
            head = _ENTRY.pack(e.term, e.index, e.type)
            buf += encode_record(RecordType.ENTRY, head + self._cipher.encrypt(e.data))
        if hard_state is not None:
            buf += _encode_hard_state(hard_state)
        self._write(buf)
        if entries:
            self.last_index = entries[-1].index
            seg = self._segments[-1]
            seg.max_index = max(seg.max_index, self.last_index)
        if hard_state is not None:
            self._hard_state = hard_state

    def mark_snapshot(self, index: int, term: int) -> None:
        self._write(encode_record(RecordType.SNAPSHOT, _SNAP_MARK.pack(index, term)))

    def _write(self, data: bytes | bytearray) -> None:
        try:
            _write_all(self._fd, data)
            _sync(self._fd)
        except OSError:
            # Do not leave complete records of a batch nobody will acknowledge; the caller
            # refuses every later write anyway.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
                _sync(self._fd)
            raise
        self._size += len(data)

    def _cut(self) -> None:
        seq = self._segments[-1].seq + 1
        prelude = [
            encode_record(RecordType.METADATA, self._metadata.encode()),
            _encode_hard_state(self._hard_state),
        ]
        path = _create_segment(self._dir, seq, self.last_index + 1, prelude)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.close(self._fd)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._segments.append(_Segment(path, seq))

    def delete_segments_below(self, index: int) -> None:
        """Deletes the oldest segments whose entries are all below `index` (never the last)."""
        while len(self._segments) > 1 and self._segments[0].max_index < index:
            self._segments[0].path.unlink(missing_ok=True)
            del self._segments[0]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _encode_hard_state(hs: HardState) -> bytes:
    return encode_record(RecordType.HARD_STATE, _HARD_STATE.pack(hs.term, hs.vote, hs.commit))


def _segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


def _create_segment(directory: Path, seq: int, first_index: int, records: list[bytes]) -> Path:
    path = directory / _segment_name(seq, first_index)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, b"".join(records))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # give the space back (a full disk is the usual cause)
        raise
    fsync_dir(directory)
    return path


def _list_segments(directory: Path) -> list[_Segment]:
    segments = []
    for p in directory.iterdir():
        m = _SEGMENT_NAME.match(p.name)
        if m:
            segments.append(_Segment(p, int(m.group(1), 16)))
    segments.sort(key=lambda s: s.seq)
    for prev, seg in itertools.pairwise(segments):
        if seg.seq != prev.seq + 1:
            raise CorruptLogError(
                seg.path, 0, f"the segment before it (number {prev.seq + 1}) is missing"
            )
    return segments


def _replay_segment(
    seg: _Segment, out: Replayed, cipher: Cipher, expected: Metadata, *, last: bool
) -> Metadata:
    data = seg.path.read_bytes()
    records, end = scan(seg.path, data, last=last)
    if not records or records[0][1] != RecordType.METADATA:
        raise CorruptLogError(seg.path, 0, "the segment does not start with a metadata record")
    try:
        metadata = Metadata.decode(records[0][2])
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise CorruptLogError(seg.path, 0, f"the metadata record is unreadable: {e}") from e
    # Identity and key first: never truncate another cluster's (or another key's) log.
    _check_metadata(seg.path, metadata, expected, cipher)
    if end < len(data):  # torn tail of the last segment: drop it for good
        with open(seg.path, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
    for offset, rtype, payload in records[1:]:
        try:
            if rtype == RecordType.HARD_STATE:
                out.hard_state = HardState(*_HARD_STATE.unpack(payload))
            elif rtype == RecordType.ENTRY:
                term, index, etype = _ENTRY.unpack_from(payload)
                plain = _decrypt(seg.path, cipher, payload[_ENTRY.size :])
                out.add(Entry(term, index, EntryType(etype), plain))
                seg.max_index = max(seg.max_index, index)
            elif rtype == RecordType.SNAPSHOT:
                out.mark_snapshot(*_SNAP_MARK.unpack(payload))
            else:
                raise ValueError(f"unknown record type {rtype} (written by a newer shoal?)")
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise CorruptLogError(
                seg.path, offset, f"the record's checksum is right but {e}"
            ) from e
    return metadata


def _decrypt(path: Path, cipher: Cipher, data: bytes) -> bytes:
    try:
        return cipher.decrypt(data)
    except Exception as e:  # the cipher's own error type is not known here
        raise WrongKeyError(
            f"cannot decrypt an entry in {path} although the key check passed ({e!r})"
        ) from e


def _check_metadata(path: Path, meta: Metadata, expected: Metadata, cipher: Cipher) -> None:
    if meta.version != FORMAT_VERSION:
        raise CorruptLogError(path, 0, f"WAL format version {meta.version} is not supported")
    if (meta.cluster_id, meta.node_id) != (expected.cluster_id, expected.node_id):
        raise ClusterMismatchError(
            f"{path.parent.parent} holds the Raft log of cluster {meta.cluster_id!r} node "
            f"{meta.node_id}, not cluster {expected.cluster_id!r} node {expected.node_id}: "
            "point this node at its own data directory, or remove this one to join afresh"
        )
    if meta.encrypted != expected.encrypted:
        state = "encrypted" if meta.encrypted else "not encrypted"
        raise WrongKeyError(
            f"the Raft log in {path.parent.parent} is {state} but the node was started "
            f"{'without' if meta.encrypted else 'with'} a key: start it with the matching setting"
        )
    if meta.encrypted:
        try:
            ok = cipher.decrypt(meta.key_check) == KEY_CHECK
        except Exception:  # any failure of the cipher means the same thing here
            ok = False
        if not ok:
            raise WrongKeyError(
                f"the key given cannot decrypt the Raft log in {path.parent.parent}: "
                "unlock the node with the cluster's current unlock key"
            )


def scan(path: Path, data: bytes, *, last: bool) -> tuple[list[tuple[int, int, bytes]], int]:
    """Splits a segment into (offset, type, payload) records; returns them and where the good
    records end. A damaged last record (or zeroes after the last good one) of the last segment
    is a torn tail and ends the scan there; any other damage raises CorruptLogError."""
    records: list[tuple[int, int, bytes]] = []
    off, n = 0, len(data)
    while off < n:
        if n - off < _HEADER.size:
            why, torn = f"the file ends inside a record header ({n - off} bytes)", True
        else:
            header_crc, length, rtype, payload_crc = _HEADER.unpack_from(data, off)
            end = off + _HEADER.size + length
            if zlib.crc32(data[off + 4 : off + _HEADER.size]) != header_crc:
                why, torn = "the record header's checksum does not match", _zeroes(data, off)
            elif end > n:
                why, torn = f"the record of {length} bytes runs past the end of the file", True
            elif zlib.crc32(data[off + _HEADER.size : end]) != payload_crc:
                why, torn = "the record's checksum does not match", _zeroes(data, end)
            else:
                records.append((off, rtype, data[off + _HEADER.size : end]))
                off = end
                continue
        if torn and last:
            return records, off
        if torn:
            why += ", in a segment that is not the last one"
        raise CorruptLogError(path, off, why)
    return records, off


def _zeroes(data: bytes, start: int) -> bool:
    return data.count(0, start) == len(data) - start
