"""`network create --subnet/--ip-range/--gateway` as IPAM configs, one per subnet.

Like docker's createIPAMConfig, each flag may be given several times (or as a comma-separated
list); every range and gateway must fall in exactly one of the subnets, a subnet gets at most one
of each, and subnets may not overlap. Whether the subnet is free is the daemon's question.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeAlias

from proto import objects_pb2

from ._options import csv_fields

_Net: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip_ranges(text: str) -> tuple[str, ...]:
    """--ip-range (pflag's IPNetSlice): CIDR ranges, written as their network."""
    out = []
    for item in csv_fields(text):
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"invalid CIDR address: {item}") from None
    return tuple(out)


def parse_gateways(text: str) -> tuple[str, ...]:
    """--gateway (pflag's IPSlice): addresses in their canonical spelling."""
    out = []
    for item in csv_fields(text):
        try:
            out.append(str(ipaddress.ip_address(item.strip())))
        except ValueError:
            raise ValueError(f"invalid string being converted to IP address: {item}") from None
    return tuple(out)


def _subnet(text: str) -> _Net:
    try:
        if "/" not in text:
            raise ValueError(text)
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"invalid subnet: invalid CIDR address: {text}") from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address part of `a.b.c.d` or `a.b.c.d/n` (net.ParseCIDR's IP, not its network)."""
    return ipaddress.ip_address(text.split("/", 1)[0])


def ipam_configs(
    subnets: Sequence[str], ip_ranges: Sequence[str], gateways: Sequence[str]
) -> list[objects_pb2.IPAMConfig]:
    """One IPAMConfig per subnet, in the order given; ValueError with docker's message."""
    if len(subnets) < len(ip_ranges) or len(subnets) < len(gateways):
        raise ValueError("every ip-range or gateway must have a corresponding subnet")
    configs: dict[str, objects_pb2.IPAMConfig] = {}
    networks: dict[str, _Net] = {}
    for text in subnets:
        subnet = _subnet(text)
        for other_text, other in networks.items():
            if _address(text) in other or _address(other_text) in subnet:
                raise ValueError("multiple overlapping subnet configuration is not supported")
        networks[text] = subnet
        configs[text] = objects_pb2.IPAMConfig(subnet=text)
    for ip_range in ip_ranges:
        matched = [s for s, net in networks.items() if _address(ip_range) in net]
        if not matched:
            raise ValueError(f"no matching subnet for range {ip_range}")
        for s in matched:
            if configs[s].range:
                raise ValueError(
                    f"cannot configure multiple ranges ({ip_range}, {configs[s].range}) "
                    f"on the same subnet ({s})"
                )
            configs[s].range = ip_range
    for gateway in gateways:
        matched = [s for s, net in networks.items() if _address(gateway) in net]
        if not matched:
            raise ValueError(f"no matching subnet for gateway {gateway}")
        for s in matched:
            if configs[s].gateway:
                raise ValueError(
                    f"cannot configure multiple gateways ({gateway}, {configs[s].gateway}) "
                    f"for the same subnet ({s})"
                )
            configs[s].gateway = gateway
    return list(configs.values())
