"""IPAM: carving network subnets from the cluster's address pools, and addresses within them.

Pure: no store, no I/O. The allocator loop asks; these classes answer or raise a typed error.
Only IPv4, like Swarm's default overlay.

    pool = SubnetPool(["10.0.0.0/8"], subnet_size=24, reserved=node_routes)
    subnet = pool.allocate("net1")                  # 10.0.0.0/24, avoiding everything in use
    space = AddressSpace("frontend", subnet)        # gateway 10.0.0.1 taken first
    addr = space.allocate("task:abc")               # 10.0.0.2
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from manager.allocator.errors import (
    AddressesExhausted,
    AddressInUse,
    InvalidIPAMConfig,
    PoolExhausted,
    SubnetOverlap,
)

DEFAULT_ADDRESS_POOL = ("10.0.0.0/8",)
DEFAULT_SUBNET_SIZE = 24
GATEWAY_OWNER = "gateway"
MAX_PREFIXLEN = 30  # a /31 or /32 leaves no room for a gateway and one task


def mac_for(address: IPv4Address) -> str:
    """Docker's rule: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def _parse_network(text: str, what: str) -> IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidIPAMConfig(f"invalid {what} {text!r}: {e}") from None
    if not isinstance(net, IPv4Network):
        raise InvalidIPAMConfig(f"invalid {what} {text!r}: only IPv4 is supported")
    return net


def _parse_address(text: str, what: str) -> IPv4Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as e:
        raise InvalidIPAMConfig(f"invalid {what} {text!r}: {e}") from None
    if not isinstance(addr, IPv4Address):
        raise InvalidIPAMConfig(f"invalid {what} {text!r}: only IPv4 is supported")
    return addr


@dataclass(frozen=True, slots=True)
class SubnetConfig:
    """A validated --subnet/--gateway/--ip-range (gateway/ip_range None: not given)."""

    subnet: IPv4Network
    gateway: IPv4Address | None = None
    ip_range: IPv4Network | None = None


def parse_ipam_config(subnet: str, gateway: str = "", ip_range: str = "") -> SubnetConfig:
    """Validate what `network create` was given; raises InvalidIPAMConfig saying what is wrong."""
    if not subnet:
        if gateway or ip_range:
            raise InvalidIPAMConfig("--gateway and --ip-range need --subnet")
        raise InvalidIPAMConfig("no subnet given")
    net = _parse_network(subnet, "subnet")
    if net.prefixlen > MAX_PREFIXLEN:
        raise InvalidIPAMConfig(
            f"subnet {net} is too small: use a /{MAX_PREFIXLEN} or larger (shorter prefix)"
        )
    gw: IPv4Address | None = None
    if gateway:
        gw = _parse_address(gateway, "gateway")
        if gw not in net:
            raise InvalidIPAMConfig(f"gateway {gw} is not inside subnet {net}")
        if gw in (net.network_address, net.broadcast_address):
            raise InvalidIPAMConfig(
                f"gateway {gw} is the network or broadcast address of subnet {net}"
            )
    rng: IPv4Network | None = None
    if ip_range:
        rng = _parse_network(ip_range, "ip-range")
        if not rng.subnet_of(net):
            raise InvalidIPAMConfig(f"ip-range {rng} is not inside subnet {net}")
    return SubnetConfig(net, gw, rng)


def _span(net: IPv4Network) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


class SubnetPool:
    """Hands out subnets of `subnet_size` from the pools, lowest first, overlapping nothing
    claimed and no reserved prefix (a node's own routes). A default route (/0) in `reserved`
    is ignored: it overlaps everything and says nothing about addresses in use."""

    def __init__(
        self,
        pools: Sequence[str] = DEFAULT_ADDRESS_POOL,
        subnet_size: int = DEFAULT_SUBNET_SIZE,
        reserved: Iterable[str] = (),
    ) -> None:
        self._pools = [_parse_network(p, "address pool") for p in pools]
        if not self._pools:
            raise InvalidIPAMConfig("no default address pool given")
        for p in self._pools:
            if not p.prefixlen <= subnet_size <= MAX_PREFIXLEN:
                raise InvalidIPAMConfig(
                    f"subnet size /{subnet_size} does not fit address pool {p}: "
                    f"use a size between /{p.prefixlen} and /{MAX_PREFIXLEN}"
                )
        self.subnet_size = subnet_size
        self._reserved: list[IPv4Network] = []
        self.set_reserved(reserved)
        self._claimed: dict[str, IPv4Network] = {}  # owner (network name or id) -> subnet

    def set_reserved(self, reserved: Iterable[str]) -> None:
        """Replace the reserved prefixes (the nodes' routes, as they report them); subnets
        already handed out are kept."""
        self._reserved = [
            r for r in (_parse_network(x, "reserved prefix") for x in reserved) if r.prefixlen
        ]

    @property
    def claimed(self) -> Mapping[str, IPv4Network]:
        return dict(self._claimed)

    def claim(self, owner: str, subnet: IPv4Network) -> None:
        """Take an explicit (or restored) subnet; refused if it overlaps another network's."""
        for other, used in self._claimed.items():
            if other != owner and used.overlaps(subnet):
                raise SubnetOverlap(
                    f"subnet {subnet} overlaps subnet {used} of network {other}: "
                    "choose another --subnet"
                )
        self._claimed[owner] = subnet

    def allocate(self, owner: str) -> IPv4Network:
        if owner in self._claimed:
            return self._claimed[owner]
        blocked = sorted(
            [_span(n) for n in self._claimed.values()] + [_span(r) for r in self._reserved]
        )
        size = 1 << (32 - self.subnet_size)
        for pool in self._pools:
            first, last = _span(pool)
            cursor = first
            while cursor + size - 1 <= last:
                end = cursor + size - 1
                hit = [b_end for b_start, b_end in blocked if b_start <= end and b_end >= cursor]
                if not hit:
                    subnet = IPv4Network((cursor, self.subnet_size))
                    self._claimed[owner] = subnet
                    return subnet
                # jump past everything in the way, to the next aligned candidate
                cursor = (max(hit) + 1 + size - 1) // size * size
        pools = ", ".join(str(p) for p in self._pools)
        raise PoolExhausted(
            f"no free /{self.subnet_size} subnet left in the address pools ({pools}): "
            "remove unused networks or give --subnet"
        )

    def release(self, owner: str) -> None:
        self._claimed.pop(owner, None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubnetPool):
            return NotImplemented
        return (self._pools, self.subnet_size, self._reserved, self._claimed) == (
            other._pools,
            other.subnet_size,
            other._reserved,
            other._claimed,
        )

    __hash__ = None  # type: ignore[assignment]


class AddressSpace:
    """The addresses of one network: the gateway first, then the lowest free address of the
    ip-range (or of the subnet), never the subnet's network or broadcast address. Lowest-free
    (rather than Docker's round robin) keeps a rebuilt state identical to the incremental one."""

    def __init__(
        self,
        name: str,
        subnet: IPv4Network,
        gateway: IPv4Address | None = None,
        ip_range: IPv4Network | None = None,
    ) -> None:
        if subnet.prefixlen > MAX_PREFIXLEN:
            raise InvalidIPAMConfig(f"subnet {subnet} of network {name} is too small")
        self.name = name
        self.subnet = subnet
        self.gateway = gateway if gateway is not None else subnet.network_address + 1
        self._range = ip_range if ip_range is not None else subnet
        self._owners: dict[IPv4Address, str] = {self.gateway: GATEWAY_OWNER}
        self._hint = int(self._range.network_address)  # no free address below this one

    @classmethod
    def from_config(cls, name: str, cfg: SubnetConfig) -> AddressSpace:
        return cls(name, cfg.subnet, cfg.gateway, cfg.ip_range)

    @property
    def allocated(self) -> Mapping[IPv4Address, str]:
        """Every address in use and its owner (the gateway included)."""
        return dict(self._owners)

    def _usable(self, addr: IPv4Address) -> bool:
        return addr in self.subnet and addr not in (
            self.subnet.network_address,
            self.subnet.broadcast_address,
        )

    def allocate(self, owner: str) -> IPv4Address:
        start, end = (
            max(self._hint, int(self._range.network_address)),
            int(self._range.broadcast_address),
        )
        for n in range(start, end + 1):
            addr = IPv4Address(n)
            if addr not in self._owners and self._usable(addr):
                self._owners[addr] = owner
                self._hint = n + 1
                return addr
        self._hint = end + 1
        raise AddressesExhausted(self.name)

    def claim(self, owner: str, addr: IPv4Address) -> None:
        """Take a given address (a restored allocation, or a user's --ip)."""
        if not self._usable(addr):
            raise AddressInUse(f"address {addr} is not usable on network {self.name}")
        current = self._owners.get(addr)
        if current is not None and current != owner:
            raise AddressInUse(f"address {addr} on network {self.name} is in use by {current}")
        self._owners[addr] = owner

    def owner_of(self, addr: IPv4Address) -> str | None:
        return self._owners.get(addr)

    def release(self, addr: IPv4Address) -> None:
        if addr == self.gateway:
            return  # the gateway lives as long as the network
        if self._owners.pop(addr, None) is not None:
            self._hint = min(self._hint, int(addr))

    def release_owner(self, owner: str) -> None:
        for addr in [a for a, o in self._owners.items() if o == owner]:
            self.release(addr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AddressSpace):
            return NotImplemented
        return (self.name, self.subnet, self.gateway, self._range, self._owners) == (
            other.name,
            other.subnet,
            other.gateway,
            other._range,
            other._owners,
        )

    __hash__ = None  # type: ignore[assignment]
