"""The embedded DNS server's behaviour, on loopback in the test's own namespace.

The server's sockets come from a binder that binds 127.0.0.1:<random> here instead of
127.0.0.11:53 in a container (the integration tests do that part); upstream servers are fakes
on 127.0.0.1 that answer from a table, hold chosen names until released, or never answer.
Every wait is bounded (dnswire.WAIT); a forward timeout is shortened where a test needs one
to expire.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from overlay_net.dns import EmbeddedDNS, EmbeddedDNSError, nameservers
from overlay_net.dnsmsg import Rcode
from tests.unit.overlay_net.dnswire import (
    AAAA,
    ANY,
    FORMERR,
    MX,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    SERVFAIL,
    WAIT,
    A,
    FakeUpstream,
    ask_tcp,
    ask_udp,
    bind_pair,
    decode,
    make_query,
)

NET_NS = Path("/proc/self/ns/net")
OTHER_NS = Path("/proc/self/ns/uts")  # any other namespace file: another identity
WEB = {"web": ["10.0.1.2"], "tasks.web": ["10.0.1.5", "10.0.1.6", "10.0.1.7"]}


class LoopbackBinder:
    """Binds UDP and TCP on one free 127.0.0.1 port, in this namespace; records its work."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.namespaces: list[Path] = []
        self.error: OSError | None = None

    def __call__(self, ns: Path) -> tuple[socket.socket, socket.socket]:
        self.namespaces.append(ns)
        if self.error is not None:
            raise self.error
        udp, tcp = bind_pair()
        self.sockets += [udp, tcp]
        return udp, tcp

    def all_closed(self) -> bool:
        return all(s.fileno() == -1 for s in self.sockets)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream(
        {
            "example.com": ["93.184.216.34"],
            "broken.example": Rcode.SERVFAIL,
            "slow.example": ["192.0.2.9"],
        },
        hold={"slow.example"},
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def binder() -> LoopbackBinder:
    return LoopbackBinder()


@pytest.fixture
async def server(
    binder: LoopbackBinder, upstream: FakeUpstream
) -> AsyncIterator[tuple[EmbeddedDNS, tuple[str, int]]]:
    dns = EmbeddedDNS(upstream=[upstream.address], bind=binder, rng=random.Random(7))
    await dns.open("c1", NET_NS)
    dns.set_records("c1", WEB)
    addr = dns.sockname("c1")
    assert addr is not None
    yield dns, addr
    await dns.close()


async def first_reply(addr: tuple[str, int], *payloads: bytes) -> bytes:
    """Send `payloads` in order from one socket and return the first datagram back: on
    loopback the server reads them in order, so it shows which ones went unanswered."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, addr)
        for payload in payloads:
            await loop.sock_sendall(s, payload)
        async with asyncio.timeout(WAIT):
            return await loop.sock_recv(s, 65535)


def silent_udp() -> socket.socket:
    """A bound UDP socket nobody reads: queries to it vanish (no ICMP refusal)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


# -- our names ---------------------------------------------------------------------------


async def test_a_service_name_gets_its_vip_with_ttl_600(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query("web", qid=41)))
    assert reply.id == 41 and reply.qr and reply.rcode == NOERROR
    assert reply.addresses() == ["10.0.1.2"]
    assert [r.ttl for r in reply.answers] == [600]
    assert upstream.seen.empty()


@pytest.mark.parametrize("name", ["WEB", "Web.", "tasks.WEB", "TASKS.web."])
async def test_names_match_whatever_their_case_and_trailing_dot(
    server: tuple[EmbeddedDNS, tuple[str, int]], name: str
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query(name)))
    assert reply.rcode == NOERROR and reply.addresses()
    assert reply.questions[0][0] == name.rstrip(".")  # echoed as asked
    assert {r.name for r in reply.answers} == {name.rstrip(".")}


async def test_record_names_given_with_a_trailing_dot_or_capitals_match_too(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    dns, addr = server
    dns.set_records("c1", {"Api.": ["10.0.1.30"]})
    assert decode(await ask_udp(addr, make_query("api"))).addresses() == ["10.0.1.30"]


async def test_answers_with_several_addresses_come_in_shuffled_order(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    orders = set()
    for qid in range(20):
        reply = decode(await ask_udp(addr, make_query("tasks.web", qid=qid)))
        assert sorted(reply.addresses()) == ["10.0.1.5", "10.0.1.6", "10.0.1.7"]
        orders.add(tuple(reply.addresses()))
    assert len(orders) > 1


@pytest.mark.parametrize("qtype", [AAAA, MX])
async def test_other_types_for_our_names_get_an_empty_noerror_and_are_not_forwarded(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream, qtype: int
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query("web", qtype)))
    assert reply.rcode == NOERROR and reply.answers == []
    assert upstream.seen.empty()


async def test_any_for_our_name_gets_its_addresses(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    assert decode(await ask_udp(addr, make_query("web", ANY))).addresses() == ["10.0.1.2"]


async def test_updated_records_take_effect_at_once(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    dns, addr = server
    dns.set_records("c1", {"web": ["10.0.1.99"], "db": ["10.0.1.50"]})
    assert decode(await ask_udp(addr, make_query("web"))).addresses() == ["10.0.1.99"]
    assert decode(await ask_udp(addr, make_query("db"))).addresses() == ["10.0.1.50"]
    reply = decode(await ask_udp(addr, make_query("tasks.web")))  # gone: not ours any more
    assert reply.rcode == NXDOMAIN
    assert await upstream.seen.get() == ("udp", "tasks.web")


async def test_each_container_answers_only_its_own_names(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    dns, addr = server
    await dns.open("c2", NET_NS)
    dns.set_records("c2", {"web": ["10.0.9.2"]})
    other = dns.sockname("c2")
    assert other is not None and other != addr
    assert decode(await ask_udp(other, make_query("web"))).addresses() == ["10.0.9.2"]
    assert decode(await ask_udp(addr, make_query("web"))).addresses() == ["10.0.1.2"]


# -- size limits and TCP -------------------------------------------------------------------

MANY = {"tasks.big": [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(100)]}


async def test_a_large_udp_answer_is_truncated_and_tcp_gets_all_of_it(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    dns, addr = server
    dns.set_records("c1", MANY)
    data = await ask_udp(addr, make_query("tasks.big"))
    udp = decode(data)
    assert len(data) <= 512 and udp.tc and 0 < len(udp.answers) < 100
    tcp = decode(await ask_tcp(addr, make_query("tasks.big")))
    assert not tcp.tc and sorted(tcp.addresses()) == sorted(MANY["tasks.big"])


async def test_edns0_lets_a_larger_udp_answer_through(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    dns, addr = server
    dns.set_records("c1", MANY)
    reply = decode(await ask_udp(addr, make_query("tasks.big", edns=4096)))
    assert not reply.tc and len(reply.answers) == 100


async def test_tcp_serves_several_queries_on_one_connection(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    reader, writer = await asyncio.open_connection(*addr)
    try:
        async with asyncio.timeout(WAIT):
            for qid, name in enumerate(["web", "tasks.web", "web"]):
                query = make_query(name, qid=qid)
                writer.write(len(query).to_bytes(2, "big") + query)
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = decode(await reader.readexactly(size))
                assert reply.id == qid and reply.addresses()
    finally:
        writer.close()
        await writer.wait_closed()


# -- not ours: forwarding ------------------------------------------------------------------


async def test_other_names_are_forwarded_and_the_answer_relayed(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query("Example.COM", qid=5)))
    assert reply.id == 5 and reply.rcode == NOERROR
    assert reply.addresses() == ["93.184.216.34"] and reply.answers[0].ttl == 30
    assert await upstream.seen.get() == ("udp", "example.com")


async def test_nxdomain_from_upstream_reaches_the_client(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    assert decode(await ask_udp(addr, make_query("nope.example"))).rcode == NXDOMAIN
    assert await upstream.seen.get() == ("udp", "nope.example")


async def test_aaaa_for_a_name_not_ours_is_forwarded(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query("example.com", AAAA)))
    assert reply.rcode == NOERROR and reply.answers == []
    assert await upstream.seen.get() == ("udp", "example.com")


async def test_a_tcp_query_is_forwarded_over_tcp(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    reply = decode(await ask_tcp(addr, make_query("example.com")))
    assert reply.addresses() == ["93.184.216.34"]
    assert await upstream.seen.get() == ("tcp", "example.com")


async def test_a_slow_upstream_holds_up_only_the_query_waiting_on_it(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    slow = asyncio.create_task(ask_udp(addr, make_query("slow.example", qid=1)))
    async with asyncio.timeout(WAIT):
        assert await upstream.seen.get() == ("udp", "slow.example")
    assert decode(await ask_udp(addr, make_query("web", qid=2))).addresses() == ["10.0.1.2"]
    fast = decode(await ask_udp(addr, make_query("example.com", qid=3)))
    assert fast.addresses() == ["93.184.216.34"]
    assert not slow.done()
    upstream.release.set()
    reply = decode(await slow)
    assert reply.id == 1 and reply.addresses() == ["192.0.2.9"]


async def test_the_containers_own_dns_servers_come_before_the_default(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    dns, addr = server
    own = FakeUpstream({"example.com": ["198.51.100.1"]})
    await own.start()
    try:
        dns.set_records("c1", WEB, upstream=[own.address])
        assert decode(await ask_udp(addr, make_query("example.com"))).addresses() == [
            "198.51.100.1"
        ]
        assert await own.seen.get() == ("udp", "example.com")
        assert upstream.seen.empty()
    finally:
        await own.stop()


async def test_a_server_that_does_not_answer_is_skipped_after_the_timeout(
    binder: LoopbackBinder, upstream: FakeUpstream
) -> None:
    with silent_udp() as dead:
        host, port = dead.getsockname()
        # the 2 s default shortened: this test waits it out
        upstreams = [f"{host}:{port}", upstream.address]
        dns = EmbeddedDNS(upstream=upstreams, forward_timeout=0.1, bind=binder)
        await dns.open("c1", NET_NS)
        try:
            addr = dns.sockname("c1")
            assert addr is not None
            reply = decode(await ask_udp(addr, make_query("example.com")))
            assert reply.addresses() == ["93.184.216.34"]
        finally:
            await dns.close()


async def test_servfail_when_no_upstream_answers(binder: LoopbackBinder) -> None:
    with silent_udp() as dead:
        host, port = dead.getsockname()
        dns = EmbeddedDNS(upstream=[f"{host}:{port}"], forward_timeout=0.1, bind=binder)
        await dns.open("c1", NET_NS)
        try:
            addr = dns.sockname("c1")
            assert addr is not None
            reply = decode(await ask_udp(addr, make_query("example.com", qid=77)))
            assert reply.id == 77 and reply.rcode == SERVFAIL
            assert reply.questions == [("example.com", A, 1)]
        finally:
            await dns.close()


async def test_servfail_from_one_upstream_moves_on_to_the_next(
    binder: LoopbackBinder, upstream: FakeUpstream
) -> None:
    failing = FakeUpstream({"example.com": Rcode.SERVFAIL, "broken.example": Rcode.REFUSED})
    await failing.start()
    dns = EmbeddedDNS(upstream=[failing.address, upstream.address], bind=binder)
    await dns.open("c1", NET_NS)
    try:
        addr = dns.sockname("c1")
        assert addr is not None
        assert decode(await ask_udp(addr, make_query("example.com"))).addresses() == [
            "93.184.216.34"
        ]
        # when every server fails, the last failure is what the client hears
        assert decode(await ask_udp(addr, make_query("broken.example"))).rcode == SERVFAIL
    finally:
        await dns.close()
        await failing.stop()


async def test_too_many_forwards_in_flight_get_servfail_at_once(
    server: tuple[EmbeddedDNS, tuple[str, int]],
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, addr = server
    monkeypatch.setattr("overlay_net.dns.MAX_FORWARDS", 1)
    slow = asyncio.create_task(ask_udp(addr, make_query("slow.example")))
    async with asyncio.timeout(WAIT):
        await upstream.seen.get()
    assert decode(await ask_udp(addr, make_query("example.com"))).rcode == SERVFAIL
    assert decode(await ask_udp(addr, make_query("web"))).addresses() == ["10.0.1.2"]
    upstream.release.set()
    assert decode(await slow).addresses() == ["192.0.2.9"]


# -- what is not a proper query --------------------------------------------------------------


async def test_garbage_is_dropped_and_the_server_keeps_answering(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    query = make_query("web", qid=0x5151)
    response = bytearray(query)
    response[2] |= 0x80  # QR: a response sent to us, not a query
    junk = [b"", b"\x00", b"\xff" * 40, query[:15], query[:2], bytes(response)]
    reply = decode(await first_reply(addr, *junk, query))
    assert reply.id == 0x5151 and reply.addresses() == ["10.0.1.2"]


async def test_a_non_query_opcode_is_not_implemented(
    server: tuple[EmbeddedDNS, tuple[str, int]], upstream: FakeUpstream
) -> None:
    _, addr = server
    reply = decode(await ask_udp(addr, make_query("web", opcode=2, qid=9)))
    assert reply.id == 9 and reply.rcode == NOTIMP and reply.opcode == 2
    assert upstream.seen.empty()


async def test_a_query_without_a_question_is_a_format_error(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    empty = (0x4242).to_bytes(2, "big") + b"\x01\x00" + bytes(8)
    reply = decode(await ask_udp(addr, empty))
    assert reply.id == 0x4242 and reply.rcode == FORMERR


async def test_garbage_over_tcp_closes_that_connection_only(
    server: tuple[EmbeddedDNS, tuple[str, int]],
) -> None:
    _, addr = server
    reader, writer = await asyncio.open_connection(*addr)
    writer.write(b"\x00\x03abc")
    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert decode(await ask_tcp(addr, make_query("web"))).addresses() == ["10.0.1.2"]


# -- opening and closing ---------------------------------------------------------------------


async def test_open_twice_for_the_same_namespace_keeps_the_sockets(
    server: tuple[EmbeddedDNS, tuple[str, int]], binder: LoopbackBinder
) -> None:
    dns, addr = server
    await dns.open("c1", NET_NS)
    assert dns.sockname("c1") == addr and len(binder.namespaces) == 1


async def test_open_for_another_namespace_replaces_the_sockets_and_keeps_the_names(
    server: tuple[EmbeddedDNS, tuple[str, int]], binder: LoopbackBinder
) -> None:
    dns, addr = server
    old = list(binder.sockets)
    await dns.open("c1", OTHER_NS)
    assert binder.namespaces == [NET_NS, OTHER_NS]
    assert all(s.fileno() == -1 for s in old)
    new = dns.sockname("c1")
    assert new is not None and new != addr
    assert decode(await ask_udp(new, make_query("web"))).addresses() == ["10.0.1.2"]


async def test_close_one_closes_that_containers_sockets_and_forgets_its_names(
    server: tuple[EmbeddedDNS, tuple[str, int]], binder: LoopbackBinder
) -> None:
    dns, addr = server
    await dns.close_one("c1")
    assert binder.all_closed() and dns.sockname("c1") is None
    with pytest.raises(ConnectionRefusedError):  # loopback: the port is closed at once
        await ask_udp(addr, make_query("web"))
    await dns.close_one("c1")  # again: nothing to do
    await dns.close_one("never-opened")


async def test_close_cancels_forwards_in_flight(
    server: tuple[EmbeddedDNS, tuple[str, int]],
    binder: LoopbackBinder,
    upstream: FakeUpstream,
) -> None:
    dns, addr = server
    slow = asyncio.create_task(ask_udp(addr, make_query("slow.example")))
    tcp_slow = asyncio.create_task(ask_tcp(addr, make_query("slow.example")))
    async with asyncio.timeout(WAIT):
        assert {await upstream.seen.get(), await upstream.seen.get()} == {
            ("udp", "slow.example"),
            ("tcp", "slow.example"),
        }
        await dns.close()
    assert binder.all_closed()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        await tcp_slow
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_records_set_before_open_are_used(
    binder: LoopbackBinder, upstream: FakeUpstream
) -> None:
    dns = EmbeddedDNS(upstream=[upstream.address], bind=binder)
    dns.set_records("c1", {"web": ["10.0.1.2"]})
    await dns.open("c1", NET_NS)
    try:
        addr = dns.sockname("c1")
        assert addr is not None
        assert decode(await ask_udp(addr, make_query("web"))).addresses() == ["10.0.1.2"]
    finally:
        await dns.close()


async def test_a_socket_that_cannot_be_bound_is_a_one_line_error(binder: LoopbackBinder) -> None:
    binder.error = OSError(98, "Address already in use")
    dns = EmbeddedDNS(upstream=["127.0.0.1"], bind=binder)
    with pytest.raises(EmbeddedDNSError, match=r"127\.0\.0\.11:53 in .*Address already in use"):
        await dns.open("c1", NET_NS)
    assert dns.sockname("c1") is None


async def test_a_namespace_that_is_gone_is_a_one_line_error(
    binder: LoopbackBinder, tmp_path: Path
) -> None:
    dns = EmbeddedDNS(bind=binder)
    with pytest.raises(EmbeddedDNSError, match="has the container exited"):
        await dns.open("c1", tmp_path / "missing")
    assert binder.namespaces == []


# -- where forwarding goes by default ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("nameserver 10.255.255.53\n", (("10.255.255.53", 53),)),
        (
            "# comment\nsearch example.com\nnameserver 127.0.0.53\nnameserver fd00::1\n"
            "nameserver 192.0.2.1\nnameserver 192.0.2.2\noptions edns0\n",
            (("127.0.0.53", 53), ("fd00::1", 53), ("192.0.2.1", 53), ("192.0.2.2", 53)),
        ),
        ("nameserver not-an-ip\n", (("127.0.0.1", 53),)),
        ("", (("127.0.0.1", 53),)),  # resolv.conf(5): none listed means the local server
    ],
)
def test_nameservers_of_a_resolv_conf(text: str, servers: tuple[tuple[str, int], ...]) -> None:
    assert nameservers(text) == servers


async def test_without_upstream_the_hosts_resolv_conf_is_read_again_when_it_changes(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\n")
    dns = EmbeddedDNS(resolv_conf=conf, bind=LoopbackBinder())
    assert dns._default_upstream() == (("192.0.2.1", 53),)
    conf.write_text("nameserver 192.0.2.2\nnameserver 192.0.2.3\n")
    assert dns._default_upstream() == (("192.0.2.2", 53), ("192.0.2.3", 53))
    conf.unlink()
    assert dns._default_upstream() == ()


def test_upstream_specs_take_an_optional_port_and_bad_ones_are_skipped() -> None:
    dns = EmbeddedDNS(upstream=["10.0.0.1", "10.0.0.2:5353", "[fd00::1]:54", "bogus", "1.2.3.4:0"])
    assert dns._default_upstream() == (("10.0.0.1", 53), ("10.0.0.2", 5353), ("fd00::1", 54))
