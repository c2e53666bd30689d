"""The NetworkAgent's drivers: the node's kernel (namespaces, links, nftables) and the
containers' DNS server, each behind a small protocol so the agent's decisions are tested
against fakes (tests/unit/overlay_net/fakes.py) and the real parts only where they live.

    NetworkAgent ──▶ Kernel       LinuxKernel: sandbox.py, endpoint.py, gateway.py, netns.py,
                                               nftapply.py (pyroute2, nft)
                 ──▶ ContainerDNS EmbeddedDNS (dns.py)

Kernel methods block: the agent calls them in a worker thread. "The host namespace" (`ns`
None) is the calling thread's, as everywhere in overlay_net.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Protocol

from manager.dispatcher.networks import NetworkPeer
from manager.store import Network
from overlay_net import netns, nftapply
from overlay_net.endpoint import attach_endpoint, detach_endpoint
from overlay_net.gateway import TABLE_FILE, GatewayBridge
from overlay_net.sandbox import NetworkSandbox, sandbox_paths


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """The node's gateway bridge as the agent sees it: what its host table names."""

    name: str
    subnet: IPv4Network


class Kernel(Protocol):
    """What the agent asks of the node's kernel. Setting up is idempotent (a second call
    adopts what the first made) and removing what is gone is fine; the gateway_* calls and
    remove_gateway need the bridge: ensure_gateway or saved_gateway first."""

    # network sandboxes: <run_dir>/netns/shoal-net-<id12>, br0 + vxlan0
    def ensure_sandbox(
        self, network: Network, *, node_addr: str, data_path_port: int
    ) -> NetworkSandbox: ...

    def set_peers(
        self, sandbox: NetworkSandbox, peers: Iterable[NetworkPeer], *, local_node_id: str
    ) -> None: ...

    def remove_sandbox(self, path: Path) -> None: ...

    def sandbox_paths(self) -> list[Path]:
        """The sandboxes mounted under run_dir, of this run or an earlier one."""
        ...

    # plain namespaces: the ingress sbox's, a container's
    def create_netns(self, path: Path) -> None: ...

    def remove_netns(self, path: Path) -> None: ...

    def netns_exists(self, path: Path) -> bool: ...

    def pid_netns(self, pid: int) -> Path: ...

    # a namespace's interface on a sandbox's br0
    def attach_endpoint(
        self,
        sandbox: NetworkSandbox,
        target: Path,
        *,
        key: str,
        ifname: str,
        address: str,
        mac: str,
    ) -> None: ...

    def detach_endpoint(self, sandbox: NetworkSandbox, *, key: str) -> None: ...

    # the gateway bridge in the host namespace; addresses are held by key
    def ensure_gateway(self) -> GatewayInfo: ...

    def saved_gateway(self) -> GatewayInfo | None:
        """The bridge a previous run left (its address table is on disk), adopted; else None."""
        ...

    def remove_gateway(self) -> None: ...

    def gateway_attach(self, target: Path, *, key: str, ifname: str) -> str:
        """`ifname` in `target` on the bridge, default route via it; returns its CIDR."""
        ...

    def gateway_release(self, key: str) -> None: ...

    def gateway_address(self, key: str) -> str | None: ...

    def sysctl(self, ns: Path | None, key: str, value: str) -> None: ...

    # nftables: table `ip shoal` of one namespace, replaced whole
    def nft_apply(self, script: str, ns: Path | None) -> None: ...

    def nft_delete_table(self, ns: Path | None) -> None: ...


class ContainerDNS(Protocol):
    """The embedded DNS server at 127.0.0.11:53 in each container, by key (a task id)."""

    async def open(self, key: str, ns: Path) -> None: ...

    def set_records(
        self, key: str, records: Mapping[str, Sequence[str]], *, upstream: Sequence[str] = ()
    ) -> None: ...

    async def close_one(self, key: str) -> None: ...

    async def close(self) -> None: ...


class LinuxKernel:
    """The real kernel: pyroute2 and `nft`. Holds the gateway bridge's address table (also
    saved under run_dir) once ensure_gateway or saved_gateway has loaded it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._gateway: GatewayBridge | None = None

    def ensure_sandbox(
        self, network: Network, *, node_addr: str, data_path_port: int
    ) -> NetworkSandbox:
        return NetworkSandbox.ensure(
            network, run_dir=self.run_dir, node_addr=node_addr, data_path_port=data_path_port
        )

    def set_peers(
        self, sandbox: NetworkSandbox, peers: Iterable[NetworkPeer], *, local_node_id: str
    ) -> None:
        sandbox.set_peers(peers, local_node_id=local_node_id)

    def remove_sandbox(self, path: Path) -> None:
        NetworkSandbox.at(path).remove()

    def sandbox_paths(self) -> list[Path]:
        return sandbox_paths(self.run_dir)

    def create_netns(self, path: Path) -> None:
        netns.create_netns(path)

    def remove_netns(self, path: Path) -> None:
        netns.remove_netns(path)

    def netns_exists(self, path: Path) -> bool:
        return path.exists()

    def pid_netns(self, pid: int) -> Path:
        return netns.pid_netns(pid)

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
        attach_endpoint(sandbox, target, key=key, ifname=ifname, address=address, mac=mac)

    def detach_endpoint(self, sandbox: NetworkSandbox, *, key: str) -> None:
        detach_endpoint(sandbox, key=key)

    def ensure_gateway(self) -> GatewayInfo:
        self._gateway = GatewayBridge.ensure(self.run_dir)
        return GatewayInfo(self._gateway.name, self._gateway.subnet)

    def saved_gateway(self) -> GatewayInfo | None:
        if not (self.run_dir / TABLE_FILE).exists():
            return None
        return self.ensure_gateway()

    def remove_gateway(self) -> None:
        self._bridge().remove()
        self._gateway = None

    def gateway_attach(self, target: Path, *, key: str, ifname: str) -> str:
        return self._bridge().attach(target, key=key, ifname=ifname)

    def gateway_release(self, key: str) -> None:
        self._bridge().release(key)

    def gateway_address(self, key: str) -> str | None:
        return self._bridge().address(key)

    def sysctl(self, ns: Path | None, key: str, value: str) -> None:
        netns.sysctl(ns, key, value)

    def nft_apply(self, script: str, ns: Path | None) -> None:
        nftapply.apply(script, ns)

    def nft_delete_table(self, ns: Path | None) -> None:
        nftapply.delete_table(ns)

    def _bridge(self) -> GatewayBridge:
        if self._gateway is None:
            raise RuntimeError("the gateway bridge is not set up; ensure_gateway() first")
        return self._gateway
