"""Moving Raft messages between managers: gRPC streams on the cluster port, and an in-memory
network for unit tests.

    driver ─send()─▶ per-peer queue ─▶ sender task ─Frame stream─▶ peer's RaftServicer
                      (bounded)        (reconnects,                 (checks cluster and sender,
                                        backoff)                     reassembles snapshots)
                                                                          │
    driver ◀──────────────────────── on_message(Message) ◀───────────────┘

Delivery is best effort and in order per peer: Raft retransmits whatever is lost, so a full
queue or a broken connection drops messages rather than blocking the driver.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from manager.raft import wire
from manager.raft.types import Message
from proto import raft_pb2, raft_pb2_grpc

log = logging.getLogger(__name__)

OnMessage = Callable[[Message], None]

MAX_MESSAGE_BYTES = 64 << 20  # an APP batch holds at least one entry, whatever its size
_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def _drop(_: Message) -> None:
    """The receiver until the driver attaches itself: messages are dropped (Raft retransmits)."""


@dataclass
class _Peer:
    node_id: int
    address: str
    queue: asyncio.Queue[Message]
    task: asyncio.Task[None] | None = None
    dropped: int = 0


class GrpcTransport:
    """Raft over gRPC: one client stream per peer to send, a `Raft.Stream` server to receive.

    `listen` is the "host:port" to serve on (port 0 picks one; see `port` after `start`). With
    `shared_server`, the Raft service is added to that server instead (the manager's cluster-port
    server, with its other services and its interceptors); its owner starts and stops it.
    Credentials come from outside (the CA supplies mutual TLS); None means plaintext, for tests.
    `channel_options` are added to every channel dialed (e.g. the TLS target name override).
    """

    def __init__(
        self,
        *,
        node_id: int,
        cluster_id: str,
        listen: str,
        server_credentials: grpc.ServerCredentials | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
        on_message: OnMessage = _drop,
        queue_size: int = 4096,
        chunk_size: int = wire.CHUNK_SIZE,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        rng: random.Random | None = None,
        shared_server: grpc.aio.Server | None = None,
        channel_options: Sequence[tuple[str, str | int]] = (),
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.on_message = on_message
        self._listen = listen
        self._server_credentials = server_credentials
        self._channel_credentials = channel_credentials
        self._queue_size = queue_size
        self._chunk_size = chunk_size
        self._backoff = (backoff_initial, backoff_max)
        self._options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self._channel_options = list(channel_options)
        self._rng = rng or random.Random()
        self._peers: dict[int, _Peer] = {}
        self._server: grpc.aio.Server | None = None
        self._shared = shared_server is not None
        if shared_server is not None:
            raft_pb2_grpc.add_RaftServicer_to_server(RaftServicer(self), shared_server)  # type: ignore[no-untyped-call]
        self._tg: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    # -- the Transport protocol ------------------------------------------------------------

    def send(self, messages: Sequence[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                log.debug("no address for raft peer %d; dropping %s", m.to, m.type.name)
                continue
            try:
                peer.queue.put_nowait(m)
            except asyncio.QueueFull:
                # Drop the newest, like etcd's "sending buffer is full": the queue keeps its
                # order and Raft retransmits (heartbeats and probes recover the follower).
                peer.dropped += 1
                if peer.dropped == 1 or peer.dropped % 1000 == 0:
                    log.warning(
                        "raft send queue to node %d is full; dropped %d message(s)",
                        m.to,
                        peer.dropped,
                        extra={"node_id": self.node_id},
                    )

    def add_peer(self, node_id: int, address: str) -> None:
        if node_id == self.node_id:
            return
        old = self._peers.get(node_id)
        if old is not None and old.address == address:
            return
        if old is not None:
            self.remove_peer(node_id)
        peer = _Peer(node_id, address, asyncio.Queue(self._queue_size))
        self._peers[node_id] = peer
        if self._tg is not None:
            peer.task = self._tg.create_task(self._sender(peer))

    def remove_peer(self, node_id: int) -> None:
        peer = self._peers.pop(node_id, None)
        if peer is not None and peer.task is not None:
            peer.task.cancel()

    @property
    def peers(self) -> dict[int, str]:
        return {p.node_id: p.address for p in self._peers.values()}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving (so that `port` is known before `run`)."""
        if self._server is not None or self._shared:
            return
        server = grpc.aio.server(
            options=[
                *self._options,
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                ("grpc.http2.max_ping_strikes", 0),
            ]
        )
        raft_pb2_grpc.add_RaftServicer_to_server(RaftServicer(self), server)  # type: ignore[no-untyped-call]
        if self._server_credentials is None:
            self.port = server.add_insecure_port(self._listen)
        else:
            self.port = server.add_secure_port(self._listen, self._server_credentials)
        await server.start()
        self._server = server

    async def run(self) -> None:
        await self.start()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for peer in self._peers.values():
                    peer.task = tg.create_task(self._sender(peer))
                await self._stopping.wait()
                for peer in self._peers.values():
                    if peer.task is not None:
                        peer.task.cancel()
        finally:
            self._tg = None
            if self._server is not None:
                # In-flight messages may be lost: Raft retransmits them.
                await self._server.stop(grace=None)
                self._server = None

    async def stop(self) -> None:
        self._stopping.set()

    # -- receiving ---------------------------------------------------------------------------

    def _receive(self, frame: raft_pb2.Frame, stream: _Stream) -> None:
        if frame.cluster_id != self.cluster_id:
            stream.warn_once(
                f"frame from cluster {frame.cluster_id!r}, expected {self.cluster_id!r}"
            )
            return
        try:
            m = stream.reassembler.feed(frame)
        except wire.WireError as e:
            stream.warn_once(str(e))
            return
        if m is None:
            return
        if m.to != self.node_id:
            stream.warn_once(f"message for node {m.to} arrived at node {self.node_id}")
        elif m.frm not in self._peers:
            stream.warn_once(f"message from unknown node {m.frm} (not a member)")
        else:
            try:
                self.on_message(m)
            except Exception:
                log.exception("raft: handling a message from node %d failed", m.frm)

    # -- sending -----------------------------------------------------------------------------

    def _channel(self, address: str) -> grpc.aio.Channel:
        options = [*self._options, *_KEEPALIVE, *self._channel_options]
        if self._channel_credentials is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, self._channel_credentials, options=options)

    async def _sender(self, peer: _Peer) -> None:
        initial, ceiling = self._backoff
        delay = initial
        while True:
            try:
                async with self._channel(peer.address) as channel:
                    stub = raft_pb2_grpc.RaftStub(channel)  # type: ignore[no-untyped-call]
                    call = stub.Stream()
                    try:
                        while True:
                            m = await peer.queue.get()
                            for frame in wire.encode_frames(self.cluster_id, m, self._chunk_size):
                                await call.write(frame)
                            delay = initial
                    except asyncio.InvalidStateError:
                        # The call already ended (e.g. the peer is not up): say why it ended.
                        why = f"{(await call.code()).name}: {await call.details()}"
                        raise ConnectionError(why) from None
                    finally:
                        call.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # The message being written is lost; Raft retransmits it.
                log.info(
                    "raft stream to node %d at %s failed (%s); reconnecting in %.2fs",
                    peer.node_id,
                    peer.address,
                    _describe(e),
                    delay,
                    extra={"node_id": self.node_id},
                )
            # Full jitter in [delay/2, delay] so that peers do not reconnect in lockstep.
            await asyncio.sleep(delay * (0.5 + self._rng.random() / 2))
            delay = min(delay * 2, ceiling)


def _describe(e: Exception) -> str:
    if isinstance(e, grpc.aio.AioRpcError):
        return f"{e.code().name}: {e.details()}"
    return f"{type(e).__name__}: {e}"


@dataclass
class _Stream:
    """One incoming peer stream: its snapshot reassembly and the problems already logged."""

    peer: str
    node_id: int
    reassembler: wire.Reassembler = field(default_factory=wire.Reassembler)
    warned: set[str] = field(default_factory=set)

    def warn_once(self, why: str) -> None:
        if why not in self.warned:
            self.warned.add(why)
            log.warning(
                "raft: dropping frame(s) from %s: %s",
                self.peer,
                why,
                extra={"node_id": self.node_id},
            )


class RaftServicer(raft_pb2_grpc.RaftServicer):
    """Thin: hands each frame of a peer stream to the transport."""

    def __init__(self, transport: GrpcTransport) -> None:
        self._transport = transport

    async def Stream(
        self, request_iterator: AsyncIterator[raft_pb2.Frame], context: grpc.aio.ServicerContext
    ) -> raft_pb2.StreamAck:
        stream = _Stream(peer=context.peer(), node_id=self._transport.node_id)
        async for frame in request_iterator:
            self._transport._receive(frame, stream)
        return raft_pb2.StreamAck()


# -- in-memory transport for unit tests ------------------------------------------------------


class InMemoryNetwork:
    """Connects several in-memory transports in one event loop.

    Delivery is synchronous (straight into the receiver's `on_message`, which only queues),
    in order, and through the wire encoding unless `roundtrip` is False. `isolate`, `cut` and
    `heal` drop messages like a partition; every message is recorded in `delivered` or
    `dropped`.
    """

    def __init__(self, *, cluster_id: str = "test-cluster", roundtrip: bool = True) -> None:
        self.cluster_id = cluster_id
        self.roundtrip = roundtrip
        self.transports: dict[int, InMemoryTransport] = {}
        self.blocked: set[tuple[int, int]] = set()
        self.delivered: list[Message] = []
        self.dropped: list[Message] = []

    def transport(self, node_id: int) -> InMemoryTransport:
        t = InMemoryTransport(self, node_id)
        self.transports[node_id] = t
        return t

    def cut(self, a: int, b: int) -> None:
        self.blocked |= {(a, b), (b, a)}

    def isolate(self, node_id: int) -> None:
        for other in self.transports:
            if other != node_id:
                self.cut(node_id, other)

    def heal(self) -> None:
        self.blocked.clear()

    def _deliver(self, m: Message) -> None:
        receiver = self.transports.get(m.to)
        if receiver is None or (m.frm, m.to) in self.blocked or m.frm not in receiver.peers:
            self.dropped.append(m)
            return
        if self.roundtrip:
            reassembler = wire.Reassembler()
            frames = list(wire.encode_frames(self.cluster_id, m, chunk_size=64 << 10))
            decoded = [
                reassembler.feed(raft_pb2.Frame.FromString(f.SerializeToString())) for f in frames
            ]
            m = decoded[-1] or m
        self.delivered.append(m)
        receiver.on_message(m)


class InMemoryTransport:
    """A fake Transport: records what it was asked to do and delivers through its network."""

    def __init__(self, network: InMemoryNetwork, node_id: int) -> None:
        self.network = network
        self.node_id = node_id
        self.on_message: OnMessage = _drop
        self.peers: dict[int, str] = {}
        self.sent: list[Message] = []
        self.calls: list[
            tuple[str, int, str]
        ] = []  # ("add_peer", id, address) / ("remove_peer", id, "")

    def send(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.sent.append(m)
            if m.to in self.peers:
                self.network._deliver(m)
            else:
                self.network.dropped.append(m)

    def add_peer(self, node_id: int, address: str) -> None:
        self.calls.append(("add_peer", node_id, address))
        if node_id != self.node_id:
            self.peers[node_id] = address

    def remove_peer(self, node_id: int) -> None:
        self.calls.append(("remove_peer", node_id, ""))
        self.peers.pop(node_id, None)

    async def run(self) -> None:
        """Nothing to run; present so that it can stand in wherever a transport is run."""

    async def stop(self) -> None:
        """Nothing to stop."""
