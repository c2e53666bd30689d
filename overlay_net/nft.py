"""nftables rule sets for VIP load balancing and the routing mesh, rendered as `nft -f -` text.

Pure: a description of the wanted rules goes in, the complete script comes out; nothing here
runs nft (overlay_net.nftapply does). Every script replaces table `ip shoal` of one
namespace in a single transaction, so the rules change atomically and nothing stale stays:

    table ip shoal {}          <- creates the table if missing, so the delete cannot fail
    delete table ip shoal
    table ip shoal { ... }     <- the whole new rule set

Where each table lives and what it does (a packet's way through, left to right):

    container ns (client)   nat output: ip daddr VIP -> numgen inc over the VIP's backends
                            filter output: VIP without backends -> reject (refused at once)
    host ns (node)          nat prerouting/output: fib daddr type local, mesh port P
                                -> ingress sbox's gateway address :P (port kept)
                            nat prerouting: host-mode port P -> container gateway address :T
                            nat postrouting: masquerade the gw subnet leaving elsewhere,
                                and what reaches the bridge through a DNAT or from the node
    ingress sbox            nat prerouting: P -> numgen inc over the backends' ingress
                                addresses, port T; postrouting: out the overlay -> masquerade
                            filter input: P without backends -> reject (refused at once)

`numgen inc mod N` sends new connections (conntrack keeps the rest of a connection on its
backend) round-robin to the N backends, like IPVS's rr scheduler. A VIP or published port
without backends is rejected (TCP with a reset, anything else with ICMP port unreachable), so
a client gets "connection refused" at once instead of waiting for a timeout.

Output is deterministic: VIPs, ports and backends are sorted (addresses numerically) and
duplicate backends dropped, so equal input gives equal text (tests compare golden strings).
Only chains that have rules are written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

TABLE = "shoal"
PROTOCOLS = ("tcp", "udp", "sctp")

# Base-chain priorities: the standard dstnat/filter/srcnat values, written as numbers.
_DSTNAT = -100
_FILTER = 0
_SRCNAT = 100

_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class VipRule:
    """A service's virtual IP and the addresses of its serving tasks (IPs, no prefix)."""

    vip: str
    backends: tuple[str, ...]


@dataclass(frozen=True)
class MeshRule:
    """An ingress-mode published port: `published` on every node -> `target` on a backend
    (the serving tasks' addresses on the ingress network)."""

    protocol: str
    published: int
    target: int
    backends: tuple[str, ...]


@dataclass(frozen=True)
class HostPort:
    """A host-mode published port: `published` on this node -> address:target (the task's
    gateway-bridge address)."""

    protocol: str
    published: int
    address: str
    target: int


@dataclass(frozen=True)
class _Chain:
    name: str
    hook_type: str
    hook: str
    priority: int
    rules: tuple[str, ...]


def container_table(vips: Iterable[VipRule]) -> str:
    """The table of a container's namespace: its VIPs, load-balanced in nat output."""
    by_vip: dict[IPv4Address, tuple[IPv4Address, ...]] = {}
    for rule in vips:
        vip = _address(rule.vip)
        if vip in by_vip:
            raise ValueError(f"VIP {vip} is listed twice")
        by_vip[vip] = _backends(rule.backends)
    nat: list[str] = []
    refuse: list[str] = []
    for vip, backends in sorted(by_vip.items()):
        if backends:
            nat.append(f"ip daddr {vip} dnat to {_spread(backends)}")
        else:
            refuse += _refuse(f"ip daddr {vip}", protocol=None)
    return _script(
        _Chain("nat_output", "nat", "output", _DSTNAT, tuple(nat)),
        _Chain("filter_output", "filter", "output", _FILTER, tuple(refuse)),
    )


def ingress_sbox_table(rules: Iterable[MeshRule], *, overlay_ifname: str = "eth0") -> str:
    """The table of the node's ingress sandbox: published ports spread over the backends'
    ingress addresses, the source masqueraded so replies come back through this sandbox."""
    ifname = _ifname(overlay_ifname)
    by_port: dict[tuple[str, int], tuple[int, tuple[IPv4Address, ...]]] = {}
    for rule in rules:
        key = (_protocol(rule.protocol), _port(rule.published))
        if key in by_port:
            raise ValueError(f"published port {key[1]}/{key[0]} is listed twice")
        by_port[key] = (_port(rule.target), _backends(rule.backends))
    nat: list[str] = []
    refuse: list[str] = []
    for (protocol, published), (target, backends) in sorted(by_port.items()):
        match = f"{protocol} dport {published}"
        if backends:
            nat.append(f"{match} dnat to {_spread(backends)}:{target}")
        else:
            # Not translated, the packet is for the sandbox itself: refuse it, whatever listens.
            refuse += _refuse(match, protocol=protocol)
    masquerade = (f'oifname "{ifname}" masquerade',)
    return _script(
        _Chain("nat_prerouting", "nat", "prerouting", _DSTNAT, tuple(nat)),
        _Chain("nat_postrouting", "nat", "postrouting", _SRCNAT, masquerade),
        _Chain("filter_input", "filter", "input", _FILTER, tuple(refuse)),
    )


def host_table(
    *,
    gw_subnet: str,
    gw_bridge: str,
    mesh_ports: Iterable[tuple[str, int]],
    sbox_address: str,
    host_ports: Iterable[HostPort],
) -> str:
    """The node's table: published ports on the node's own addresses (ingress mode to the
    ingress sandbox, host mode to the task), and egress masquerade for the gateway bridge."""
    subnet = IPv4Network(gw_subnet, strict=False)
    bridge = _ifname(gw_bridge)
    mesh = sorted({(_protocol(protocol), _port(port)) for protocol, port in mesh_ports})
    sbox = _address(sbox_address) if mesh else None  # no ingress sbox without mesh ports
    hosted: dict[tuple[str, int], tuple[IPv4Address, int]] = {}
    for hp in host_ports:
        key = (_protocol(hp.protocol), _port(hp.published))
        if key in hosted or key in mesh:
            raise ValueError(f"published port {key[1]}/{key[0]} is listed twice")
        hosted[key] = (_address(hp.address), _port(hp.target))
    local = "fib daddr type local"
    to_sbox = tuple(f"{local} {protocol} dport {port} dnat to {sbox}" for protocol, port in mesh)
    to_task = tuple(
        f"{local} {protocol} dport {port} dnat to {address}:{target}"
        for (protocol, port), (address, target) in sorted(hosted.items())
    )
    postrouting = (
        # Egress: containers leave through the node's address.
        f'ip saddr {subnet} oifname != "{bridge}" masquerade',
        # Hairpin: a container reaching a published port through a node address; without
        # this the answer would come straight back over the bridge from the wrong address.
        f'ip saddr {subnet} oifname "{bridge}" ct status dnat masquerade',
        # The node itself, e.g. to 127.0.0.1:P: a loopback source cannot leave on the bridge
        # (needs route_localnet=1 on it, like Docker's docker_gwbridge) nor be answered.
        f'oifname "{bridge}" fib saddr type local masquerade',
    )
    forward = (f'iifname "{bridge}" accept', f'oifname "{bridge}" accept')
    return _script(
        _Chain("nat_prerouting", "nat", "prerouting", _DSTNAT, to_sbox + to_task),
        # Locally generated traffic to a node address too (Docker's userland proxy answers
        # a host-mode port locally).
        _Chain("nat_output", "nat", "output", _DSTNAT, to_sbox + to_task),
        _Chain("nat_postrouting", "nat", "postrouting", _SRCNAT, postrouting),
        # Policy accept already; the explicit rules document what must pass.
        _Chain("filter_forward", "filter", "forward", _FILTER, forward),
    )


def _spread(backends: tuple[IPv4Address, ...]) -> str:
    """The dnat address expression: the one backend, or round-robin over several."""
    if len(backends) == 1:
        return str(backends[0])
    entries = ", ".join(f"{i} : {address}" for i, address in enumerate(backends))
    return f"numgen inc mod {len(backends)} map {{ {entries} }}"


def _refuse(match: str, *, protocol: str | None) -> list[str]:
    """Rules refusing `match` at once: TCP reset (ECONNREFUSED on connect), else ICMP port
    unreachable (ECONNREFUSED on a connected UDP socket)."""
    if protocol == "tcp":
        return [f"{match} reject with tcp reset"]
    if protocol is None:
        return [f"{match} meta l4proto tcp reject with tcp reset", f"{match} reject"]
    return [f"{match} reject"]


def _script(*chains: _Chain) -> str:
    lines = [f"table ip {TABLE} {{}}", f"delete table ip {TABLE}", f"table ip {TABLE} {{"]
    for chain in chains:
        if not chain.rules:
            continue
        lines.append(f"\tchain {chain.name} {{")
        lines.append(
            f"\t\ttype {chain.hook_type} hook {chain.hook} priority {chain.priority};"
            " policy accept;"
        )
        lines += [f"\t\t{rule}" for rule in chain.rules]
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _address(text: str) -> IPv4Address:
    return IPv4Address(text)  # raises ValueError for anything that is not one IPv4 address


def _backends(addresses: Iterable[str]) -> tuple[IPv4Address, ...]:
    return tuple(sorted({_address(a) for a in addresses}))


def _protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    return protocol


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is not in 1-65535")
    return port


def _ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(f"interface name {name!r} is not a valid Linux interface name")
    return name
