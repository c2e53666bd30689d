"""What the node's agent derives from the peer table: VIP rules, mesh rules, its sbox address."""

from __future__ import annotations

from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView
from manager.store import EndpointMode, Network, NetworkSpec, PortConfig, PublishMode
from manager.store.specs import PortProtocol
from overlay_net.agent import mesh_rules, own_ingress_peer, vip_rules
from overlay_net.nft import MeshRule, VipRule

FRONT = Network(id="net-front", spec=NetworkSpec(name="front"), subnet="10.0.1.0/24", vxlan_id=4097)
INGRESS = Network(
    id="net-ingress", spec=NetworkSpec(name="ingress", ingress=True), subnet="10.0.0.0/24"
)


def peer(address: str, service: str = "", *, node: str = "n1", serving: bool = True) -> NetworkPeer:
    task = f"t-{address}" if service else ""
    return NetworkPeer(
        address, "02:42:00:00:00:01", node, "172.31.0.11", task, "", service, (), serving
    )


def test_a_vip_balances_over_the_serving_tasks_of_its_service_only() -> None:
    view = NetworkView(
        FRONT,
        peers=(
            peer("10.0.1.5/24", "web"),
            peer("10.0.1.6/24", "web", serving=False),  # starting, or shutting down
            peer("10.0.1.7/24", "web", node="n2"),
            peer("10.0.1.8/24", "db"),
        ),
        services=(
            NetworkService("web", "web", vip="10.0.1.2/24"),
            NetworkService("db", "db", EndpointMode.DNSRR),  # no VIP: DNS answers with tasks
        ),
    )
    assert vip_rules([view]) == [VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.7"))]


def test_a_vip_without_serving_tasks_is_kept_with_no_backends() -> None:
    view = NetworkView(FRONT, services=(NetworkService("web", "web", vip="10.0.1.2/24"),))
    assert vip_rules([view]) == [VipRule("10.0.1.2", ())]


def test_mesh_rules_cover_ingress_ports_not_host_ports() -> None:
    ports = (
        PortConfig(target_port=80, published_port=8080),
        PortConfig(protocol=PortProtocol.UDP, target_port=53, published_port=5353),
        PortConfig(target_port=81, published_port=9090, publish_mode=PublishMode.HOST),
    )
    view = NetworkView(
        INGRESS,
        peers=(peer("10.0.0.3/24"), peer("10.0.0.9/24", "web", node="n2")),
        services=(NetworkService("web", "web", vip="10.0.0.4/24", ports=ports),),
    )
    assert mesh_rules(view) == [
        MeshRule("tcp", 8080, 80, ("10.0.0.9",)),
        MeshRule("udp", 5353, 53, ("10.0.0.9",)),
    ]
    assert mesh_rules(None) == []


def test_the_node_finds_its_own_ingress_sandbox_address() -> None:
    view = NetworkView(
        INGRESS,
        peers=(peer("10.0.0.2/24", node="n2"), peer("10.0.0.3/24"), peer("10.0.0.9/24", "web")),
    )
    me = own_ingress_peer(view, "n1")
    assert me is not None and me.address == "10.0.0.3/24"
    assert own_ingress_peer(view, "n9") is None
