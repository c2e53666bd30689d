"""The lab's wires: a switch namespace holding a bridge, one veth per node, and partitions.

shoal-switch netns                       shoal-nK netns
+------------------------------+         +------------------+
| shoal-br0 (registry address) |--veth---| eth0 <node addr> |
|   ports shoal-n1 .. shoal-nN |         +------------------+
| nft table bridge shoal_lab   |  partitions drop frames between groups
+------------------------------+
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cluster_examples.lab.sh import in_netns, netns_exists, run
from cluster_examples.lab.spec import SWITCH_BRIDGE, SWITCH_NETNS, node_address, registry_ip

PARTITION_TABLE = "shoal_lab"


def create_switch(subnet: str) -> None:
    prefix = ipaddress.IPv4Network(subnet).prefixlen
    run(["ip", "netns", "add", SWITCH_NETNS])
    ns = ["ip", "-n", SWITCH_NETNS]
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "link", "add", SWITCH_BRIDGE, "type", "bridge"])
    run([*ns, "addr", "add", f"{registry_ip(subnet)}/{prefix}", "dev", SWITCH_BRIDGE])
    run([*ns, "link", "set", SWITCH_BRIDGE, "up"])


def create_node(subnet: str, node: str) -> None:
    """Namespace shoal-<node> with eth0 wired to the switch bridge through port shoal-<node>."""
    netns, port = f"shoal-{node}", f"shoal-{node}"
    prefix = ipaddress.IPv4Network(subnet).prefixlen
    run(["ip", "netns", "add", netns])
    ns = ["ip", "-n", netns]
    run([*ns, "link", "set", "lo", "up"])
    run([*ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", SWITCH_NETNS])
    run([*ns, "addr", "add", f"{node_address(subnet, node)}/{prefix}", "dev", "eth0"])
    run([*ns, "link", "set", "eth0", "up"])
    sw = ["ip", "-n", SWITCH_NETNS]
    run([*sw, "link", "set", port, "master", SWITCH_BRIDGE])
    run([*sw, "link", "set", port, "up"])


def delete_netns(netns: str) -> None:
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])


def lab_netns() -> list[str]:
    """Every namespace a lab (this one or a crashed one) created."""
    out = run(["ip", "netns", "list"])
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n == SWITCH_NETNS or n.startswith("shoal-n")]


def partition_rules(groups: Sequence[Sequence[str]]) -> str:
    """An nft script dropping every frame that crosses from one group to outside it.

    Nodes in no group form the rest. Frames to the switch bridge itself (the registry) are
    not forwarded, so they are never dropped: partitioned nodes can still pull images.
    """
    lines = [
        f"table bridge {PARTITION_TABLE} {{",
        "  chain forward {",
        "    type filter hook forward priority 0; policy accept;",
    ]
    for group in groups:
        ports = ", ".join(f'"shoal-{n}"' for n in group)
        lines.append(f"    iifname {{ {ports} }} oifname != {{ {ports} }} drop")
        lines.append(f"    oifname {{ {ports} }} iifname != {{ {ports} }} drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def apply_partitions(groups: Sequence[Sequence[str]]) -> None:
    """Replace the switch's partition rules atomically (one nft transaction)."""
    script = f"table bridge {PARTITION_TABLE}\ndelete table bridge {PARTITION_TABLE}\n"
    if groups:
        script += partition_rules(groups)
    run(in_netns(SWITCH_NETNS, ["nft", "-f", "-"]), input=script)
