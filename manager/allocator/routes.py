"""A host's own IPv4 routes, so that no overlay subnet is carved over them.

`parse_routes` is pure (the text of /proc/net/route in, prefixes out); `host_routes` reads
the file, at the edge. The allocator loop takes the leader's as an injectable function, and
every node reports its own in its description (worker/describe.py): a subnet routed on any
node is never handed out (Swarm checks only the manager's).
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from pathlib import Path

log = logging.getLogger(__name__)

PROC_ROUTE = Path("/proc/net/route")


def _le_address(hex_text: str) -> ipaddress.IPv4Address:
    """/proc/net/route prints addresses as host-order (little-endian) 32-bit hex."""
    return ipaddress.IPv4Address(struct.pack("<I", int(hex_text, 16)))


def parse_routes(text: str) -> list[str]:
    """Destination prefixes ("10.1.0.0/16"); default routes and unreadable lines left out."""
    prefixes: list[str] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest, mask = _le_address(fields[1]), _le_address(fields[7])
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except ValueError:
            continue
        if net.prefixlen and str(net) not in prefixes:
            prefixes.append(str(net))
    return prefixes


def host_routes(path: Path = PROC_ROUTE) -> list[str]:
    try:
        return parse_routes(path.read_text())
    except OSError as e:
        log.warning("cannot read the host's routes from %s: %s", path, e)
        return []
