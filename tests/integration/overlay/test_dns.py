"""The embedded DNS server for real: 127.0.0.11:53 inside a namespace, asked from inside it.

    node ns (plays shoald's)                      ctr ns (plays a container)
    ┌──────────────────────────────┐              ┌─────────────────────────────────┐
    │ event loop + EmbeddedDNS ────┼── sockets ──▶│ 127.0.0.11:53 udp+tcp           │
    │ fake upstreams 127.0.0.1:53, │              │ busybox nslookup / a Python     │
    │   127.0.0.2:53               │              │   client (socket made in ctr)   │
    └──────────────────────────────┘              └─────────────────────────────────┘

The server's event loop runs in a thread that entered the node namespace, so forwarding
leaves from there, as it does from shoald's; the container namespace cannot reach the node's
loopback, so an answer from the fake upstream proves the forward went out from the node. Both
namespaces are the tests' own (netns_factory); nothing touches the host's network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView
from manager.store import EndpointMode, Network, NetworkSpec
from overlay_net.dns import EmbeddedDNS, EmbeddedDNSError
from overlay_net.netns import in_netns, ns_run
from overlay_net.resolver import records
from tests.integration.overlay.conftest import NetnsFactory
from tests.unit.overlay_net.dnswire import (
    AAAA,
    NOERROR,
    FakeUpstream,
    ask_tcp,
    ask_udp,
    decode,
    make_query,
)

T = TypeVar("T")
DNS = ("127.0.0.11", 53)
BUSYBOX = "/bin/busybox"
UPSTREAM_TABLE = {"example.com": ["192.0.2.80"], "mirror.example": ["192.0.2.81"]}


def peer(address: str, service_id: str, name: str, aliases: tuple[str, ...] = ()) -> NetworkPeer:
    return NetworkPeer(
        address=address,
        mac="02:42:0a:0a:00:01",
        node_id="n1",
        node_addr="198.18.0.1",
        task_id=name.rsplit(".", 1)[-1],
        task_name=name,
        service_id=service_id,
        aliases=aliases,
        serving=True,
    )


VIEW = NetworkView(
    network=Network(id="dnsnet", spec=NetworkSpec(name="front"), subnet="10.10.0.0/24"),
    peers=(
        peer("10.10.0.5/24", "s-web", "web.1.aaa"),
        peer("10.10.0.6/24", "s-web", "web.2.bbb"),
        peer("10.10.0.7/24", "s-db", "db.1.ccc", aliases=("primary",)),
        peer("10.10.0.8/24", "s-db", "db.2.ddd"),
    ),
    services=(
        NetworkService("s-db", "db", EndpointMode.DNSRR),
        NetworkService("s-web", "web", vip="10.10.0.2/24", aliases=("frontend",)),
    ),
)


@pytest.fixture
def namespaces(netns_factory: NetnsFactory) -> tuple[Path, Path]:
    """(node, ctr), both with loopback up (a container's always is)."""
    node, ctr = netns_factory("dns-node"), netns_factory("dns-ctr")
    for ns in (node, ctr):
        ns_run(ns, ["ip", "link", "set", "lo", "up"])
    return node, ctr


def run_in(ns: Path, scenario: Callable[[], Awaitable[T]]) -> T:
    """Run `scenario` on an event loop whose thread is in `ns` (threads it starts are too)."""

    def target() -> T:
        with in_netns(ns):

            async def bounded() -> T:
                async with asyncio.timeout(60):
                    return await scenario()

            return asyncio.run(bounded())

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(target).result()


async def nslookup(ctr: Path, name: str) -> tuple[int, list[str], str]:
    """busybox nslookup in `ctr` against 127.0.0.11: (exit status, addresses, output)."""
    done = await asyncio.to_thread(
        ns_run, ctr, [BUSYBOX, "nslookup", name, DNS[0]], timeout=20, check=False
    )
    out = done.stdout.decode() + done.stderr.decode()
    answers = out.split("Name:", 1)[1] if "Name:" in out else ""
    addresses = [
        line.split(":", 1)[1].strip()
        for line in answers.splitlines()
        if line.startswith("Address:")
    ]
    return done.returncode, addresses, out


def client_socket(ctr: Path, kind: socket.SocketKind) -> socket.socket:
    """A socket of the container's namespace (made there; used from here)."""
    with in_netns(ctr):
        return socket.socket(socket.AF_INET, kind)


def dns_sockets(ns: Path) -> list[str]:
    """The UDP sockets and listening TCP sockets on 127.0.0.11:53 in `ns`."""
    found = []
    for proto, listen_only in (("udp", False), ("tcp", True)):
        table = ns_run(ns, [BUSYBOX, "cat", f"/proc/net/{proto}"]).stdout.decode()
        for line in table.splitlines()[1:]:
            fields = line.split()
            # 127.0.0.11:53 as the kernel prints it (address in host byte order, hex)
            if fields[1] == "0B00007F:0035" and (not listen_only or fields[3] == "0A"):
                found.append(proto)
    return found


@pytest.fixture
def require_busybox() -> None:
    if not Path(BUSYBOX).exists():
        pytest.skip(f"{BUSYBOX} is not installed (scripts/setup installs busybox-static)")


def test_busybox_resolves_services_tasks_dnsrr_and_aliases(
    namespaces: tuple[Path, Path], require_busybox: None
) -> None:
    node, ctr = namespaces

    async def scenario() -> None:
        dns = EmbeddedDNS(upstream=["127.0.0.1"])
        try:
            await dns.open("c1", ctr)
            dns.set_records("c1", records([VIEW]))
            expected = {
                "web": ["10.10.0.2"],
                "frontend": ["10.10.0.2"],
                "tasks.web": ["10.10.0.5", "10.10.0.6"],
                "tasks.frontend": ["10.10.0.5", "10.10.0.6"],
                "db": ["10.10.0.7", "10.10.0.8"],
                "tasks.db": ["10.10.0.7", "10.10.0.8"],
                "primary": ["10.10.0.7"],
                "web.2.bbb": ["10.10.0.6"],
                "WEB.": ["10.10.0.2"],
            }
            for name, addresses in expected.items():
                status, got, out = await nslookup(ctr, name)
                assert status == 0, out
                assert sorted(got) == addresses, out
        finally:
            await dns.close()

    run_in(node, scenario)


def test_a_python_client_in_the_namespace_over_udp_and_tcp(namespaces: tuple[Path, Path]) -> None:
    node, ctr = namespaces

    async def scenario() -> None:
        dns = EmbeddedDNS(upstream=["127.0.0.1"])
        try:
            await dns.open("c1", ctr)
            dns.set_records("c1", records([VIEW]))
            sock = client_socket(ctr, socket.SOCK_DGRAM)
            reply = decode(await ask_udp(DNS, make_query("web", qid=11), sock=sock))
            assert reply.id == 11 and reply.addresses() == ["10.10.0.2"]
            assert [r.ttl for r in reply.answers] == [600]
            sock = client_socket(ctr, socket.SOCK_STREAM)
            reply = decode(await ask_tcp(DNS, make_query("tasks.db", qid=12), sock=sock))
            assert sorted(reply.addresses()) == ["10.10.0.7", "10.10.0.8"]
            sock = client_socket(ctr, socket.SOCK_DGRAM)
            reply = decode(await ask_udp(DNS, make_query("web", AAAA), sock=sock))
            assert reply.rcode == NOERROR and reply.answers == []
        finally:
            await dns.close()

    run_in(node, scenario)


def test_names_not_ours_are_forwarded_from_the_node_namespace(
    namespaces: tuple[Path, Path], require_busybox: None, tmp_path: Path
) -> None:
    node, ctr = namespaces
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("search example.org\nnameserver 127.0.0.1\n")

    async def scenario() -> None:
        default = FakeUpstream(UPSTREAM_TABLE, host="127.0.0.1", port=53)
        own = FakeUpstream({"example.com": ["198.51.100.7"]}, host="127.0.0.2", port=53)
        await default.start()
        await own.start()
        dns = EmbeddedDNS(resolv_conf=resolv_conf)  # the "host's" resolvers
        try:
            await dns.open("c1", ctr)
            dns.set_records("c1", records([VIEW]))
            status, got, out = await nslookup(ctr, "example.com")
            assert status == 0 and got == ["192.0.2.80"], out
            assert ("udp", "example.com") in drain(default)
            status, got, out = await nslookup(ctr, "nope.example")
            assert status != 0 and "NXDOMAIN" in out, out
            status, got, out = await nslookup(ctr, "web")  # ours: upstream never asked
            assert got == ["10.10.0.2"] and not any(n == "web" for _, n in drain(default))

            # the container's own --dns servers replace the default
            dns.set_records("c1", records([VIEW]), upstream=["127.0.0.2"])
            status, got, out = await nslookup(ctr, "example.com")
            assert got == ["198.51.100.7"], out
            assert ("udp", "example.com") in drain(own)
        finally:
            await dns.close()
            await own.stop()
            await default.stop()

    run_in(node, scenario)


def drain(upstream: FakeUpstream) -> list[tuple[str, str]]:
    seen = []
    while not upstream.seen.empty():
        seen.append(upstream.seen.get_nowait())
    return seen


def test_updated_records_take_effect_at_once(namespaces: tuple[Path, Path]) -> None:
    node, ctr = namespaces

    async def scenario() -> None:
        dns = EmbeddedDNS(upstream=["127.0.0.1"])
        try:
            await dns.open("c1", ctr)
            dns.set_records("c1", records([VIEW]))
            reply = decode(await ask_udp(DNS, make_query("tasks.web"), sock=udp(ctr)))
            assert sorted(reply.addresses()) == ["10.10.0.5", "10.10.0.6"]
            scaled = NetworkView(
                network=VIEW.network,
                peers=(*VIEW.peers, peer("10.10.0.9/24", "s-web", "web.3.eee")),
                services=VIEW.services,
            )
            dns.set_records("c1", records([scaled]))
            reply = decode(await ask_udp(DNS, make_query("tasks.web"), sock=udp(ctr)))
            assert sorted(reply.addresses()) == ["10.10.0.5", "10.10.0.6", "10.10.0.9"]
        finally:
            await dns.close()

    run_in(node, scenario)


def udp(ctr: Path) -> socket.socket:
    return client_socket(ctr, socket.SOCK_DGRAM)


def test_close_leaves_no_sockets_and_open_again_works(namespaces: tuple[Path, Path]) -> None:
    node, ctr = namespaces

    async def scenario() -> None:
        dns = EmbeddedDNS(upstream=["127.0.0.1"])
        try:
            await dns.open("c1", ctr)
            await dns.open("c1", ctr)  # idempotent: no second bind (it would fail)
            assert sorted(await asyncio.to_thread(dns_sockets, ctr)) == ["tcp", "udp"]
            await dns.close_one("c1")
            assert await asyncio.to_thread(dns_sockets, ctr) == []
            await dns.open("c1", ctr)
            dns.set_records("c1", {"web": ["10.10.0.2"]})
            reply = decode(await ask_udp(DNS, make_query("web"), sock=udp(ctr)))
            assert reply.addresses() == ["10.10.0.2"]
        finally:
            await dns.close()
        assert await asyncio.to_thread(dns_sockets, ctr) == []

    run_in(node, scenario)


def test_port_53_taken_in_the_container_is_a_clear_error(namespaces: tuple[Path, Path]) -> None:
    node, ctr = namespaces
    with client_socket(ctr, socket.SOCK_DGRAM) as squatter:  # the container's own DNS server
        squatter.bind(("0.0.0.0", 53))

        async def scenario() -> None:
            dns = EmbeddedDNS(upstream=["127.0.0.1"])
            with pytest.raises(EmbeddedDNSError, match=r"127\.0\.0\.11:53 in .*port 53 free"):
                await dns.open("c1", ctr)
            assert dns.sockname("c1") is None
            await dns.close()

        run_in(node, scenario)
    assert dns_sockets(ctr) == []
