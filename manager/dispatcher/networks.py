"""What a worker is told about the overlay networks its tasks use: the peer table.

A node gets one NetworkView per network it needs: the networks of its tasks that may still
run, and `ingress` always (every node answers on published ports). A view holds every address
on the network cluster-wide (which node owns it: the VXLAN destination) and every service
reachable on it (its VIP and its serving tasks), so the node can program its sandbox's FDB and
neighbour entries, its containers' VIP rules and their embedded DNS without asking anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from manager.store import EndpointMode, Network, PortConfig


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
    data_path_port: int = 4789  # the cluster's VXLAN UDP port
