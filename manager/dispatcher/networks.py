"""What a worker is told about the overlay networks its tasks use: the peer table.

A node gets one NetworkView per network it needs: the networks of its tasks that may still
run, and `ingress` always (every node answers on published ports). A view holds every address
on the network cluster-wide (which node owns it: the VXLAN destination) and every service
reachable on it (its VIP and its serving tasks), so the node can program its sandbox's FDB and
neighbour entries, its containers' VIP rules and their embedded DNS without asking anyone.

    network_views(view, node, its tasks)
        needed = allocated networks of its tasks that may still run, + ingress once allocated
        nothing needed ─▶ {}                        (the cluster's tasks are not scanned)
        else one pass: each live task's attachment on a needed network ─▶ NetworkPeer
                       each node's ingress attachment ─▶ NetworkPeer (task_id "")
                       services with a VIP or tasks there ─▶ NetworkService

A peer needs its node's underlay address (Node.status.addr, from its heartbeats): an address
on a node that has not reported one is left out until it has.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from manager.allocator.rules import holds_addresses
from manager.store import (
    EndpointMode,
    Network,
    NetworkAttachment,
    Node,
    PortConfig,
    ReadTx,
    Service,
    Task,
    TaskState,
)

DEFAULT_DATA_PATH_PORT = 4789


@dataclass(frozen=True, slots=True)
class NetworkPeer:
    """One address on the network: a task's attachment or a node's ingress sandbox."""

    address: str  # CIDR, e.g. "10.0.1.5/24"
    mac: str
    node_id: str
    node_addr: str  # the owning node's underlay IP (where its VXLAN packets go)
    task_id: str = ""  # "" for a node's ingress sandbox
    task_name: str = ""  # <service>.<slot>.<task id> (<service>.<node id>.<task id> for global)
    service_id: str = ""
    aliases: tuple[str, ...] = ()  # the task's network aliases on this network
    serving: bool = False  # observed and desired RUNNING: a DNS answer and a VIP backend


@dataclass(frozen=True, slots=True)
class NetworkService:
    """A service with tasks or a VIP on the network."""

    service_id: str
    name: str
    endpoint_mode: EndpointMode = EndpointMode.VIP
    vip: str = ""  # CIDR on this network; "" with dnsrr (or not allocated yet)
    ports: tuple[PortConfig, ...] = ()  # the endpoint's allocated ports (published ones filled)
    aliases: tuple[str, ...] = ()  # the service's aliases on this network (from its spec)


@dataclass(frozen=True, slots=True)
class NetworkView:
    network: Network  # allocated: subnet, gateway, vxlan_id set
    peers: tuple[NetworkPeer, ...] = ()  # sorted by address
    services: tuple[NetworkService, ...] = ()  # sorted by name
    data_path_port: int = DEFAULT_DATA_PATH_PORT  # the cluster's VXLAN UDP port

    @property
    def id(self) -> str:
        """The network's id: what an assignment change names (a REMOVE carries only this)."""
        return self.network.id


def allocated(network: Network) -> bool:
    return bool(network.subnet) and network.vxlan_id > 0


def network_views(view: ReadTx, node_id: str, tasks: Iterable[Task]) -> dict[str, NetworkView]:
    """The views `node_id` needs, given the tasks assigned to it (`node_id` is not read: the
    tasks say what it needs; ingress is the same for every node).

    Cost: with nothing to send (no allocated ingress, no live task on an allocated network) it
    reads the given tasks and the network table only. Otherwise one pass over every task,
    node and service of the cluster, O(tasks); the assignment stream calls this once per
    commit per node that has views. Fine at lab scale; a shared per-commit index of peers by
    network is the next step if it ever is not.
    """
    networks = {n.id: n for n in view.all(Network) if allocated(n)}
    if not networks:
        return {}
    needed = {a.network_id for t in tasks if not t.status.state.terminal for a in t.networks}
    needed.update(i for i, n in networks.items() if n.spec.ingress)
    needed &= networks.keys()
    if not needed:
        return {}
    nodes = {n.id: n for n in view.all(Node)}
    services = {s.id: s for s in view.all(Service)}
    peers: dict[str, list[NetworkPeer]] = {i: [] for i in needed}
    for task in view.all(Task):
        node = nodes.get(task.node_id)
        # the allocator's own rule: a task it no longer counts may have lost its address to
        # another task already
        if not holds_addresses(task) or node is None or not node.status.addr:
            continue
        for a in task.networks:
            if a.network_id in needed and a.addresses:
                peers[a.network_id].append(_task_peer(task, a, node, services))
    for node in nodes.values():
        if not node.status.addr:
            continue
        for a in node.attachments:
            if a.network_id in needed and a.addresses and networks[a.network_id].spec.ingress:
                peers[a.network_id].append(
                    NetworkPeer(a.addresses[0], a.mac, node.id, node.status.addr)
                )
    cluster = view.cluster()
    port = cluster.data_path_port if cluster is not None else DEFAULT_DATA_PATH_PORT
    return {
        i: NetworkView(
            network=networks[i],
            peers=tuple(sorted(peers[i], key=_peer_order)),
            services=_services(i, peers[i], services),
            data_path_port=port,
        )
        for i in sorted(needed)
    }


def task_name(task: Task, service_name: str) -> str:
    """Docker's name for a task: <service>.<slot>.<task id>; <service>.<node id>.<task id> for
    a global service's (slot 0)."""
    return f"{service_name}.{task.slot or task.node_id}.{task.id}"


def _task_peer(
    task: Task, attachment: NetworkAttachment, node: Node, services: Mapping[str, Service]
) -> NetworkPeer:
    name = task.service_annotations.name
    if not name and task.service_id in services:
        name = services[task.service_id].spec.name
    return NetworkPeer(
        address=attachment.addresses[0],
        mac=attachment.mac,
        node_id=node.id,
        node_addr=node.status.addr,
        task_id=task.id,
        task_name=task_name(task, name),
        service_id=task.service_id,
        aliases=attachment.aliases,
        serving=task.status.state == TaskState.RUNNING and task.desired_state == TaskState.RUNNING,
    )


def _services(
    network_id: str, peers: Iterable[NetworkPeer], services: Mapping[str, Service]
) -> tuple[NetworkService, ...]:
    """Services with a VIP on the network or a task there; one being deleted is gone already
    (its name no longer resolves, like Docker's), though its tasks' addresses stay peers."""
    with_tasks = {p.service_id for p in peers if p.service_id}
    out: list[NetworkService] = []
    for service in services.values():
        endpoint = service.endpoint
        vips = (
            [v.addr for v in endpoint.virtual_ips if v.network_id == network_id] if endpoint else []
        )
        if service.pending_delete or not (vips or service.id in with_tasks):
            continue
        spec = service.spec
        aliases = next(
            (n.aliases for n in spec.task_template.networks if n.target == network_id), ()
        )
        out.append(
            NetworkService(
                service_id=service.id,
                name=spec.name,
                endpoint_mode=endpoint.spec.mode if endpoint else spec.endpoint_spec.mode,
                vip=vips[0] if vips else "",
                ports=endpoint.ports if endpoint else (),
                aliases=aliases,
            )
        )
    return tuple(sorted(out, key=lambda s: (s.name, s.service_id)))


def _peer_order(peer: NetworkPeer) -> tuple[int, str, str]:
    try:
        ip = int(ipaddress.ip_interface(peer.address).ip)
    except ValueError:
        ip = -1  # not an address (never written by the allocator): first, by text
    return ip, peer.address, peer.task_id
