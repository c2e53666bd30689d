"""The gRPC transport on loopback: messages and multi-MiB snapshots arrive in order; frames from
another cluster or an unknown sender are dropped; a sender reconnects after its peer restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from manager.raft.transport import GrpcTransport, InMemoryNetwork
from manager.raft.types import ConfState, Message, MessageType, Snapshot, SnapshotMeta

CLUSTER = "cluster-a"


@asynccontextmanager
async def running(*transports: GrpcTransport) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as tg:
        for t in transports:
            await t.start()
            tg.create_task(t.run())
        try:
            yield
        finally:
            for t in transports:
                await t.stop()


def transport(node_id: int, inbox: asyncio.Queue[Message], cluster: str = CLUSTER) -> GrpcTransport:
    return GrpcTransport(
        node_id=node_id,
        cluster_id=cluster,
        listen="127.0.0.1:0",
        on_message=inbox.put_nowait,
        backoff_initial=0.01,
        backoff_max=0.05,
    )


def heartbeat(frm: int, to: int, term: int) -> Message:
    return Message(MessageType.HEARTBEAT, to=to, frm=frm, term=term, commit=term)


async def test_message_and_chunked_snapshot_arrive_in_order() -> None:
    inbox1: asyncio.Queue[Message] = asyncio.Queue()
    inbox2: asyncio.Queue[Message] = asyncio.Queue()
    t1, t2 = transport(1, inbox1), transport(2, inbox2)
    async with running(t1, t2):
        t1.add_peer(2, f"127.0.0.1:{t2.port}")
        t2.add_peer(1, f"127.0.0.1:{t1.port}")
        data = bytes(range(256)) * (5 * 4096 + 7)  # ~5 MiB: six 1 MiB chunks
        snap = Snapshot(SnapshotMeta(100, 3, ConfState(frozenset({1, 2}))), data)
        sent = [
            heartbeat(1, 2, 3),
            Message(MessageType.SNAP, to=2, frm=1, term=3, snapshot=snap),
            heartbeat(1, 2, 4),
        ]
        t1.send(sent)
        async with asyncio.timeout(10):
            received = [await inbox2.get() for _ in sent]
            t2.send([Message(MessageType.HEARTBEAT_RESP, to=1, frm=2, term=4)])
            reply = await inbox1.get()
    assert received == sent
    assert reply.type is MessageType.HEARTBEAT_RESP and reply.frm == 2


async def test_frames_from_another_cluster_or_an_unknown_sender_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    receiver = transport(1, inbox)
    stranger = transport(7, asyncio.Queue(), cluster="cluster-b")
    unknown = transport(8, asyncio.Queue())
    member = transport(2, asyncio.Queue())
    async with running(receiver, stranger, unknown, member):
        receiver.add_peer(7, "127.0.0.1:1")  # known id, but it speaks for another cluster
        receiver.add_peer(2, "127.0.0.1:1")
        for sender in (stranger, unknown, member):
            sender.add_peer(1, f"127.0.0.1:{receiver.port}")
        stranger.send([heartbeat(7, 1, 1)])
        unknown.send([heartbeat(8, 1, 1)])
        async with asyncio.timeout(5):
            # Poll the log capture (it has no event): the bad frames arrived and were dropped...
            while len(_warnings(caplog)) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            member.send([heartbeat(2, 1, 5)])  # ...and the receiver still takes good ones
            got = await inbox.get()
    assert got == heartbeat(2, 1, 5)
    assert inbox.empty()
    warnings = "\n".join(_warnings(caplog))
    assert "from cluster 'cluster-b', expected 'cluster-a'" in warnings
    assert "unknown node 8" in warnings


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_sender_reconnects_after_the_peer_restarts() -> None:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sender, first = transport(1, asyncio.Queue()), transport(2, inbox)
    async with running(sender):
        async with running(first):
            sender.add_peer(2, f"127.0.0.1:{first.port}")
            first.add_peer(1, "127.0.0.1:1")
            sender.send([heartbeat(1, 2, 1)])
            async with asyncio.timeout(5):
                assert (await inbox.get()).term == 1
        second = GrpcTransport(
            node_id=2,
            cluster_id=CLUSTER,
            listen=f"127.0.0.1:{first.port}",
            on_message=inbox.put_nowait,
        )
        second.add_peer(1, "127.0.0.1:1")
        async with running(second), asyncio.timeout(5):
            # Messages written into the dead stream are lost; Raft would retransmit them.
            term = 2
            while inbox.empty():
                sender.send([heartbeat(1, 2, term)])
                term += 1
                await asyncio.sleep(0.02)
            assert (await inbox.get()).term >= 2


def test_full_queue_drops_the_newest_messages() -> None:
    t = GrpcTransport(node_id=1, cluster_id=CLUSTER, listen="127.0.0.1:0", queue_size=2)
    t.add_peer(2, "127.0.0.1:1")  # not running: nothing drains the queue
    t.send([heartbeat(1, 2, term) for term in (1, 2, 3, 4)])
    queue = t._peers[2].queue
    assert [queue.get_nowait().term for _ in range(queue.qsize())] == [1, 2]
    assert t._peers[2].dropped == 2


def test_in_memory_network_records_and_partitions() -> None:
    net = InMemoryNetwork()
    a, b = net.transport(1), net.transport(2)
    got: list[Message] = []
    b.on_message = got.append
    a.add_peer(2, "b:1")
    b.add_peer(1, "a:1")
    a.send([heartbeat(1, 2, 1)])
    net.cut(1, 2)
    a.send([heartbeat(1, 2, 2)])
    net.heal()
    a.send([heartbeat(1, 2, 3), heartbeat(1, 3, 3)])  # node 3 has no address: dropped
    assert [m.term for m in got] == [1, 3]
    assert [m.term for m in a.sent] == [1, 2, 3, 3]
    assert [(m.to, m.term) for m in net.dropped] == [(2, 2), (3, 3)]
    assert a.calls == [("add_peer", 2, "b:1")]
