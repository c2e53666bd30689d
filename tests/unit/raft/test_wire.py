"""The wire conversion: every message survives the trip, snapshots travel in bounded chunks."""

from __future__ import annotations

import pytest

from manager.raft import wire
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

SNAPSHOT = Snapshot(
    SnapshotMeta(index=70, term=4, conf_state=ConfState(frozenset({1, 2, 3}), frozenset({9}))),
    data=bytes(range(256)) * 40,
)


def _through_the_wire(m: Message, chunk_size: int = wire.CHUNK_SIZE) -> list[Message | None]:
    r = wire.Reassembler()
    frames = wire.encode_frames("c1", m, chunk_size)
    return [r.feed(raft_pb2.Frame.FromString(f.SerializeToString())) for f in frames]


@pytest.mark.parametrize(
    "m",
    [
        Message(
            MessageType.APP,
            to=2,
            frm=1,
            term=3,
            log_term=2,
            index=10,
            entries=(Entry(3, 11, EntryType.NORMAL, b"x"), Entry(3, 12, EntryType.CONF_CHANGE)),
            commit=9,
        ),
        Message(MessageType.APP_RESP, to=1, frm=2, term=3, index=8, reject=True, reject_hint=5),
        Message(MessageType.VOTE, to=3, frm=1, term=(1 << 64) - 1, log_term=2, index=7),
        Message(MessageType.PRE_VOTE_RESP, to=1, frm=3, term=4, reject=True),
        Message(MessageType.HEARTBEAT, to=2, frm=1, term=3, commit=9, context=b"ctx"),
        Message(MessageType.TIMEOUT_NOW, to=2, frm=1, term=3),
        Message(MessageType.READ_INDEX, to=1, frm=2, entries=(Entry(0, 0, data=b"rid"),)),
        Message(MessageType.SNAP, to=2, frm=1, term=4, snapshot=SNAPSHOT),
        Message(MessageType.SNAP, to=2, frm=1, term=4, snapshot=Snapshot(SNAPSHOT.meta)),
    ],
    ids=lambda m: m.type.name,
)
def test_message_round_trips(m: Message) -> None:
    *partial, whole = _through_the_wire(m, chunk_size=1000)
    assert partial == [None] * len(partial)
    assert whole == m


def test_snapshot_data_travels_in_bounded_chunks_after_the_metadata() -> None:
    m = Message(MessageType.SNAP, to=2, frm=1, term=4, snapshot=SNAPSHOT)  # 10240 bytes
    frames = list(wire.encode_frames("c1", m, chunk_size=4096))
    assert [f.WhichOneof("body") for f in frames] == ["message", "chunk", "chunk", "chunk"]
    assert frames[0].message.has_snapshot and frames[0].message.snapshot_meta.index == 70
    assert [len(f.chunk.data) for f in frames[1:]] == [4096, 4096, 2048]
    assert [f.chunk.last for f in frames[1:]] == [False, False, True]
    assert all(f.cluster_id == "c1" for f in frames)


def _frame(**kw: object) -> raft_pb2.Frame:
    return raft_pb2.Frame(cluster_id="c1", **kw)  # type: ignore[arg-type]


def test_chunk_without_a_snapshot_message_is_rejected() -> None:
    with pytest.raises(wire.WireError, match="without a SNAP message"):
        wire.Reassembler().feed(_frame(chunk=raft_pb2.SnapshotChunk(offset=0, data=b"x")))


def test_chunk_at_the_wrong_offset_discards_the_snapshot_and_the_stream_recovers() -> None:
    r = wire.Reassembler()
    snap = Message(MessageType.SNAP, to=2, frm=1, snapshot=SNAPSHOT)
    first, chunk, *_ = wire.encode_frames("c1", snap, chunk_size=100)
    assert r.feed(first) is None and r.feed(chunk) is None
    with pytest.raises(wire.WireError, match="offset 500, expected 100"):
        r.feed(_frame(chunk=raft_pb2.SnapshotChunk(offset=500, data=b"x")))
    assert not r.receiving_snapshot
    heartbeat = Message(MessageType.HEARTBEAT, to=2, frm=1, term=1)
    assert r.feed(next(wire.encode_frames("c1", heartbeat))) == heartbeat


def test_message_before_the_last_chunk_is_rejected() -> None:
    r = wire.Reassembler()
    snap = Message(MessageType.SNAP, to=2, frm=1, snapshot=SNAPSHOT)
    assert r.feed(next(wire.encode_frames("c1", snap))) is None
    with pytest.raises(wire.WireError, match="before the previous snapshot"):
        r.feed(next(wire.encode_frames("c1", Message(MessageType.HEARTBEAT, to=2, frm=1))))


@pytest.mark.parametrize(
    "frame",
    [
        _frame(message=raft_pb2.Message(type=99, to=2)),
        _frame(message=raft_pb2.Message(type=0, to=2, entries=[raft_pb2.Entry(type=7)])),
        _frame(),
    ],
    ids=["unknown message type", "unknown entry type", "empty frame"],
)
def test_malformed_frames_raise_wire_error(frame: raft_pb2.Frame) -> None:
    with pytest.raises(wire.WireError):
        wire.Reassembler().feed(frame)
