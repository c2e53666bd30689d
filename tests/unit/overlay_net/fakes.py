"""Fakes of the NetworkAgent's drivers (overlay_net/kernel.py): a kernel that keeps the state
the real one would and records every change, and a DNS server that keeps records per key.

FakeKernel outlives an agent like the node's kernel does, so a second NetworkAgent on the same
FakeKernel is a restarted daemon. Containers are namespaces at /proc/<pid>/ns/net: start one
with `start_container(pid)`, let it die with `kill_container(pid)`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

from manager.dispatcher.networks import NetworkPeer
from manager.store import Network
from overlay_net.gateway import BRIDGE_NAME, GatewayTable
from overlay_net.kernel import GatewayInfo
from overlay_net.netns import NetnsError
from overlay_net.nftapply import NftError
from overlay_net.sandbox import NetworkSandbox, gateway_interface

GATEWAY_SUBNET = IPv4Network("172.18.0.0/16")
HOST = "host"  # how calls name the host namespace


@dataclass(frozen=True, slots=True)
class Link:
    """An interface in a namespace: which bridge its other end is on, and its address."""

    bridge: str  # a sandbox's name (its br0) or BRIDGE_NAME
    address: str  # CIDR
    key: str  # the attachment's key (a task id, "ingress-sbox")


@dataclass(slots=True)
class Sandbox:
    network_id: str
    vxlan_id: int
    gateway: str  # br0's address
    peers: dict[str, str] = field(default_factory=dict)  # remote IP -> its node's address


def _where(ns: Path | None) -> str:
    return HOST if ns is None else ns.name if ns.name != "net" else str(ns)


class FakeKernel:
    """The node's kernel as the agent changes it.

    State: `namespaces` (paths), `sandboxes` (path -> Sandbox), `links` (namespace path ->
    ifname -> Link), `gateway` (the bridge's address table, None: no bridge), `nft` (namespace
    path or None for the host -> table text), `sysctls`. `calls` lists every change as
    (operation, where), `removed` what was taken away. `fail(op, error, where)` makes an
    operation raise until `heal()`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.namespaces: set[Path] = set()
        self.sandboxes: dict[Path, Sandbox] = {}
        self.links: dict[Path, dict[str, Link]] = {}
        self.gateway: GatewayTable | None = None
        self.nft: dict[Path | None, str] = {}
        self.sysctls: dict[tuple[Path | None, str], str] = {}
        self.calls: list[tuple[str, str]] = []
        self.removed: list[str] = []
        self._failures: list[tuple[str, str, Exception]] = []

    # -- the test's controls -----------------------------------------------------------------

    def fail(self, op: str, error: Exception, where: str = "") -> None:
        """`op` (a Kernel method name) raises `error`; only for `where` (what calls lists
        for it) when given."""
        self._failures.append((op, where, error))

    def heal(self) -> None:
        self._failures.clear()

    def start_container(self, pid: int) -> Path:
        ns = self.pid_netns(pid)
        self.namespaces.add(ns)
        return ns

    def kill_container(self, pid: int) -> None:
        """The container exits: its namespace goes and takes its interfaces (the veth pairs)
        and its table with it."""
        self._drop_namespace(self.pid_netns(pid))

    def leftover_sandbox(self, network_id: str) -> Path:
        """A sandbox a previous run left mounted under run_dir."""
        path = self.netns_dir / NetworkSandbox.name_for(network_id)
        self.namespaces.add(path)
        return path

    # -- what tests read ---------------------------------------------------------------------

    @property
    def netns_dir(self) -> Path:
        return self.run_dir / "netns"

    def sandbox(self, network_id: str) -> Sandbox | None:
        return self.sandboxes.get(self.netns_dir / NetworkSandbox.name_for(network_id))

    def interfaces(self, ns: Path) -> dict[str, tuple[str, str]]:
        """ifname -> (bridge, address) of the interfaces in `ns`, in name order."""
        return {
            n: (link.bridge, link.address) for n, link in sorted(self.links.get(ns, {}).items())
        }

    def ops(self, op: str) -> list[str]:
        return [where for name, where in self.calls if name == op]

    # -- Kernel: network sandboxes -----------------------------------------------------------

    def ensure_sandbox(
        self, network: Network, *, node_addr: str, data_path_port: int
    ) -> NetworkSandbox:
        self._change("ensure_sandbox", network.id)
        gateway = str(gateway_interface(network))  # raises for an unallocated network
        path = self.netns_dir / NetworkSandbox.name_for(network.id)
        self.namespaces.add(path)
        sandbox = self.sandboxes.get(path)
        if sandbox is None or sandbox.vxlan_id != network.vxlan_id:
            self.sandboxes[path] = Sandbox(network.id, network.vxlan_id, gateway)
        return NetworkSandbox(path, network.vxlan_id, 1450)

    def set_peers(
        self, sandbox: NetworkSandbox, peers: Iterable[NetworkPeer], *, local_node_id: str
    ) -> None:
        self._change("set_peers", sandbox.path.name)
        found = self.sandboxes.get(sandbox.path)
        if found is None:
            raise NetnsError(f"sandbox {sandbox.path.name} has no vxlan0; ensure() it first")
        found.peers = {
            str(ipaddress.ip_interface(p.address).ip): p.node_addr
            for p in peers
            if p.node_id != local_node_id
        }

    def remove_sandbox(self, path: Path) -> None:
        self._change("remove_sandbox", path.name)
        self.sandboxes.pop(path, None)
        for links in self.links.values():  # the containers' ends of its veth pairs
            for ifname in [n for n, link in links.items() if link.bridge == path.name]:
                del links[ifname]
        self._drop_namespace(path)

    def sandbox_paths(self) -> list[Path]:
        return sorted(
            p
            for p in self.namespaces
            if p.parent == self.netns_dir and p.name.startswith("shoal-net-")
        )

    # -- Kernel: plain namespaces ------------------------------------------------------------

    def create_netns(self, path: Path) -> None:
        self._change("create_netns", path.name)
        self.namespaces.add(path)

    def remove_netns(self, path: Path) -> None:
        self._change("remove_netns", path.name)
        self._drop_namespace(path)

    def netns_exists(self, path: Path) -> bool:
        return path in self.namespaces

    def pid_netns(self, pid: int) -> Path:
        return Path(f"/proc/{pid}/ns/net")

    # -- Kernel: endpoints -------------------------------------------------------------------

    def attach_endpoint(
        self,
        sandbox: NetworkSandbox,
        target: Path,
        *,
        key: str,
        ifname: str,
        address: str,
        mac: str,
    ) -> None:
        self._change("attach_endpoint", f"{_where(target)} {ifname}")
        if sandbox.path not in self.sandboxes:
            raise NetnsError("bridge br0 is missing; the network must be set up first")
        self._plug(target, ifname, Link(sandbox.path.name, address, key))

    def detach_endpoint(self, sandbox: NetworkSandbox, *, key: str) -> None:
        self._change("detach_endpoint", f"{sandbox.path.name} {key}")
        self._unplug(sandbox.path.name, key)

    # -- Kernel: the gateway bridge ----------------------------------------------------------

    def ensure_gateway(self) -> GatewayInfo:
        self._change("ensure_gateway", HOST)
        if self.gateway is None:
            self.gateway = GatewayTable(GATEWAY_SUBNET)
        return GatewayInfo(BRIDGE_NAME, self.gateway.subnet)

    def saved_gateway(self) -> GatewayInfo | None:
        return self.ensure_gateway() if self.gateway is not None else None

    def remove_gateway(self) -> None:
        self._change("remove_gateway", HOST)
        self._bridge()
        self._unplug(BRIDGE_NAME, None)
        self.gateway = None

    def gateway_attach(self, target: Path, *, key: str, ifname: str) -> str:
        self._change("gateway_attach", f"{_where(target)} {ifname}")
        address = str(self._bridge().allocate(key))
        self._plug(target, ifname, Link(BRIDGE_NAME, address, key))
        return address

    def gateway_release(self, key: str) -> None:
        self._change("gateway_release", key)
        self._unplug(BRIDGE_NAME, key)
        self._bridge().release(key)

    def gateway_address(self, key: str) -> str | None:
        found = self._bridge().addresses.get(key)
        return str(found) if found is not None else None

    def sysctl(self, ns: Path | None, key: str, value: str) -> None:
        self._change("sysctl", f"{_where(ns)} {key}={value}")
        self.sysctls[(ns, key)] = value

    # -- Kernel: nftables --------------------------------------------------------------------

    def nft_apply(self, script: str, ns: Path | None) -> None:
        self._change("nft_apply", _where(ns))
        if ns is not None and ns not in self.namespaces:
            raise NftError(f"cannot apply nftables rules in namespace {ns}: it is gone")
        self.nft[ns] = script

    def nft_delete_table(self, ns: Path | None) -> None:
        self._change("nft_delete_table", _where(ns))
        if self.nft.pop(ns, None) is not None:
            self.removed.append(f"nft {_where(ns)}")

    # -- helpers -----------------------------------------------------------------------------

    def _change(self, op: str, where: str) -> None:
        self.calls.append((op, where))
        for name, only, failure in self._failures:
            if name == op and (not only or only in where):
                raise failure

    def _bridge(self) -> GatewayTable:
        if self.gateway is None:  # as LinuxKernel: the agent asked before ensure_gateway
            raise RuntimeError("the gateway bridge is not set up; ensure_gateway() first")
        return self.gateway

    def _plug(self, ns: Path, ifname: str, link: Link) -> None:
        if ns not in self.namespaces:
            raise NetnsError(f"network namespace {ns} is gone")
        self.links.setdefault(ns, {})[ifname] = link

    def _unplug(self, bridge: str, key: str | None) -> None:
        for links in self.links.values():
            for ifname, link in list(links.items()):
                if link.bridge == bridge and (key is None or link.key == key):
                    del links[ifname]

    def _drop_namespace(self, path: Path) -> None:
        if path in self.namespaces:
            self.removed.append(_where(path))
        self.namespaces.discard(path)
        self.sandboxes.pop(path, None)
        self.links.pop(path, None)
        self.nft.pop(path, None)
        self.sysctls = {k: v for k, v in self.sysctls.items() if k[0] != path}


class FakeDNS:
    """The embedded DNS server: which containers it listens in, and each one's records and
    upstream servers (set_records' arguments, as given)."""

    def __init__(self) -> None:
        self.listening: dict[str, Path] = {}  # key -> the namespace it listens in
        self.records: dict[str, dict[str, tuple[str, ...]]] = {}
        self.upstream: dict[str, tuple[str, ...]] = {}
        self.opened: list[str] = []
        self.closed: list[str] = []  # keys closed one by one; "*" for close()

    async def open(self, key: str, ns: Path) -> None:
        self.opened.append(key)
        self.listening[key] = ns

    def set_records(
        self, key: str, records: Mapping[str, Sequence[str]], *, upstream: Sequence[str] = ()
    ) -> None:
        self.records[key] = {name: tuple(addresses) for name, addresses in records.items()}
        self.upstream[key] = tuple(upstream)

    async def close_one(self, key: str) -> None:
        self.closed.append(key)
        self.listening.pop(key, None)
        self.records.pop(key, None)
        self.upstream.pop(key, None)

    async def close(self) -> None:
        self.closed.append("*")
        self.listening.clear()
        self.records.clear()
        self.upstream.clear()
