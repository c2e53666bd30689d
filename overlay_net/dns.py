"""The embedded DNS server: 127.0.0.11:53 inside every container, answering from shoald.

    open(key, ns) ─▶ worker thread: setns(ns), UDP + TCP sockets bound to 127.0.0.11:53,
                     setns back ─▶ served on shoald's event loop (a socket stays in the
                     namespace it was created in, whoever reads it)
    query ─▶ parse ─▶ our name?  A: its addresses, shuffled; AAAA/other types: NOERROR, empty
                   └▶ not ours ─▶ forwarded as is to the container's --dns servers, else the
                                  host's /etc/resolv.conf nameservers, from shoald's own
                                  namespace (so 127.0.0.53 works); 2 s per server, SERVFAIL
                                  when none answers
    set_records(key, ...) ─▶ replaces the container's names; the next query sees them

Like Docker's embedded DNS: TTL 600, answers in random order (round robin between clients
that take the first address), names matched case-insensitively (the question's own spelling
is echoed), the container's search domains left to its resolver library. A malformed packet
is dropped; a query that is not a standard query gets NOTIMP, one without exactly one
question FORMERR. Forwarding runs in its own task, so a slow upstream holds up only the
query waiting on it; at most MAX_FORWARDS are in flight per container (more get SERVFAIL).
A UDP answer too large for the client (512 bytes, or its EDNS0 size) is cut and marked
truncated, and the client asks again over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import cast

from overlay_net.dnsmsg import (
    MAX_MESSAGE,
    OPCODE_QUERY,
    QCLASS_IN,
    MalformedMessage,
    Query,
    Rcode,
    RRType,
    build_reply,
    frame,
    frame_length,
    parse_header,
    parse_query,
)
from overlay_net.netns import in_netns

log = logging.getLogger(__name__)

DNS_ADDRESS = ("127.0.0.11", 53)
TTL = 600
FORWARD_TIMEOUT = 2.0  # seconds per upstream server
MAX_UPSTREAM = 3  # like glibc's MAXNS: more nameservers than this are never asked
MAX_FORWARDS = 1024  # per container, like Docker
TCP_IDLE = 10.0  # seconds a TCP client may keep a connection without sending a query
RESOLV_CONF = Path("/etc/resolv.conf")

Address = IPv4Address | IPv6Address
Server = tuple[str, int]
Binder = Callable[[Path], tuple[socket.socket, socket.socket]]


class EmbeddedDNSError(Exception):
    """The server could not listen in a container; the message says where and why."""


def bind_in_netns(ns: Path) -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound to 127.0.0.11:53 in `ns` (blocking: call it in a thread)."""
    with in_netns(ns):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(DNS_ADDRESS)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(DNS_ADDRESS)
        tcp.listen(128)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


@dataclass
class _Names:
    records: dict[str, tuple[Address, ...]]
    upstream: tuple[Server, ...]


@dataclass
class _Listener:
    """One container's sockets and the tasks answering on them."""

    ns_id: tuple[int, int]
    udp: asyncio.DatagramTransport | None = None
    udp_closed: asyncio.Future[None] | None = None
    tcp: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("DNS query handling failed", exc_info=task.exception())

    async def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.udp_closed is not None:
            await self.udp_closed  # the transport closes its socket a loop turn later
        if self.tcp is not None:
            await self.tcp.wait_closed()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(
        self, on_query: Callable[[bytes, tuple[str, int], asyncio.DatagramTransport], None]
    ) -> None:
        self._on_query = on_query
        self._transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (3.11's selector transport does not subclass DatagramTransport, though it is one)
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._on_query(data, addr, self._transport)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an earlier answer: the client went away

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class EmbeddedDNS:
    def __init__(
        self,
        *,
        upstream: Sequence[str] = (),
        forward_timeout: float = FORWARD_TIMEOUT,
        resolv_conf: Path = RESOLV_CONF,
        bind: Binder = bind_in_netns,
        rng: random.Random | None = None,
    ) -> None:
        """`upstream`: where names not ours go ("ip" or "ip:port"; () -> the nameservers of
        `resolv_conf`, read again when it changes). `bind` creates a container's two
        listening sockets (tests bind on loopback in their own namespace)."""
        self._upstream = _servers(upstream)
        self._timeout = forward_timeout
        self._resolv_conf = resolv_conf
        self._resolv_cache: tuple[tuple[int, int, int], tuple[Server, ...]] | None = None
        self._bind = bind
        self._rng = rng or random.Random()
        self._names: dict[str, _Names] = {}
        self._listeners: dict[str, _Listener] = {}
        self._lock = asyncio.Lock()

    # -- containers ------------------------------------------------------------------------

    async def open(self, key: str, ns: Path) -> None:
        """Listen on 127.0.0.11:53 (UDP and TCP) in `ns` for container `key`. Again for
        the same namespace does nothing; for another one, the old sockets close."""
        async with self._lock:
            ns_id = _ns_identity(ns)
            current = self._listeners.get(key)
            if current is not None and current.ns_id == ns_id:
                return
            if current is not None:
                del self._listeners[key]
                await current.close()
            try:
                udp_sock, tcp_sock = await asyncio.to_thread(self._bind, ns)
            except OSError as e:
                raise EmbeddedDNSError(
                    f"cannot listen on 127.0.0.11:53 in {ns}: {e.strerror or e}; is port 53 "
                    "free there (does the container run its own DNS server on it)?"
                ) from None
            self._listeners[key] = await self._serve(key, ns_id, udp_sock, tcp_sock)

    def set_records(
        self, key: str, records: Mapping[str, Sequence[str]], *, upstream: Sequence[str] = ()
    ) -> None:
        """Container `key`'s names (any case, trailing dot or not) -> addresses, and its own
        --dns servers (() -> the default). Replaces what it had; the next query sees it."""
        table: dict[str, tuple[Address, ...]] = {}
        for name, addresses in records.items():
            table[name.lower().rstrip(".")] = tuple(ipaddress.ip_interface(a).ip for a in addresses)
        self._names[key] = _Names(table, _servers(upstream))

    async def close_one(self, key: str) -> None:
        """Stop answering in container `key` and forget its names; unknown keys are fine."""
        async with self._lock:
            self._names.pop(key, None)
            listener = self._listeners.pop(key, None)
            if listener is not None:
                await listener.close()

    async def close(self) -> None:
        async with self._lock:
            self._names.clear()
            listeners = list(self._listeners.values())
            self._listeners.clear()
            await asyncio.gather(*(listener.close() for listener in listeners))

    def sockname(self, key: str) -> tuple[str, int] | None:
        """Where container `key`'s UDP socket listens (its namespace's 127.0.0.11:53)."""
        listener = self._listeners.get(key)
        if listener is None or listener.udp is None:
            return None
        name: tuple[str, int] = listener.udp.get_extra_info("sockname")
        return name

    # -- serving ---------------------------------------------------------------------------

    async def _serve(
        self, key: str, ns_id: tuple[int, int], udp_sock: socket.socket, tcp_sock: socket.socket
    ) -> _Listener:
        # The listener exists before its sockets serve: a query may arrive at once.
        listener = _Listener(ns_id)

        def on_datagram(
            data: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport
        ) -> None:
            self._on_datagram(key, listener, transport, data, addr)

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                listener.track(task)
            # Cancelled when the listener closes; ending normally instead, because 3.11's
            # stream callback calls task.exception() and logs a cancelled handler as an error.
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve_tcp(key, reader, writer)

        udp_sock.setblocking(False)
        tcp_sock.setblocking(False)
        try:
            listener.udp, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _UdpProtocol(on_datagram), sock=udp_sock
            )
            listener.udp_closed = protocol.closed
            listener.tcp = await asyncio.start_server(on_connection, sock=tcp_sock)
        except BaseException:
            await listener.close()
            udp_sock.close()
            tcp_sock.close()
            raise
        return listener

    def _on_datagram(
        self,
        key: str,
        listener: _Listener,
        transport: asyncio.DatagramTransport,
        data: bytes,
        addr: tuple[str, int],
    ) -> None:
        try:
            query = parse_query(data)
        except MalformedMessage:
            return
        reply = self._local_answer(key, query, limit=query.udp_limit)
        if reply is None and len(listener.tasks) >= MAX_FORWARDS:
            reply = build_reply(query, rcode=Rcode.SERVFAIL)
        if reply is not None:
            transport.sendto(reply, addr)
            return

        async def forward() -> None:
            answer = await self._forward(key, query, data, tcp=False)
            transport.sendto(answer, addr)

        listener.track(asyncio.get_running_loop().create_task(forward()))

    async def _serve_tcp(
        self, key: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One TCP client: framed queries, answered in turn, until it hangs up or idles."""
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE):
                    data = await reader.readexactly(frame_length(await reader.readexactly(2)))
                try:
                    query = parse_query(data)
                except MalformedMessage:
                    return  # no way to answer it; the client sees the connection close
                reply = self._local_answer(key, query, limit=MAX_MESSAGE)
                if reply is None:
                    reply = await self._forward(key, query, data, tcp=True)
                writer.write(frame(reply))
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    # -- answering -------------------------------------------------------------------------

    def _local_answer(self, key: str, query: Query, *, limit: int) -> bytes | None:
        """The answer from the container's names; None: not ours, forward it."""
        if query.header.opcode != OPCODE_QUERY:
            return build_reply(query, rcode=Rcode.NOTIMP)
        question = query.question
        if question is None:
            return build_reply(query, rcode=Rcode.FORMERR)
        names = self._names.get(key)
        if names is None or question.qclass != QCLASS_IN:
            return None
        addresses = names.records.get(question.name)
        if addresses is None:
            return None
        chosen: list[Address]
        if question.qtype == RRType.A:
            chosen = [a for a in addresses if a.version == 4]
        elif question.qtype == RRType.AAAA:
            chosen = [a for a in addresses if a.version == 6]
        elif question.qtype == RRType.ANY:
            chosen = list(addresses)
        else:
            chosen = []  # the name is ours and has no such record: NOERROR, no answer
        self._rng.shuffle(chosen)
        return build_reply(query, addresses=chosen, ttl=TTL, limit=limit)

    async def _forward(self, key: str, query: Query, data: bytes, *, tcp: bool) -> bytes:
        """The first real answer from the upstream servers, in order; SERVFAIL if none."""
        names = self._names.get(key)
        servers = (names.upstream if names else ()) or self._default_upstream()
        fallback: bytes | None = None
        for server in servers[:MAX_UPSTREAM]:
            try:
                async with asyncio.timeout(self._timeout):
                    exchange = _exchange_tcp if tcp else _exchange_udp
                    reply = await exchange(server, data, query.header.id)
            except (TimeoutError, OSError, EOFError, MalformedMessage):
                continue
            if parse_header(reply).rcode in (Rcode.SERVFAIL, Rcode.REFUSED):
                fallback = reply  # maybe a passing failure there: ask the next server
                continue
            return reply
        return fallback or build_reply(query, rcode=Rcode.SERVFAIL)

    def _default_upstream(self) -> tuple[Server, ...]:
        if self._upstream:
            return self._upstream
        try:
            st = os.stat(self._resolv_conf)
        except OSError:
            return ()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._resolv_cache is None or self._resolv_cache[0] != stamp:
            try:
                text = self._resolv_conf.read_text(errors="replace")
            except OSError:
                return ()
            self._resolv_cache = (stamp, nameservers(text))
        return self._resolv_cache[1]


def nameservers(resolv_conf: str) -> tuple[Server, ...]:
    """The nameservers of a resolv.conf; none listed means the local one (resolv.conf(5))."""
    found = [
        parts[1]
        for parts in (line.split() for line in resolv_conf.splitlines())
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]
    return _servers(found) or (("127.0.0.1", 53),)


def _servers(specs: Sequence[str]) -> tuple[Server, ...]:
    """ "ip", "ip:port" or "[ipv6]:port" -> (ip, port); what does not parse is skipped (a
    --dns value the manager let through must not break the container's other lookups)."""
    servers: list[Server] = []
    for spec in specs:
        host, port = spec.strip(), 53
        try:
            ipaddress.ip_address(host)
        except ValueError:
            host, _, port_text = host.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")
            try:
                ipaddress.ip_address(host)
                port = int(port_text)
            except ValueError:
                continue
            if not 0 < port < 65536:
                continue
        servers.append((host, port))
    return tuple(servers)


def _ns_identity(ns: Path) -> tuple[int, int]:
    try:
        st = os.stat(ns)
    except OSError as e:
        raise EmbeddedDNSError(
            f"network namespace {ns} is gone ({e.strerror}); has the container exited?"
        ) from None
    return st.st_dev, st.st_ino


def _answers(reply: bytes, query_id: int) -> bool:
    try:
        header = parse_header(reply)
    except MalformedMessage:
        return False
    return header.qr and header.id == query_id


async def _exchange_udp(server: Server, data: bytes, query_id: int) -> bytes:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        # connected: only the server's datagrams arrive; a fresh random port per query
        await loop.sock_connect(sock, server)
        await loop.sock_sendall(sock, data)
        while True:
            reply = await loop.sock_recv(sock, MAX_MESSAGE)
            if _answers(reply, query_id):
                return reply


async def _exchange_tcp(server: Server, data: bytes, query_id: int) -> bytes:
    reader, writer = await asyncio.open_connection(*server)
    try:
        writer.write(frame(data))
        await writer.drain()
        reply = await reader.readexactly(frame_length(await reader.readexactly(2)))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not _answers(reply, query_id):
        raise MalformedMessage("the upstream server's answer is not for this query")
    return reply
