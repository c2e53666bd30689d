"""Snapshot files: `snap/<term:016x>-<index:016x>.snap`, one per snapshot, CRC-protected.

    file = b"SHOALSNP" | version u16 | crc32(body) u32 | len(body) u64 | body
    body = index u64 | term u64 | node_id u64 | len u16 | cluster_id
           | n u32 | voters u64 * n | m u32 | learners u64 * m | data (encrypted by the cipher)

Written to `<name>.tmp`, fsynced, renamed, and the directory fsynced: a crash leaves either the
old set of snapshots or the new one, never a half-written `.snap`. A snapshot that fails its
check on open is renamed to `<name>.broken` (kept for inspection, never read again).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

from manager.raft.cipher import Cipher
from manager.raft.errors import ClusterMismatchError
from manager.raft.types import ConfState, Snapshot, SnapshotMeta
from manager.raft.wal import fsync_dir

_MAGIC = b"SHOALSNP"
_VERSION = 1
_FILE_HEADER = struct.Struct(">8sHIQ")  # magic, version, crc, body length
_BODY_HEAD = struct.Struct(">QQQH")  # index, term, node_id, len(cluster_id)
_COUNT = struct.Struct(">I")
_ID = struct.Struct(">Q")
_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.snap$")


class BadSnapshot(Exception):
    """A snapshot file that cannot be used; `why` says what is wrong with it."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"snapshot {path}: {why}")
        self.path = path
        self.why = why


class Snapshotter:
    def __init__(self, directory: Path, *, cluster_id: str, node_id: int, cipher: Cipher) -> None:
        self._dir = directory
        self._cluster_id = cluster_id
        self._node_id = node_id
        self._cipher = cipher
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.snap.tmp"):  # a save that a crash interrupted
            tmp.unlink()

    def save(self, snapshot: Snapshot) -> Path:
        path = self._dir / _name(snapshot.meta)
        tmp = path.with_name(path.name + ".tmp")
        data = self._encode(snapshot)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self._dir)
        return path

    def paths(self) -> list[Path]:
        """The snapshot files, newest (highest index) first."""
        found = []
        for p in self._dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(2), 16), int(m.group(1), 16), p))
        found.sort(reverse=True)
        return [p for _, _, p in found]

    def load(self, path: Path) -> Snapshot:
        """Raises BadSnapshot for a damaged file, ClusterMismatchError for another cluster's."""
        raw = path.read_bytes()
        if len(raw) < _FILE_HEADER.size:
            raise BadSnapshot(path, f"the file is only {len(raw)} bytes long")
        magic, version, crc, length = _FILE_HEADER.unpack_from(raw)
        body = raw[_FILE_HEADER.size :]
        if magic != _MAGIC:
            raise BadSnapshot(path, "it is not a shoal snapshot file")
        if version != _VERSION:
            raise BadSnapshot(path, f"format version {version} is not supported")
        if length != len(body):
            raise BadSnapshot(path, f"the header says {length} bytes of body, found {len(body)}")
        if zlib.crc32(body) != crc:
            raise BadSnapshot(path, "the checksum does not match")
        try:
            return self._decode(path, body)
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise BadSnapshot(path, f"the checksum is right but {e}") from e

    def quarantine(self, path: Path) -> None:
        os.replace(path, path.with_name(path.name + ".broken"))

    def prune(self, keep: int = 2) -> None:
        for p in self.paths()[keep:]:
            p.unlink(missing_ok=True)

    def _encode(self, snapshot: Snapshot) -> bytes:
        meta = snapshot.meta
        cid = self._cluster_id.encode()
        parts = [_BODY_HEAD.pack(meta.index, meta.term, self._node_id, len(cid)), cid]
        for ids in (meta.conf_state.voters, meta.conf_state.learners):
            parts.append(_COUNT.pack(len(ids)))
            parts.extend(_ID.pack(i) for i in sorted(ids))
        parts.append(self._cipher.encrypt(snapshot.data))
        body = b"".join(parts)
        return _FILE_HEADER.pack(_MAGIC, _VERSION, zlib.crc32(body), len(body)) + body

    def _decode(self, path: Path, body: bytes) -> Snapshot:
        index, term, node_id, n = _BODY_HEAD.unpack_from(body)
        off = _BODY_HEAD.size
        cluster_id = body[off : off + n].decode()
        off += n
        if (cluster_id, node_id) != (self._cluster_id, self._node_id):
            raise ClusterMismatchError(
                f"{path} belongs to cluster {cluster_id!r} node {node_id}, not cluster "
                f"{self._cluster_id!r} node {self._node_id}: point this node at its own data "
                "directory, or remove this one to join afresh"
            )
        groups: list[frozenset[int]] = []
        for _ in range(2):
            (count,) = _COUNT.unpack_from(body, off)
            off += _COUNT.size
            ids = struct.unpack_from(f">{count}Q", body, off)
            off += count * _ID.size
            groups.append(frozenset(ids))
        try:
            data = self._cipher.decrypt(body[off:])
        except Exception as e:  # the cipher's own error type is not known here
            raise BadSnapshot(path, f"its data cannot be decrypted ({e!r})") from e
        conf = ConfState(voters=groups[0], learners=groups[1])
        return Snapshot(SnapshotMeta(index=index, term=term, conf_state=conf), data)


def _name(meta: SnapshotMeta) -> str:
    return f"{meta.term:016x}-{meta.index:016x}.snap"
