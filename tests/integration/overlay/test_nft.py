"""nftables VIPs and routing mesh moving real packets between namespaces of our own.

Every namespace is named shoal-test-nft-<pid>-<role> and lives in a temporary directory; the
veth pairs and bridges exist only inside them, so nothing here touches the host's network.
Servers are one-shot Python processes (nsenter into a backend) answering each connection with
"<their name> <the peer address they saw>", so a test sees which backend answered and whether
the source was masqueraded.

    VIP:   client ──┐                       mesh:  client ── host ─(gw bridge)─ sbox ── overlay
                   br0 ── b1, b2, b3                          │            │        br ── b1, b2
                                                              └── b1 (host-mode port, egress)
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlay_net.netns import create_netns, ns_run, remove_netns, sysctl
from overlay_net.nft import (
    HostPort,
    MeshRule,
    VipRule,
    container_table,
    host_table,
    ingress_sbox_table,
)
from overlay_net.nftapply import NftError, apply, delete_table

PREFIX = f"shoal-test-nft-{os.getpid()}"

SERVER = """
import socket, sys, time
name, port, lifetime = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(128)
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + lifetime
while time.monotonic() < end:
    try:
        c, peer = s.accept()
    except TimeoutError:
        continue
    with c:
        c.sendall(f"{name} {peer[0]}".encode())
"""

CLIENT = """
import json, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for _ in range(count):
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=3) as c:
            c.settimeout(3)
            data = b""
            while chunk := c.recv(256):
                data += chunk
            answer = data.decode()
    except ConnectionRefusedError:
        answer = "refused"
    except OSError as e:
        answer = f"error {e!r}"
    out.append([answer, time.monotonic() - start])
print(json.dumps(out))
"""


class Lab:
    """Namespaces, links and server processes of one test; close() removes all of them."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
        self.namespaces: list[Path] = []
        self.servers: list[subprocess.Popen[bytes]] = []

    def netns(self, role: str) -> Path:
        path = self.dir / f"{PREFIX}-{role}"
        self.namespaces.append(path)
        create_netns(path)
        self.ip(path, "link", "set", "lo", "up")
        return path

    def ip(self, ns: Path, *args: str) -> None:
        ns_run(ns, ["ip", *args], timeout=10)

    def bridge(self, ns: Path, name: str, address: str | None = None) -> None:
        self.ip(ns, "link", "add", name, "type", "bridge")
        self.ip(ns, "link", "set", name, "up")
        if address:
            self.ip(ns, "addr", "add", address, "dev", name)

    def wire(
        self,
        a: Path,
        a_if: str,
        b: Path,
        b_if: str,
        *,
        a_address: str | None = None,
        b_address: str | None = None,
        b_master: str | None = None,
    ) -> None:
        """A veth pair a_if (in a) <-> b_if (in b), both up; b_if on bridge b_master."""
        self.ip(a, "link", "add", a_if, "type", "veth", "peer", "name", b_if)
        self.ip(a, "link", "set", b_if, "netns", str(b))
        for ns, ifname, address in ((a, a_if, a_address), (b, b_if, b_address)):
            if address:
                self.ip(ns, "addr", "add", address, "dev", ifname)
            self.ip(ns, "link", "set", ifname, "up")
        if b_master:
            self.ip(b, "link", "set", b_if, "master", b_master)

    def serve(self, ns: Path, name: str, port: int) -> None:
        """A server in ns answering "<name> <peer ip>" on port; returns once it listens."""
        argv = ["nsenter", f"--net={ns}", "--", sys.executable, "-c", SERVER, name, str(port)]
        proc = subprocess.Popen([*argv, "120"], stdout=subprocess.PIPE)
        self.servers.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready and proc.stdout.readline() == b"ready\n", f"server {name} did not start"

    def connect(self, ns: Path, host: str, port: int, count: int) -> list[tuple[str, float]]:
        """`count` connections from ns to host:port, one after the other: (answer, seconds)."""
        argv = [sys.executable, "-c", CLIENT, host, str(port), str(count)]
        done = ns_run(ns, argv, timeout=5 + 4 * count)
        return [(answer, elapsed) for answer, elapsed in json.loads(done.stdout)]

    def answers(self, ns: Path, host: str, port: int, count: int) -> Counter[str]:
        return Counter(answer for answer, _ in self.connect(ns, host, port, count))

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(10)
        for path in self.namespaces:
            remove_netns(path)
        shutil.rmtree(self.dir, ignore_errors=True)


def leftovers() -> list[str]:
    """Anything of ours still on the host: mounts, files, links named shoal-test-nft."""
    found = [
        line for line in Path("/proc/self/mountinfo").read_text().splitlines() if PREFIX in line
    ]
    found += [str(p) for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    found += [line for line in links.stdout.splitlines() if "shoal-test-nft" in line]
    return found


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, nftables)")
    if not shutil.which("nft") and not Path("/usr/sbin/nft").exists():
        pytest.skip("needs nft (nftables)")
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()
        assert leftovers() == []


def names(counter: Counter[str]) -> Counter[str]:
    """Answers by backend name, dropping the peer address."""
    return Counter({answer.split()[0]: n for answer, n in counter.items()})


# --- VIP load balancing in a client's namespace ---------------------------------------------

VIP = "10.251.0.100"
VIP_BACKENDS = {"b1": "10.251.0.11", "b2": "10.251.0.12", "b3": "10.251.0.13"}


def test_vip_spreads_connections_over_the_backends_and_follows_changes(lab: Lab) -> None:
    client, switch = lab.netns("client"), lab.netns("switch")
    lab.bridge(switch, "br0")
    lab.wire(client, "eth0", switch, "vc", a_address="10.251.0.10/24", b_master="br0")
    for name, address in VIP_BACKENDS.items():
        backend = lab.netns(name)
        lab.wire(backend, "eth0", switch, f"v{name}", a_address=f"{address}/24", b_master="br0")
        lab.serve(backend, name, 8080)

    apply(container_table([VipRule(VIP, tuple(VIP_BACKENDS.values()))]), client)
    answers = lab.answers(client, VIP, 8080, 30)
    assert set(names(answers)) == {"b1", "b2", "b3"}, answers
    assert all(n >= 5 for n in names(answers).values()), answers  # round-robin: 10 each
    assert {answer.split()[1] for answer in answers} == {"10.251.0.10"}  # source kept

    apply(container_table([VipRule(VIP, (VIP_BACKENDS["b1"], VIP_BACKENDS["b3"]))]), client)
    answers = lab.answers(client, VIP, 8080, 30)
    assert set(names(answers)) == {"b1", "b3"}, answers

    apply(container_table([VipRule(VIP, ())]), client)
    results = lab.connect(client, VIP, 8080, 3)
    assert [answer for answer, _ in results] == ["refused"] * 3
    assert max(elapsed for _, elapsed in results) < 1.0, results


# --- routing mesh: host -> ingress sandbox -> backends on the overlay -----------------------

GW_SUBNET = "10.252.1.0/24"
NODE = "10.252.0.1"  # the node's own address, where clients reach published ports
CLIENT_ADDR = "10.252.0.10"
SBOX_GW = "10.252.1.2"  # the ingress sandbox on the gateway bridge
SBOX_OVERLAY = "10.252.2.2"
MESH_BACKENDS = {"b1": "10.252.2.11", "b2": "10.252.2.12"}
B1_GW = "10.252.1.11"  # b1's gateway-bridge address (host-mode port, egress)


@pytest.fixture
def mesh(lab: Lab) -> dict[str, Path]:
    ns = {role: lab.netns(role) for role in ("host", "sbox", "overlay", "client", "b1", "b2")}
    host, sbox = ns["host"], ns["sbox"]
    lab.bridge(host, "shoal_gwbridge", "10.252.1.1/24")
    lab.wire(ns["client"], "eth0", host, "up0", a_address=f"{CLIENT_ADDR}/24")
    lab.ip(host, "addr", "add", f"{NODE}/24", "dev", "up0")
    lab.wire(sbox, "eth1", host, "gw0", a_address=f"{SBOX_GW}/24", b_master="shoal_gwbridge")
    lab.ip(sbox, "route", "add", "default", "via", "10.252.1.1")
    lab.bridge(ns["overlay"], "br0")
    lab.wire(sbox, "eth0", ns["overlay"], "vs", a_address=f"{SBOX_OVERLAY}/24", b_master="br0")
    for name, address in MESH_BACKENDS.items():
        veth = f"v{name}"
        lab.wire(ns[name], "eth0", ns["overlay"], veth, a_address=f"{address}/24", b_master="br0")
        lab.serve(ns[name], name, 80)
    lab.wire(ns["b1"], "eth1", host, "gw1", a_address=f"{B1_GW}/24", b_master="shoal_gwbridge")
    lab.ip(ns["b1"], "route", "add", "default", "via", "10.252.1.1")
    sysctl(host, "net.ipv4.ip_forward", "1")
    # as the gateway bridge sets it: lets the node reach published ports on 127.0.0.1
    sysctl(host, "net.ipv4.conf.shoal_gwbridge.route_localnet", "1")
    sysctl(sbox, "net.ipv4.ip_forward", "1")
    apply(
        host_table(
            gw_subnet=GW_SUBNET,
            gw_bridge="shoal_gwbridge",
            mesh_ports=[("tcp", 8080)],
            sbox_address=SBOX_GW,
            host_ports=[HostPort("tcp", 9090, B1_GW, 80)],
        ),
        host,
    )
    rule = MeshRule("tcp", 8080, 80, tuple(MESH_BACKENDS.values()))
    apply(ingress_sbox_table([rule], overlay_ifname="eth0"), sbox)
    return ns


def test_published_port_reaches_every_backend_on_the_target_port(
    lab: Lab, mesh: dict[str, Path]
) -> None:
    answers = lab.answers(mesh["client"], NODE, 8080, 20)
    assert names(answers) == Counter({"b1": 10, "b2": 10}), answers
    # masqueraded by the sandbox, so the answers go back through it
    assert {answer.split()[1] for answer in answers} == {SBOX_OVERLAY}


@pytest.mark.parametrize("address", [NODE, "127.0.0.1"])
def test_published_port_answers_the_node_itself(
    lab: Lab, mesh: dict[str, Path], address: str
) -> None:
    answers = lab.answers(mesh["host"], address, 8080, 4)  # nat output
    assert set(names(answers)) == {"b1", "b2"}, answers


@pytest.mark.parametrize("bridge_netfilter", ["0", "1"])
def test_published_port_answers_a_container_through_the_node_address(
    lab: Lab, mesh: dict[str, Path], bridge_netfilter: str
) -> None:
    # With br_netfilter (Docker loads it) the bridge would undo the DNAT of the answer
    # itself; without it only the hairpin masquerade brings the answer back the right way.
    if Path("/proc/sys/net/bridge").exists():
        sysctl(mesh["host"], "net.bridge.bridge-nf-call-iptables", bridge_netfilter)
    elif bridge_netfilter == "1":
        pytest.skip("br_netfilter is not loaded")
    answers = lab.answers(mesh["b1"], NODE, 8080, 4)
    assert set(names(answers)) == {"b1", "b2"}, answers


def test_published_port_without_backends_is_refused_at_once(
    lab: Lab, mesh: dict[str, Path]
) -> None:
    # Even something listening in the sandbox itself must not answer for the service.
    lab.serve(mesh["sbox"], "sbox", 8080)
    apply(ingress_sbox_table([MeshRule("tcp", 8080, 80, ())]), mesh["sbox"])
    results = lab.connect(mesh["client"], NODE, 8080, 3)
    assert [answer for answer, _ in results] == ["refused"] * 3
    assert max(elapsed for _, elapsed in results) < 1.0, results


def test_host_mode_port_reaches_the_task_with_the_client_address(
    lab: Lab, mesh: dict[str, Path]
) -> None:
    answers = lab.answers(mesh["client"], NODE, 9090, 5)
    assert answers == Counter({f"b1 {CLIENT_ADDR}": 5})


def test_containers_leave_through_the_node_address(lab: Lab, mesh: dict[str, Path]) -> None:
    lab.serve(mesh["client"], "outside", 7070)
    assert lab.answers(mesh["b1"], CLIENT_ADDR, 7070, 2) == Counter({f"outside {NODE}": 2})


# --- applying and removing ------------------------------------------------------------------


def tables(ns: Path) -> str:
    return ns_run(ns, ["nft", "list", "tables"]).stdout.decode()


def test_delete_table_removes_it_and_a_missing_one_is_fine(lab: Lab) -> None:
    ns = lab.netns("tables")
    apply(container_table([VipRule(VIP, ("10.251.0.11",))]), ns)
    assert "table ip shoal" in tables(ns)
    delete_table(ns)
    assert "table ip shoal" not in tables(ns)
    delete_table(ns)


def test_a_refused_script_keeps_the_rules_and_says_why_in_one_line(lab: Lab) -> None:
    ns = lab.netns("refused")
    apply(container_table([VipRule(VIP, ("10.251.0.11",))]), ns)
    before = ns_run(ns, ["nft", "list", "ruleset"]).stdout
    bad = container_table([VipRule(VIP, ("10.251.0.12",))]).replace("dnat to", "dnat onto")
    with pytest.raises(NftError) as err:
        apply(bad, ns)
    assert re.fullmatch(r"nft refused the rules in namespace \S+: .*Error: .*", str(err.value))
    assert ns_run(ns, ["nft", "list", "ruleset"]).stdout == before


RENDERED = {
    "container": container_table(
        [VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.6", "10.0.1.7")), VipRule("10.0.1.3", ())]
    ),
    "container-empty": container_table([]),
    "ingress": ingress_sbox_table(
        [
            MeshRule("tcp", 80, 8080, ("10.255.0.5", "10.255.0.6")),
            MeshRule("udp", 53, 53, ("10.255.0.5",)),
            MeshRule("sctp", 9000, 9000, ("10.255.0.5",)),
            MeshRule("tcp", 81, 80, ()),
            MeshRule("udp", 81, 80, ()),
        ]
    ),
    "host": host_table(
        gw_subnet="172.18.0.0/16",
        gw_bridge="shoal_gwbridge",
        mesh_ports=[("tcp", 80), ("udp", 53)],
        sbox_address="172.18.0.2",
        host_ports=[HostPort("tcp", 9090, "172.18.0.7", 90)],
    ),
}


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_the_kernel_accepts_every_rendering(lab: Lab, name: str) -> None:
    ns = lab.netns(f"check-{name}")
    ns_run(ns, ["nft", "-c", "-f", "-"], RENDERED[name].encode())  # raises with nft's message
    apply(RENDERED[name], ns)
    apply(RENDERED[name], ns)  # replacing an existing table works too
