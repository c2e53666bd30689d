"""Conversions between the Raft value types and `proto/raft.proto` (the only place besides
the transport that imports `raft_pb2`).

A message travels as one `Frame`. A SNAP message is the exception: its snapshot data can be
far larger than any sane gRPC message, so the `Message` frame carries only the metadata
(`has_snapshot`, `snapshot_meta`) and is followed by `SnapshotChunk` frames of at most
`CHUNK_SIZE` bytes; `Reassembler` joins them and only then yields the whole `Message`.

    sender:   Message ──encode_frames──▶ [Frame(message), Frame(chunk)…, Frame(chunk, last)]
    receiver: Frame… ──Reassembler.feed──▶ None, None, …, Message (with Snapshot.data)
"""

from __future__ import annotations

from collections.abc import Iterator

from manager.raft.types import (
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMeta,
)
from proto import raft_pb2

CHUNK_SIZE = 1 << 20  # bytes of snapshot data per SnapshotChunk frame


class WireError(ValueError):
    """A peer sent a frame that does not decode to a valid Raft message.

    The transport drops the frame and logs this; the sender's Raft retransmits what matters.
    """


def entry_to_pb(e: Entry) -> raft_pb2.Entry:
    return raft_pb2.Entry(term=e.term, index=e.index, type=int(e.type), data=e.data)


def entry_from_pb(pb: raft_pb2.Entry) -> Entry:
    try:
        kind = EntryType(pb.type)
    except ValueError:
        raise WireError(f"entry {pb.index} has unknown type {pb.type}") from None
    return Entry(term=pb.term, index=pb.index, type=kind, data=pb.data)


def meta_to_pb(meta: SnapshotMeta) -> raft_pb2.SnapshotMeta:
    return raft_pb2.SnapshotMeta(
        index=meta.index,
        term=meta.term,
        conf_state=raft_pb2.ConfState(
            voters=sorted(meta.conf_state.voters), learners=sorted(meta.conf_state.learners)
        ),
    )


def meta_from_pb(pb: raft_pb2.SnapshotMeta) -> SnapshotMeta:
    return SnapshotMeta(
        index=pb.index,
        term=pb.term,
        conf_state=ConfState(
            voters=frozenset(pb.conf_state.voters), learners=frozenset(pb.conf_state.learners)
        ),
    )


def message_to_pb(m: Message) -> raft_pb2.Message:
    """The message without its snapshot data (see `encode_frames` for the data)."""
    pb = raft_pb2.Message(
        type=int(m.type),
        to=m.to,
        term=m.term,
        log_term=m.log_term,
        index=m.index,
        entries=[entry_to_pb(e) for e in m.entries],
        commit=m.commit,
        reject=m.reject,
        reject_hint=m.reject_hint,
        has_snapshot=m.snapshot is not None,
        context=m.context,
    )
    setattr(pb, "from", m.frm)  # `from` is a Python keyword
    if m.snapshot is not None:
        pb.snapshot_meta.CopyFrom(meta_to_pb(m.snapshot.meta))
    return pb


def message_from_pb(pb: raft_pb2.Message, snapshot_data: bytes = b"") -> Message:
    """The message; its snapshot (if `has_snapshot`) gets `snapshot_data` as data."""
    try:
        kind = MessageType(pb.type)
    except ValueError:
        raise WireError(f"message has unknown type {pb.type}") from None
    snapshot = Snapshot(meta_from_pb(pb.snapshot_meta), snapshot_data) if pb.has_snapshot else None
    return Message(
        type=kind,
        to=pb.to,
        frm=getattr(pb, "from"),
        term=pb.term,
        log_term=pb.log_term,
        index=pb.index,
        entries=tuple(entry_from_pb(e) for e in pb.entries),
        commit=pb.commit,
        reject=pb.reject,
        reject_hint=pb.reject_hint,
        snapshot=snapshot,
        context=pb.context,
    )


def encode_frames(
    cluster_id: str, m: Message, chunk_size: int = CHUNK_SIZE
) -> Iterator[raft_pb2.Frame]:
    """The frames that carry `m`: the message, then its snapshot data in bounded chunks."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    yield raft_pb2.Frame(cluster_id=cluster_id, message=message_to_pb(m))
    if m.snapshot is None:
        return
    data = memoryview(m.snapshot.data)
    # At least one chunk, so that an empty snapshot still ends with `last`.
    offset = 0
    while True:
        piece = bytes(data[offset : offset + chunk_size])
        last = offset + len(piece) >= len(data)
        yield raft_pb2.Frame(
            cluster_id=cluster_id,
            chunk=raft_pb2.SnapshotChunk(offset=offset, data=piece, last=last),
        )
        if last:
            return
        offset += len(piece)


class Reassembler:
    """Per-stream state: turns the frames of one peer stream back into messages.

    `feed` returns a message when one is complete, None while a snapshot is still arriving, and
    raises WireError for an out-of-order or unexpected frame (the pending snapshot, if any, is
    then discarded so that the stream can carry on with the next message).
    """

    def __init__(self) -> None:
        self._pending: raft_pb2.Message | None = None
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def receiving_snapshot(self) -> bool:
        return self._pending is not None

    def feed(self, frame: raft_pb2.Frame) -> Message | None:
        body = frame.WhichOneof("body")
        if body == "message":
            if self._pending is not None:
                self._reset()
                raise WireError("a message frame arrived before the previous snapshot's last chunk")
            if frame.message.has_snapshot:
                message_from_pb(frame.message)  # validate now rather than after megabytes
                self._pending = frame.message
                return None
            return message_from_pb(frame.message)
        if body == "chunk":
            return self._chunk(frame.chunk)
        self._reset()
        raise WireError("frame carries neither a message nor a snapshot chunk")

    def _chunk(self, chunk: raft_pb2.SnapshotChunk) -> Message | None:
        if self._pending is None:
            raise WireError(f"snapshot chunk at offset {chunk.offset} without a SNAP message")
        if chunk.offset != self._size:
            expected = self._size
            self._reset()
            raise WireError(f"snapshot chunk at offset {chunk.offset}, expected {expected}")
        self._parts.append(chunk.data)
        self._size += len(chunk.data)
        if not chunk.last:
            return None
        pending, data = self._pending, b"".join(self._parts)
        self._reset()
        return message_from_pb(pending, data)

    def _reset(self) -> None:
        self._pending = None
        self._parts = []
        self._size = 0
