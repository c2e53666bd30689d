"""The overlay's link layer between two fake nodes: sandboxes, vxlan, endpoints, gateway."""

from __future__ import annotations

import dataclasses
import json
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from overlay_net.endpoint import attach_endpoint, detach_endpoint, key_hash
from overlay_net.gateway import GatewayBridge
from overlay_net.netns import NetnsError, in_netns, iproute, ns_run
from overlay_net.sandbox import NetworkSandbox, vxlan_host_name
from tests.integration.overlay.conftest import (
    DATA_PATH_PORT,
    NETWORK,
    NetnsFactory,
    Overlay,
    container_peer,
)
from tests.integration.overlay.support import (
    FakeNode,
    fdb,
    links,
    mounts_under,
    neighbours,
    ping,
    tcp_exchange,
    veth_between,
)

A_IP, B_IP = "10.250.0.2", "10.250.0.3"


def vxlan_details(sandbox: NetworkSandbox) -> dict[str, object]:
    out = ns_run(sandbox.path, ["ip", "-d", "-j", "link", "show", "vxlan0"]).stdout
    link: dict[str, object] = json.loads(out)[0]
    return link


def test_containers_on_two_nodes_reach_each_other(overlay: Overlay) -> None:
    ctr_a, ctr_b = overlay.containers["nodeA"], overlay.containers["nodeB"]
    assert ping(ctr_a, B_IP)
    assert ping(ctr_b, A_IP)
    assert tcp_exchange(ctr_b, ctr_a, B_IP, 8080, "hello") == f"HELLO from {A_IP}"
    assert tcp_exchange(ctr_a, ctr_b, A_IP, 8081, "back") == f"BACK from {B_IP}"


def test_sandbox_holds_a_static_vxlan_and_the_gateway(overlay: Overlay) -> None:
    a, b = overlay.nodes
    sandbox = overlay.sandboxes["nodeA"]
    assert sandbox.path == a.run_dir / "netns" / "shoal-net-0v3r1ayn3tw0"
    info = vxlan_details(sandbox)
    data = info["linkinfo"]["info_data"]  # type: ignore[index]
    assert (data["id"], data["local"], data["port"]) == (4097, a.addr, DATA_PATH_PORT)
    assert data["learning"] is False and data["proxy"] is True
    assert info["mtu"] == 1450  # the underlay veth's 1500 - 50
    assert info["master"] == "br0"
    out = ns_run(sandbox.path, ["ip", "-j", "addr", "show", "br0"]).stdout
    addrs = [(x["local"], x["prefixlen"]) for x in json.loads(out)[0]["addr_info"]]
    assert ("10.250.0.1", 24) in addrs
    # remote peers only: node A's own container is reached through br0, not vxlan0
    assert fdb(sandbox.path, "vxlan0") == {"02:42:0a:fa:00:03": b.addr}
    assert neighbours(sandbox.path, "vxlan0") == {B_IP: "02:42:0a:fa:00:03"}
    # the vxlan device left the node's namespace; its UDP socket did not
    assert [n for n in links(a.ns) if n.startswith("shoal")] == []
    sockets = ns_run(a.ns, ["cat", "/proc/net/udp"]).stdout.decode()
    assert f":{DATA_PATH_PORT:04X} " in sockets


def test_container_interface(overlay: Overlay) -> None:
    out = ns_run(overlay.containers["nodeA"], ["ip", "-j", "addr", "show", "eth0"]).stdout
    eth0 = json.loads(out)[0]
    assert eth0["address"] == "02:42:0a:fa:00:02"
    assert eth0["mtu"] == 1450
    assert "UP" in eth0["flags"]
    assert [(x["local"], x["prefixlen"]) for x in eth0["addr_info"] if x["family"] == "inet"] == [
        (A_IP, 24)
    ]
    lo = json.loads(ns_run(overlay.containers["nodeA"], ["ip", "-j", "link", "show", "lo"]).stdout)
    assert "UP" in lo[0]["flags"]


def test_removing_a_peer_breaks_reachability_and_adding_it_back_restores_it(
    overlay: Overlay,
) -> None:
    ctr_a = overlay.containers["nodeA"]
    overlay.set_peers("nodeA", [overlay.peers[0]])
    sandbox = overlay.sandboxes["nodeA"].path
    assert fdb(sandbox, "vxlan0") == {}
    assert neighbours(sandbox, "vxlan0") == {}
    assert not ping(ctr_a, B_IP, wait=1)

    overlay.set_peers("nodeA", overlay.peers)
    assert ping(ctr_a, B_IP)


def test_a_moved_peer_is_reprogrammed(overlay: Overlay, netns_factory: NetnsFactory) -> None:
    """B's container goes and another takes its place with a new address and MAC."""
    _, b = overlay.nodes
    ctr_b = overlay.containers["nodeB"]
    new = container_peer(b, 9, "taskB2")
    with in_netns(b.ns):
        detach_endpoint(overlay.sandboxes["nodeB"], key="taskB")
    assert "eth0" not in links(ctr_b)
    ctr_b2 = netns_factory("test-ctrB2")
    with in_netns(b.ns):
        attach_endpoint(
            overlay.sandboxes["nodeB"], ctr_b2, key="taskB2", ifname="eth0",
            address=new.address, mac=new.mac,
        )  # fmt: skip
    peers = [overlay.peers[0], new]
    for node in ("nodeA", "nodeB"):
        overlay.set_peers(node, peers)
    assert fdb(overlay.sandboxes["nodeA"].path, "vxlan0") == {new.mac: b.addr}
    assert neighbours(overlay.sandboxes["nodeA"].path, "vxlan0") == {"10.250.0.9": new.mac}
    assert ping(overlay.containers["nodeA"], "10.250.0.9")
    assert not ping(overlay.containers["nodeA"], B_IP, wait=1)


def test_ensure_and_attach_again_adopt_what_exists(overlay: Overlay) -> None:
    """A restarted daemon runs ensure/attach/set_peers over the kernel state it left."""
    a, _ = overlay.nodes
    sandbox = overlay.sandboxes["nodeA"]
    before = vxlan_details(sandbox)["ifindex"]
    with in_netns(a.ns):
        again = NetworkSandbox.ensure(
            NETWORK, run_dir=a.run_dir, node_addr=a.addr, data_path_port=DATA_PATH_PORT
        )
        attach_endpoint(
            again, overlay.containers["nodeA"], key="taskA", ifname="eth0",
            address=overlay.peers[0].address, mac=overlay.peers[0].mac,
        )  # fmt: skip
        again.set_peers(overlay.peers, local_node_id="nodeA")
    assert again == sandbox
    assert vxlan_details(again)["ifindex"] == before  # kept, not recreated
    assert ping(overlay.containers["nodeA"], B_IP)
    assert links(overlay.containers["nodeA"]) == ["eth0", "lo"]


def test_a_changed_data_port_recreates_the_vxlan_device(overlay: Overlay) -> None:
    for node in overlay.nodes:
        with in_netns(node.ns):
            sandbox = NetworkSandbox.ensure(
                NETWORK, run_dir=node.run_dir, node_addr=node.addr, data_path_port=4790
            )
            sandbox.set_peers(overlay.peers, local_node_id=node.node_id)
        assert vxlan_details(sandbox)["linkinfo"]["info_data"]["port"] == 4790  # type: ignore[index]
    assert ping(overlay.containers["nodeA"], B_IP)


def test_set_peers_on_a_removed_sandbox_says_so(overlay: Overlay) -> None:
    a, _ = overlay.nodes
    with in_netns(a.ns):
        overlay.sandboxes["nodeA"].remove()
        with pytest.raises(NetnsError, match="is gone"):
            overlay.set_peers("nodeA", overlay.peers)


def test_remove_leaves_nothing_behind(overlay: Overlay) -> None:
    for node in overlay.nodes:
        with in_netns(node.ns):
            overlay.sandboxes[node.node_id].remove()
            overlay.sandboxes[node.node_id].remove()  # twice is fine
            detach_endpoint(overlay.sandboxes[node.node_id], key="taskA")  # sandbox gone: fine
        assert [n for n in links(node.ns) if "shoal" in n or "vx" in n] == []
        assert mounts_under(node.run_dir) == []
        assert list((node.run_dir / "netns").glob("*")) == []
    # the containers' ends went with their sandboxes
    for ctr in overlay.containers.values():
        assert links(ctr) == ["lo"]
    assert vxlan_host_name(4097) == "shoalvx1001"


# -- the gateway bridge ------------------------------------------------------------------------

INTERNET = "203.0.113.2"  # a third namespace standing for the world outside, behind node A
MASQUERADE = """
table ip shoal {{}}
delete table ip shoal
table ip shoal {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {subnet} oifname != "shoal_gwbridge" masquerade
    }}
}}
"""


@pytest.fixture
def internet(two_nodes: tuple[FakeNode, FakeNode], netns_factory: NetnsFactory) -> Path:
    a, _ = two_nodes
    world = netns_factory("test-internet")
    veth_between(a.ns, "203.0.113.1/24", world, f"{INTERNET}/24", name="wan0")
    with iproute(a.ns) as ipr:  # a route over the first candidate: the gateway must avoid it
        ipr.route("add", dst="172.18.0.0/16", gateway=INTERNET)
    return world


def test_gateway_bridge_takes_a_container_outside(overlay: Overlay, internet: Path) -> None:
    a, _ = overlay.nodes
    ctr = overlay.containers["nodeA"]
    with in_netns(a.ns):
        gateway = GatewayBridge.ensure(a.run_dir)
        address = gateway.attach(ctr, key="taskA", ifname="eth1")
    assert gateway.subnet == IPv4Network("172.19.0.0/16")  # 172.18/16 is routed on node A
    assert str(gateway.gateway) == "172.19.0.1"
    assert address == "172.19.0.2/16"
    assert ns_run(a.ns, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout == b"1\n"
    route = json.loads(ns_run(ctr, ["ip", "-j", "route", "show", "default"]).stdout)
    assert [(r["gateway"], r["dev"]) for r in route] == [("172.19.0.1", "eth1")]
    ns_run(a.ns, ["nft", "-f", "-"], input=MASQUERADE.format(subnet=gateway.subnet).encode())

    assert ping(ctr, INTERNET)
    assert tcp_exchange(internet, ctr, INTERNET, 8080, "out") == "OUT from 203.0.113.1"
    assert ping(ctr, B_IP)  # the overlay still goes through eth0

    # a restarted daemon adopts the bridge and the address table
    with in_netns(a.ns):
        again = GatewayBridge.ensure(a.run_dir)
        assert again.attach(ctr, key="taskA", ifname="eth1") == address
        assert again.attach(overlay.containers["nodeB"], key="other", ifname="eth1") == (
            "172.19.0.3/16"
        )
        again.release("other")
        assert again.address("other") is None
        again.release("taskA")
    assert "eth1" not in links(ctr)
    assert not ping(ctr, INTERNET, wait=1)
    saved = json.loads((a.run_dir / "gateway.json").read_text())
    assert saved == {"subnet": "172.19.0.0/16", "addresses": {}}

    with in_netns(a.ns):
        again.remove()
    assert [n for n in links(a.ns) if n.startswith("shoal")] == []
    assert not (a.run_dir / "gateway.json").exists()


def test_gateway_attach_is_idempotent_and_release_frees_the_address(
    two_nodes: tuple[FakeNode, FakeNode], netns_factory: NetnsFactory
) -> None:
    a, _ = two_nodes
    first, second = netns_factory("test-ctr1"), netns_factory("test-ctr2")
    with in_netns(a.ns):
        gateway = GatewayBridge.ensure(a.run_dir)
        assert gateway.subnet == IPv4Network("172.18.0.0/16")
        one = gateway.attach(first, key="t1", ifname="eth0")
        assert gateway.attach(first, key="t1", ifname="eth0") == one
        assert gateway.attach(second, key="t2", ifname="eth0") == "172.18.0.3/16"
        gateway.release("t1")
        third = netns_factory("test-ctr3")
        assert gateway.attach(third, key="t3", ifname="eth0") == one  # the lowest free again
        host_ends = sorted(n for n in links(a.ns) if n.startswith("shoalgw"))
        gateway.remove()
    assert len(host_ends) == 2
    assert [n for n in links(a.ns) if n.startswith("shoal")] == []
    assert ping(first, "172.18.0.1", wait=1) is False


def test_sandbox_of_an_unallocated_network_is_refused(
    two_nodes: tuple[FakeNode, FakeNode],
) -> None:
    a, _ = two_nodes
    with in_netns(a.ns), pytest.raises(NetnsError, match="not allocated yet"):
        NetworkSandbox.ensure(
            dataclasses.replace(NETWORK, vxlan_id=0), run_dir=a.run_dir, node_addr=a.addr,
            data_path_port=DATA_PATH_PORT,
        )  # fmt: skip
    assert list((a.run_dir / "netns").glob("*")) == []


def test_gateway_after_a_reboot_keeps_its_subnet_and_forgets_its_addresses(
    two_nodes: tuple[FakeNode, FakeNode], netns_factory: NetnsFactory
) -> None:
    a, _ = two_nodes
    ctr = netns_factory("test-ctr1")
    with iproute(a.ns) as ipr:  # make the usual first choice taken, then free it again
        ipr.route("add", dst="172.18.0.0/16", gateway="198.18.0.2")
    with in_netns(a.ns):
        first = GatewayBridge.ensure(a.run_dir)
        first.attach(ctr, key="t1", ifname="eth0")
    with iproute(a.ns) as ipr:
        ipr.route("del", dst="172.18.0.0/16", gateway="198.18.0.2")
        for name in ("shoal_gwbridge", "shoalgw" + key_hash("t1")):  # what a reboot does
            ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
    with in_netns(a.ns):
        again = GatewayBridge.ensure(a.run_dir)
        assert again.subnet == first.subnet == IPv4Network("172.19.0.0/16")
        assert again.address("t1") is None
        assert again.attach(ctr, key="t2", ifname="eth0") == "172.19.0.2/16"
        again.remove()


def test_an_address_that_moves_from_a_remote_node_to_this_one_is_reached_at_once(
    overlay: Overlay, netns_factory: NetnsFactory
) -> None:
    """B's task ends and the allocator gives its address (so its MAC) to a new task on A:
    A's bridge, which learned that MAC behind vxlan0 from B's traffic, must not keep
    sending there (a silent new container would be unreachable until the entry ages)."""
    a, b = overlay.nodes
    ctr_a = overlay.containers["nodeA"]
    assert ping(ctr_a, B_IP)  # A's br0 learns B's MAC behind vxlan0
    moved = dataclasses.replace(overlay.peers[1], node_id=a.node_id, node_addr=a.addr)
    with in_netns(b.ns):
        detach_endpoint(overlay.sandboxes["nodeB"], key="taskB")
    ctr_new = netns_factory("test-ctrA2")
    with in_netns(a.ns):
        attach_endpoint(
            overlay.sandboxes["nodeA"], ctr_new, key="taskA2", ifname="eth0",
            address=moved.address, mac=moved.mac,
        )  # fmt: skip
    peers = [overlay.peers[0], moved]
    for node in ("nodeA", "nodeB"):
        overlay.set_peers(node, peers)
    assert ping(ctr_a, B_IP, wait=1)  # the new container never sent a frame itself
