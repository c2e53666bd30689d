"""What the link layer names things, and the bits of kernel state it parses."""

from __future__ import annotations

from ipaddress import IPv4Interface

import pytest

from manager.store import Network, NetworkSpec
from overlay_net.endpoint import key_hash
from overlay_net.netns import NetnsError, parse_mount_points
from overlay_net.sandbox import NetworkSandbox, gateway_interface, vxlan_host_name

IFNAMSIZ = 15  # the longest interface name the kernel takes


@pytest.mark.parametrize(
    ("vni", "name"), [(4097, "shoalvx1001"), (256, "shoalvx100"), (0xFFFFFF, "shoalvxffffff")]
)
def test_vxlan_host_name_is_the_vni_in_hex(vni: int, name: str) -> None:
    assert vxlan_host_name(vni) == name
    assert len(name) <= IFNAMSIZ


def test_link_names_from_keys_are_stable_short_and_distinct() -> None:
    task = "x3k9d0q1m2n4b5v6c7z8a9s0"
    assert key_hash(task) == key_hash(task)
    assert len(key_hash(task)) == 7
    assert int(key_hash(task), 16) >= 0  # hex
    assert key_hash(task) != key_hash(task + "1")
    assert len("shoalgw" + key_hash(task)) <= IFNAMSIZ


def test_sandbox_names_use_the_first_12_characters_of_the_network_id() -> None:
    assert NetworkSandbox.name_for("abcdef0123456789xyz") == "shoal-net-abcdef012345"
    assert NetworkSandbox.name_for("short") == "shoal-net-short"


@pytest.mark.parametrize("gateway", ["10.0.1.1", "10.0.1.1/24"])
def test_the_bridge_holds_the_gateway_with_the_subnet_prefix(gateway: str) -> None:
    net = Network(id="n1", vxlan_id=4097, subnet="10.0.1.0/24", gateway=gateway)
    assert gateway_interface(net) == IPv4Interface("10.0.1.1/24")


@pytest.mark.parametrize(
    "net",
    [
        Network(id="n1", subnet="10.0.1.0/24", gateway="10.0.1.1"),  # no VXLAN ID
        Network(id="n1", vxlan_id=4097, gateway="10.0.1.1"),  # no subnet
        Network(id="n1", vxlan_id=4097, subnet="10.0.1.0/24"),  # no gateway
    ],
)
def test_an_unallocated_network_is_refused(net: Network) -> None:
    net = Network(id=net.id, spec=NetworkSpec(name="web"), vxlan_id=net.vxlan_id,
                  subnet=net.subnet, gateway=net.gateway)  # fmt: skip
    with pytest.raises(NetnsError, match="network web is not allocated yet"):
        gateway_interface(net)


def test_mount_points_are_unescaped() -> None:
    mountinfo = (
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "43 27 254:0 /tmp/a\\040b/netns /tmp/a\\040b/netns rw shared:2 - ext4 /dev/vda rw\n"
        "44 43 0:4 net:[4026532177] /tmp/a\\040b/netns/shoal-net-x rw shared:3 - nsfs nsfs rw\n"
    )
    assert parse_mount_points(mountinfo) == {
        "/",
        "/tmp/a b/netns",
        "/tmp/a b/netns/shoal-net-x",
    }
