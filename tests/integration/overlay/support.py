"""Helpers of the overlay integration tests: fake nodes, wiring, traffic probes.

A fake node is a network namespace with its own run_dir; the code under test runs with the
calling thread inside it (`in_netns(node.ns)`), so "the host namespace" it creates devices
in is the fake node, never the real host. Nodes are joined by a veth "underlay". Traffic is
sent only between namespaces the tests made, with bounded waits (ping -W, socket timeouts).
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from overlay_net.netns import iproute, ns_fd, ns_run

UNDERLAY_PREFIX = 24


@dataclass(frozen=True, slots=True)
class FakeNode:
    node_id: str
    ns: Path  # the node's namespace (its "host" namespace)
    addr: str  # its underlay address, no prefix
    run_dir: Path


def veth_between(a: Path, a_addr: str, b: Path, b_addr: str, *, name: str) -> None:
    """A veth pair `name` (same name on both sides) from `a` to `b`, with addresses (CIDR)."""
    with iproute(a) as ia, ns_fd(b) as fd:
        ia.link("add", ifname=name, kind="veth", peer={"ifname": name, "net_ns_fd": fd})
    for ns, cidr in ((a, a_addr), (b, b_addr)):
        ip, prefix = cidr.split("/")
        with iproute(ns) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            index = ipr.link_lookup(ifname=name)[0]
            ipr.addr("add", index=index, address=ip, prefixlen=int(prefix))
            ipr.link("set", index=index, state="up")


def links(ns: Path) -> list[str]:
    """The names of the links in `ns`."""
    with iproute(ns) as ipr:
        return sorted(str(link.get("IFLA_IFNAME")) for link in ipr.link("dump"))


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root` (in this mount namespace)."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split(" ")[4]
            if point == str(root) or point.startswith(f"{root}/"):
                found.append(point)
    return found


def fdb(ns: Path, dev: str) -> dict[str, str]:
    """`bridge fdb show dev`: MAC -> dst of the entries that have a dst (the vxlan remotes)."""
    out = ns_run(ns, ["bridge", "-j", "fdb", "show", "dev", dev]).stdout
    return {e["mac"]: e["dst"] for e in json.loads(out or b"[]") if "dst" in e}


def neighbours(ns: Path, dev: str) -> dict[str, str]:
    """`ip neigh show dev`: IP -> MAC of the permanent entries."""
    out = ns_run(ns, ["ip", "-j", "neigh", "show", "dev", dev]).stdout
    return {
        e["dst"]: e["lladdr"] for e in json.loads(out or b"[]") if "PERMANENT" in e.get("state", [])
    }


def ping(ns: Path, ip: str, *, wait: int = 3) -> bool:
    """One echo request from `ns` to `ip`; True when answered within `wait` seconds."""
    argv = ["/bin/busybox", "ping", "-c", "1", "-W", str(wait), ip]
    return ns_run(ns, argv, timeout=wait + 10, check=False).returncode == 0


# A one-shot TCP server: prints "ready" once listening, then answers one connection with
# "<what it got, upper-cased> from <the client address it saw>".
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.settimeout(15)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, peer = s.accept()
c.settimeout(15)
data = c.recv(1024)
c.sendall(data.upper() + b" from " + peer[0].encode())
c.close()
"""

CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(sys.argv[3].encode())
c.shutdown(socket.SHUT_WR)
reply = b""
while chunk := c.recv(1024):
    reply += chunk
print(reply.decode())
"""


def tcp_exchange(server_ns: Path, client_ns: Path, ip: str, port: int, message: str) -> str:
    """Run a one-shot server on ip:port in `server_ns`, connect from `client_ns`, send
    `message`; the server's reply ("<MESSAGE> from <client ip>")."""
    argv = ["nsenter", f"--net={server_ns}", "--", sys.executable, "-c", SERVER, ip, str(port)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(server.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=15):
                raise AssertionError("the test server did not start listening within 15 s")
        line = server.stdout.readline()
        if line.strip() != b"ready":
            err = server.stderr.read() if server.stderr else b""
            raise AssertionError(f"the test server failed: {err.decode().strip()}")
        client = ns_run(
            client_ns, [sys.executable, "-c", CLIENT, ip, str(port), message], timeout=20
        )
        server.wait(timeout=15)
        return client.stdout.decode().strip()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
