"""A test-side DNS client, written apart from overlay_net.dnsmsg so it checks it, and a fake
upstream server.

make_query builds raw query bytes; decode reads any reply (compression pointers included);
ask_udp / ask_tcp send one query and wait, bounded, for the answer. FakeUpstream answers from
a table (it builds replies with dnsmsg: it is the thing under test's counterpart, not a check).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from overlay_net.dnsmsg import Rcode, build_reply, parse_query

A, NS, MX, AAAA, OPT, ANY = 1, 2, 15, 28, 41, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
WAIT = 5.0  # seconds: the bound on every wait for an answer


def encode_name(name: str) -> bytes:
    labels = [label.encode() for label in name.rstrip(".").split(".") if label]
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\0"


def make_query(
    name: str,
    qtype: int = A,
    *,
    qid: int = 0x1234,
    rd: bool = True,
    opcode: int = 0,
    edns: int | None = None,
    qclass: int = 1,
) -> bytes:
    flags = (opcode << 11) | (0x0100 if rd else 0)
    arcount = 1 if edns is not None else 0
    head = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    body = encode_name(name) + struct.pack("!HH", qtype, qclass)
    if edns is not None:
        body += b"\0" + struct.pack("!HHIH", OPT, edns, 0, 0)
    return head + body


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes

    @property
    def address(self) -> IPv4Address | IPv6Address:
        return ip_address(self.rdata)


@dataclass(frozen=True)
class Reply:
    id: int
    flags: int
    questions: list[tuple[str, int, int]]
    answers: list[Record]
    additional: list[Record]

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def tc(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def qr(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    def addresses(self) -> list[str]:
        return [str(r.address) for r in self.answers if r.rtype in (A, AAAA)]


def _name(data: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    end = None
    for _ in range(128):
        size = data[pos]
        if size >= 0xC0:
            end = pos + 2 if end is None else end
            pos = ((size & 0x3F) << 8) | data[pos + 1]
            continue
        if size == 0:
            return ".".join(labels), (pos + 1 if end is None else end)
        labels.append(data[pos + 1 : pos + 1 + size].decode("latin-1"))
        pos += size + 1
    raise AssertionError("pointer loop in a reply")


def decode(data: bytes) -> Reply:
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    pos = 12
    questions = []
    for _ in range(qd):
        name, pos = _name(data, pos)
        qtype, qclass = struct.unpack_from("!HH", data, pos)
        pos += 4
        questions.append((name, qtype, qclass))
    sections: list[list[Record]] = [[], [], []]
    for index, count in enumerate((an, ns, ar)):
        for _ in range(count):
            name, pos = _name(data, pos)
            rtype, rclass, ttl, size = struct.unpack_from("!HHIH", data, pos)
            pos += 10
            sections[index].append(Record(name, rtype, rclass, ttl, data[pos : pos + size]))
            pos += size
    assert pos == len(data), "trailing bytes in a reply"
    return Reply(qid, flags, questions, sections[0], sections[2])


async def ask_udp(
    addr: tuple[str, int], payload: bytes, *, sock: socket.socket | None = None
) -> bytes:
    """Send one datagram to `addr` and return the first reply (`sock`: one made elsewhere,
    e.g. in another namespace)."""
    loop = asyncio.get_running_loop()
    with sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, addr)
        await loop.sock_sendall(s, payload)
        async with asyncio.timeout(WAIT):
            return await loop.sock_recv(s, 65535)


async def ask_tcp(
    addr: tuple[str, int], payload: bytes, *, sock: socket.socket | None = None
) -> bytes:
    loop = asyncio.get_running_loop()
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    async with asyncio.timeout(WAIT):
        await loop.sock_connect(s, addr)
        reader, writer = await asyncio.open_connection(sock=s)
        try:
            writer.write(struct.pack("!H", len(payload)) + payload)
            await writer.drain()
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(size)
        finally:
            writer.close()
            await writer.wait_closed()


def bind_pair(host: str = "127.0.0.1", port: int = 0) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on one port of `host` (0: a free one)."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, port))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(udp.getsockname())
        except OSError:  # that TCP port is someone's: try another
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise AssertionError(f"no free port on {host} for both UDP and TCP")


class FakeUpstream:
    """A DNS server (UDP and TCP on one port of `host`) answering from `table`: name ->
    A addresses or an Rcode; other names NXDOMAIN, other types NOERROR without records.
    Names in `hold` wait for `release`. `seen` gets (transport, name) for every query."""

    def __init__(
        self,
        table: Mapping[str, Sequence[str] | Rcode],
        hold: Iterable[str] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.table = table
        self.hold = set(hold)
        self.release = asyncio.Event()
        self.seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._host, self._port = host, port
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self.address = ""

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        upstream = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                task = loop.create_task(upstream._udp_reply(data, addr))
                upstream._tasks.add(task)
                task.add_done_callback(upstream._tasks.discard)

        udp, tcp = bind_pair(self._host, self._port)
        self.address = "{}:{}".format(*udp.getsockname())
        self._udp, _ = await loop.create_datagram_endpoint(Protocol, sock=udp)
        self._tcp = await asyncio.start_server(self._tcp_client, sock=tcp)
        return self.address

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _answer(self, transport: str, data: bytes) -> bytes:
        query = parse_query(data)
        assert query.question is not None
        name = query.question.name
        await self.seen.put((transport, name))
        if name in self.hold:
            await self.release.wait()
        entry = self.table.get(name, Rcode.NXDOMAIN)
        if isinstance(entry, Rcode):
            return build_reply(query, rcode=entry)
        if query.question.qtype != A:
            return build_reply(query)  # the name exists, no record of that type
        return build_reply(query, addresses=[ip_address(a) for a in entry], ttl=30)

    async def _udp_reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self._answer("udp", data)
        assert self._udp is not None
        self._udp.sendto(reply, addr)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            size = int.from_bytes(await reader.readexactly(2), "big")
            reply = await self._answer("tcp", await reader.readexactly(size))
            writer.write(len(reply).to_bytes(2, "big") + reply)
            await writer.drain()
        except asyncio.CancelledError:
            pass  # stopped; ending normally keeps 3.11's stream callback from logging it
        finally:
            writer.close()
            self._tasks.discard(task)
