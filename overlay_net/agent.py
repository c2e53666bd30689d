"""The node's network agent: turns the peer table into sandboxes, links, rules and DNS.

    set_networks(views) ─▶ per network: NetworkSandbox (br0 + vxlan0), FDB/neighbour entries
                      ─▶ ingress: the node's ingress sbox (eth0 on ingress, eth1 on the
                         gateway bridge) and its mesh rules (nft table `ip shoal` there)
                      ─▶ every attached container: its VIP rules and its DNS records
                      ─▶ the host's table: mesh DNAT, host-mode ports, egress masquerade
    attach(task, pid) ─▶ eth0.. on the task's networks, the gateway interface last, the
                         container's VIP table, its DNS server at 127.0.0.11
    detach(task_id)   ─▶ the sandbox ends and the gateway address go; DNS closes

The worker calls only this class. It is level-triggered: each call recomputes the rules from
the current views and attachments and rewrites every table whose text changed (nft
replaces a table in one transaction), so a missed change is repaired by the next one. The
kernel and the DNS server are drivers (overlay_net/kernel.py; fakes in the unit tests);
blocking kernel calls (pyroute2, nft) run in a thread; one lock keeps calls from
interleaving.

State lives in the kernel and under `run_dir` (namespace mounts, the gateway's address
table), so a restarted daemon adopts what is there: the first `set_networks` removes the
sandboxes no view asks for, and `attach` is idempotent for containers that kept running.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from manager.dispatcher.networks import NetworkPeer, NetworkView
from manager.store import EndpointMode, PublishMode, Task
from overlay_net import nft, nftapply
from overlay_net.dns import EmbeddedDNS
from overlay_net.kernel import ContainerDNS, GatewayInfo, Kernel, LinuxKernel
from overlay_net.netns import NetnsError
from overlay_net.resolver import records
from overlay_net.sandbox import NetworkSandbox

log = logging.getLogger(__name__)
T = TypeVar("T")

SBOX = "shoal-ingress-sbox"
SBOX_KEY = "ingress-sbox"


class NetworkUnavailable(Exception):
    """A task names a network this node has no view of (yet)."""


def _ip(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr).ip)


@dataclass(frozen=True, slots=True)
class _Attached:
    task: Task
    ns: Path
    network_ids: tuple[str, ...]  # in eth order


def _serving(view: NetworkView, service_id: str) -> tuple[str, ...]:
    return tuple(
        sorted(_ip(p.address) for p in view.peers if p.serving and p.service_id == service_id)
    )


def vip_rules(views: Iterable[NetworkView]) -> list[nft.VipRule]:
    """The VIPs a container on `views` may reach, each with its serving tasks there."""
    rules: list[nft.VipRule] = []
    for view in views:
        for svc in view.services:
            if svc.endpoint_mode is EndpointMode.VIP and svc.vip:
                rules.append(nft.VipRule(_ip(svc.vip), _serving(view, svc.service_id)))
    return sorted(rules, key=lambda r: r.vip)


def mesh_rules(ingress: NetworkView | None) -> list[nft.MeshRule]:
    """Every ingress-published port of the cluster, balanced over its serving tasks."""
    if ingress is None:
        return []
    rules = []
    for svc in ingress.services:
        backends = _serving(ingress, svc.service_id)
        for port in svc.ports:
            if port.publish_mode is PublishMode.INGRESS and port.published_port:
                rules.append(
                    nft.MeshRule(
                        port.protocol.value, port.published_port, port.target_port, backends
                    )
                )
    return sorted(rules, key=lambda r: (r.protocol, r.published))


async def _blocking(fn: Callable[..., T], *args: object) -> T:
    """Run a blocking kernel call in a thread and see it to its end: a cancelled caller
    (a task shut down mid-start, the node leaving) waits for the thread before the
    cancellation goes on, so the agent's lock is never released under a running call."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait({work})
        raise


def _ensure_gateway(kernel: Kernel) -> GatewayInfo:
    return _local_ports_to_bridge(kernel, kernel.ensure_gateway())


def _adopt_gateway(kernel: Kernel) -> GatewayInfo | None:
    """The bridge a previous run of the daemon left, if any (its containers may still hold
    addresses on it)."""
    gateway = kernel.saved_gateway()
    return _local_ports_to_bridge(kernel, gateway) if gateway is not None else None


def _local_ports_to_bridge(kernel: Kernel, gateway: GatewayInfo) -> GatewayInfo:
    # a node's own 127.0.0.1:<published port> is DNATed onto the bridge, as Docker does
    kernel.sysctl(None, f"net.ipv4.conf.{gateway.name}.route_localnet", "1")
    return gateway


def _remove_gateway(kernel: Kernel) -> None:
    kernel.nft_delete_table(None)
    kernel.remove_gateway()


def own_ingress_peer(ingress: NetworkView | None, node_id: str) -> NetworkPeer | None:
    if ingress is None:
        return None
    return next((p for p in ingress.peers if p.node_id == node_id and not p.task_id), None)


class NetworkAgent:
    def __init__(
        self,
        *,
        node_id: str,
        node_addr: str,
        run_dir: Path,
        upstream: Sequence[str] = (),
        kernel: Kernel | None = None,
        dns: ContainerDNS | None = None,
    ) -> None:
        """`kernel`: None -> the node's (LinuxKernel); `dns`: None -> EmbeddedDNS forwarding
        to `upstream` (() -> the host's resolvers) the names that are not the cluster's."""
        self.node_id = node_id
        self.node_addr = node_addr
        self.run_dir = run_dir
        self._kernel: Kernel = kernel if kernel is not None else LinuxKernel(run_dir)
        self._dns: ContainerDNS = dns if dns is not None else EmbeddedDNS(upstream=upstream)
        self._lock = asyncio.Lock()
        self._views: dict[str, NetworkView] = {}
        self._sandboxes: dict[str, NetworkSandbox] = {}
        self._attached: dict[str, _Attached] = {}
        self._gateway: GatewayInfo | None = None
        self._sbox_addr = ""  # the ingress sbox's gateway-bridge address, once it exists
        self._sbox_built_for = ""  # the node's ingress address the sbox was plumbed with
        self._written: dict[str, str] = {}  # "host" | "sbox" | task id -> the table it holds

    @property
    def netns_dir(self) -> Path:
        return self.run_dir / "netns"

    async def start(self) -> None:
        """Nothing is made until a network is needed: a node whose tasks use no network and
        which publishes no port has no bridge, namespace or rule."""

    # -- the peer table --------------------------------------------------------------------

    async def set_networks(self, views: Mapping[str, NetworkView]) -> None:
        async with self._lock:
            self._views = dict(views)
            await self._converge()

    def _needed(self) -> dict[str, NetworkView]:
        """The networks that need a sandbox here: every view of a task's network, and
        ingress while the cluster publishes a port (the mesh answers on every node)."""
        return {i: v for i, v in self._views.items() if not v.network.spec.ingress or mesh_rules(v)}

    async def _converge(self) -> None:
        """Every step runs even when an earlier one failed (one bad network or container
        must not keep the others stale); the first failure is raised at the end, so the
        worker retries."""
        needed = self._needed()
        if (needed or self._attached) and self._gateway is None:
            self._gateway = await _blocking(_ensure_gateway, self._kernel)
        steps: list[Callable[[], Awaitable[None]]] = [
            lambda: _blocking(self._sync_sandboxes, needed),
            self._sync_ingress,
            *(functools.partial(self._refresh_container, a) for a in self._attached.values()),
        ]
        failures: list[Exception] = []
        for step in steps:
            try:
                await step()
            except Exception as e:  # kernel and nft errors; raised below
                failures.append(e)
        if needed or self._attached:
            await self._apply_host()
        elif self._gateway is not None:
            self._gateway = None
            self._written.pop("host", None)
            await _blocking(_remove_gateway, self._kernel)
        for later in failures[1:]:
            log.warning("setting up the node's networks: %s", later)
        if failures:
            raise failures[0]

    def _sync_sandboxes(self, needed: Mapping[str, NetworkView]) -> None:
        kernel = self._kernel
        wanted = {NetworkSandbox.name_for(i) for i in needed}
        failed: list[str] = []
        for path in kernel.sandbox_paths():
            if path.name not in wanted:
                self._sandboxes = {k: s for k, s in self._sandboxes.items() if s.path != path}
                try:
                    kernel.remove_sandbox(path)
                except NetnsError as e:  # a stuck leftover must not keep new networks out
                    failed.append(f"removing sandbox {path.name}: {e}")
        for network_id, view in sorted(needed.items()):
            try:
                sandbox = kernel.ensure_sandbox(
                    view.network, node_addr=self.node_addr, data_path_port=view.data_path_port
                )
                kernel.set_peers(sandbox, view.peers, local_node_id=self.node_id)
            except NetnsError as e:  # the other networks go on; the caller retries
                failed.append(f"network {view.network.spec.name or network_id}: {e}")
                continue
            self._sandboxes[network_id] = sandbox
        if failed:
            raise NetnsError("; ".join(failed))

    def _ingress_view(self) -> NetworkView | None:
        return next((v for v in self._views.values() if v.network.spec.ingress), None)

    async def _sync_ingress(self) -> None:
        ingress = self._ingress_view()
        me = own_ingress_peer(ingress, self.node_id)
        sbox = self.netns_dir / SBOX
        kernel = self._kernel
        if ingress is None or me is None or ingress.network.id not in self._sandboxes:
            if kernel.netns_exists(sbox) or self._sbox_addr:
                await _blocking(self._remove_sbox)
            return
        self._require_gateway()
        sandbox = self._sandboxes[ingress.network.id]

        def build() -> str:
            kernel.create_netns(sbox)
            kernel.attach_endpoint(
                sandbox, sbox, key=SBOX_KEY, ifname="eth0", address=me.address, mac=me.mac
            )
            addr = kernel.gateway_attach(sbox, key=SBOX_KEY, ifname="eth1")
            kernel.sysctl(sbox, "net.ipv4.ip_forward", "1")
            return _ip(addr)

        if self._sbox_built_for != me.address or not kernel.netns_exists(sbox):
            self._sbox_addr = await _blocking(build)
            self._sbox_built_for = me.address
            self._written.pop("sbox", None)
        script = nft.ingress_sbox_table(mesh_rules(ingress), overlay_ifname="eth0")
        await self._write_table("sbox", script, sbox)

    def _remove_sbox(self) -> None:
        if self._gateway is not None:
            self._kernel.gateway_release(SBOX_KEY)
        self._kernel.remove_netns(self.netns_dir / SBOX)
        self._sbox_addr = self._sbox_built_for = ""
        self._written.pop("sbox", None)

    # -- containers ------------------------------------------------------------------------

    async def attach(self, task: Task, pid: int) -> None:
        """Join the running container `pid` to the task's networks, then to the gateway
        bridge (idempotent). A task on no network gets only the gateway bridge: egress and
        host-mode ports, as Swarm's get the engine's default bridge."""
        async with self._lock:
            ns = self._kernel.pid_netns(pid)
            network_ids = tuple(a.network_id for a in task.networks)
            missing = [n for n in network_ids if n not in self._sandboxes]
            if missing:
                raise NetworkUnavailable(
                    f"network {missing[0]} is not set up on this node yet; the task is retried"
                )
            if self._gateway is None:
                self._gateway = await _blocking(_ensure_gateway, self._kernel)
            await _blocking(self._plumb, task, ns)
            attached = _Attached(task, ns, network_ids)
            self._attached[task.id] = attached
            if network_ids:
                await self._dns.open(task.id, ns)
            await self._refresh_container(attached)
            await self._apply_host()

    def _plumb(self, task: Task, ns: Path) -> None:
        for index, attachment in enumerate(task.networks):
            self._kernel.attach_endpoint(
                self._sandboxes[attachment.network_id],
                ns,
                key=task.id,
                ifname=f"eth{index}",
                address=attachment.addresses[0],
                mac=attachment.mac,
            )
        if not self._all_internal(task):
            self._require_gateway()
            self._kernel.gateway_attach(ns, key=task.id, ifname=f"eth{len(task.networks)}")

    def _all_internal(self, task: Task) -> bool:
        views = [self._views.get(a.network_id) for a in task.networks]
        return bool(views) and all(v is not None and v.network.spec.internal for v in views)

    async def _refresh_container(self, attached: _Attached) -> None:
        """Rewrite the container's VIP table and DNS records from the current views."""
        if not attached.network_ids:
            return  # no VIPs to reach, and the engine's resolv.conf
        views = [
            self._views[n]
            for n in attached.network_ids
            if n in self._views and not self._views[n].network.spec.ingress
        ]
        script = nft.container_table(vip_rules(views))
        try:
            await self._write_table(attached.task.id, script, attached.ns)
        except nftapply.NftError as e:
            if not self._kernel.netns_exists(attached.ns):  # the container is gone; detach follows
                return
            raise e
        dns = attached.task.spec.container.dns_config
        self._dns.set_records(
            attached.task.id, records(views), upstream=dns.nameservers if dns else ()
        )

    async def detach(self, task_id: str) -> None:
        async with self._lock:
            attached = self._attached.pop(task_id, None)
            self._written.pop(task_id, None)
            await self._dns.close_one(task_id)
            network_ids = attached.network_ids if attached else tuple(self._sandboxes)

            def unplumb() -> None:
                kernel = self._kernel
                for network_id in network_ids:
                    sandbox = self._sandboxes.get(network_id)
                    if sandbox is not None:
                        kernel.detach_endpoint(sandbox, key=task_id)
                if self._gateway is None:
                    self._gateway = _adopt_gateway(kernel)  # after a restart
                if self._gateway is not None:
                    kernel.gateway_release(task_id)

            await _blocking(unplumb)
            await self._converge()

    # -- the host's table ------------------------------------------------------------------

    def _require_gateway(self) -> GatewayInfo:
        if self._gateway is None:
            raise RuntimeError("the gateway bridge is not set up; attach() sets it up first")
        return self._gateway

    def _host_ports(self) -> list[nft.HostPort]:
        """Host-mode ports of the tasks here. A port also published in ingress mode, or by
        two tasks here (both refused upstream, so only stale state) is published once: one
        bad pair must not stop the node's table from being written."""
        self._require_gateway()
        taken = {(r.protocol, r.published) for r in mesh_rules(self._ingress_view())}
        ports = []
        for attached in self._attached.values():
            addr = self._kernel.gateway_address(attached.task.id)
            endpoint = attached.task.endpoint
            if addr is None or endpoint is None:
                continue
            # a task placed before the allocator filled its endpoint carries the spec's ports:
            # host-mode ones are as the user gave them either way
            for port in endpoint.ports or endpoint.spec.ports:
                key = (port.protocol.value, port.published_port)
                if port.publish_mode is not PublishMode.HOST or not port.published_port:
                    continue
                if key in taken:  # refused by the control API and the scheduler: stale
                    log.warning("port %s/%s is published twice here; keeping one", *key[::-1])
                    continue
                taken.add(key)
                ports.append(nft.HostPort(*key, _ip(addr), port.target_port))
        return sorted(ports, key=lambda p: (p.protocol, p.published))

    async def _apply_host(self) -> None:
        gateway = self._gateway
        if gateway is None:
            return
        mesh = [(r.protocol, r.published) for r in mesh_rules(self._ingress_view())]
        script = nft.host_table(
            gw_subnet=str(gateway.subnet),
            gw_bridge=gateway.name,
            mesh_ports=mesh if self._sbox_addr else [],
            sbox_address=self._sbox_addr,
            host_ports=self._host_ports(),
        )
        await self._write_table("host", script, None)

    async def _write_table(self, key: str, script: str, ns: Path | None) -> None:
        """Apply `script` (nft replaces the table whole) unless this agent already wrote
        exactly that there: every set_networks recomputes every table, and most of them did
        not change. A new agent (daemon restart) writes each once."""
        if self._written.get(key) == script:
            return
        await _blocking(self._kernel.nft_apply, script, ns)
        self._written[key] = script

    # -- the end ---------------------------------------------------------------------------

    async def close(self) -> None:
        """The daemon stops: DNS sockets close; links, namespaces and rules stay for the
        containers that keep running (a restarted daemon adopts them)."""
        async with self._lock:
            await self._dns.close()

    async def leave(self) -> None:
        """`swarm leave`: remove everything this node made for the overlay."""
        async with self._lock:
            await self._dns.close()

            def remove_all() -> None:
                kernel = self._kernel
                gateway = self._gateway
                if gateway is None:
                    gateway = kernel.saved_gateway()  # a previous run's: adopt it
                self._remove_sbox()
                for path in kernel.sandbox_paths():
                    kernel.remove_sandbox(path)
                if gateway is not None:
                    _remove_gateway(kernel)

            await _blocking(remove_all)
            self._attached.clear()
            self._sandboxes.clear()
            self._views.clear()
            self._written.clear()
            self._gateway = None
