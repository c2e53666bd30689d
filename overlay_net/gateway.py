"""The node's gateway bridge: how containers reach the world outside their overlays.

    container ns                     host (node) namespace
    ethN 172.18.0.5/16 ═══ shoalgw<hash> ── shoal_gwbridge 172.18.0.1/16 ──▶ routing, the
    default via 172.18.0.1                                                  host's masquerade

Like Docker's docker_gwbridge. The subnet is the first of 172.18.0.0/16 .. 172.30.0.0/16 that
overlaps no route of the host (the default route aside), chosen once and kept: a restarted
daemon reads it from the bridge's address. Each attachment (a task, the ingress sbox) gets
the lowest free address, recorded by key in `<run_dir>/gateway.json` so a restarted daemon
hands out the same ones and never one a running container still holds. When the bridge is
gone (a reboot) no container can still be attached: the table starts empty, on the saved
subnet if that is still free. Masquerade and published-port rules are not made here
(overlay_net/nft.py renders them).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import ClassVar

from pyroute2 import IPRoute

from overlay_net.endpoint import delete_link, key_hash, plumb_veth
from overlay_net.netns import NetnsError, iproute, sysctl
from overlay_net.sandbox import create_link, link_index, set_address

BRIDGE_NAME = "shoal_gwbridge"
VETH_PREFIX = "shoalgw"
TABLE_FILE = "gateway.json"
CANDIDATES = tuple(IPv4Network(f"172.{n}.0.0/16") for n in range(18, 31))


class GatewayFull(NetnsError):
    """Every address of the gateway subnet is taken."""


def choose_subnet(
    routes: Iterable[IPv4Network], candidates: Iterable[IPv4Network] = CANDIDATES
) -> IPv4Network:
    """The first candidate overlapping none of `routes` (default routes do not count)."""
    taken = [r for r in routes if r.prefixlen > 0]
    for candidate in candidates:
        if not any(candidate.overlaps(r) for r in taken):
            return candidate
    raise NetnsError(
        "every gateway subnet candidate (172.18.0.0/16 .. 172.30.0.0/16) overlaps a route of "
        "this host; free one of them"
    )


@dataclass(slots=True)
class GatewayTable:
    """Which key holds which address of the subnet (.1 is the bridge's)."""

    subnet: IPv4Network
    addresses: dict[str, IPv4Interface] = field(default_factory=dict)

    @property
    def gateway(self) -> IPv4Address:
        return self.subnet.network_address + 1

    def allocate(self, key: str) -> IPv4Interface:
        """The key's address: the one it has, else the lowest free one."""
        if key in self.addresses:
            return self.addresses[key]
        used = {a.ip for a in self.addresses.values()} | {self.gateway}
        for host in self.subnet.hosts():
            if host not in used:
                self.addresses[key] = IPv4Interface(f"{host}/{self.subnet.prefixlen}")
                return self.addresses[key]
        raise GatewayFull(
            f"gateway subnet {self.subnet} has no free address; too many containers here"
        )

    def release(self, key: str) -> None:
        self.addresses.pop(key, None)

    def dumps(self) -> str:
        table = {
            "subnet": str(self.subnet),
            "addresses": {k: str(a) for k, a in sorted(self.addresses.items())},
        }
        return json.dumps(table, indent=1) + "\n"

    @classmethod
    def loads(cls, text: str) -> GatewayTable:
        """Parse dumps()'s output; ValueError on anything else."""
        try:
            raw = json.loads(text)
            subnet = IPv4Network(raw["subnet"])
            addresses: Mapping[str, str] = raw["addresses"]
            table = cls(subnet, {str(k): IPv4Interface(a) for k, a in addresses.items()})
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"not a gateway table: {e!r}") from None
        if any(a.network != subnet for a in table.addresses.values()):
            raise ValueError(f"not a gateway table: an address lies outside {subnet}")
        return table


def _routes(ipr: IPRoute) -> list[IPv4Network]:
    """Every IPv4 route of the host (all tables) except the ones on the gateway bridge."""
    bridge = link_index(ipr, BRIDGE_NAME)
    found = []
    for msg in ipr.route("dump", family=socket.AF_INET):
        if bridge is not None and msg.get("RTA_OIF") == bridge:
            continue
        dst = msg.get("RTA_DST") or "0.0.0.0"
        found.append(IPv4Network(f"{dst}/{msg['dst_len']}", strict=False))
    return found


def _bridge_subnet(ipr: IPRoute, index: int) -> IPv4Network | None:
    for msg in ipr.addr("dump", index=index, family=socket.AF_INET):
        return IPv4Interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}").network
    return None


@dataclass(slots=True)
class GatewayBridge:
    name: ClassVar[str] = BRIDGE_NAME
    run_dir: Path
    table: GatewayTable

    @property
    def subnet(self) -> IPv4Network:
        return self.table.subnet

    @property
    def gateway(self) -> IPv4Address:
        return self.table.gateway

    @classmethod
    def ensure(cls, run_dir: Path) -> GatewayBridge:
        """The bridge up with .1 in the calling thread's namespace, ip_forward on; an
        existing bridge and table are adopted."""
        table = _load(run_dir)
        with iproute(None) as host:
            bridge = link_index(host, BRIDGE_NAME)
            subnet = _bridge_subnet(host, bridge) if bridge is not None else None
            if subnet is None:
                # No bridge (first start, or a reboot took it): nothing is attached, so every
                # saved address is free. The saved subnet is kept while no route overlaps it.
                saved = [table.subnet] if table is not None else []
                subnet = choose_subnet(_routes(host), [*saved, *CANDIDATES])
                table = None
            if table is None or table.subnet != subnet:
                table = GatewayTable(subnet)
            if bridge is None:
                bridge = create_link(host, BRIDGE_NAME, kind="bridge")
            set_address(host, bridge, IPv4Interface(f"{table.gateway}/{subnet.prefixlen}"))
            host.link("set", index=bridge, state="up")
        sysctl(None, "net.ipv4.ip_forward", "1")
        gateway = cls(run_dir, table)
        gateway._save()
        return gateway

    def attach(self, target: Path, *, key: str, ifname: str) -> str:
        """`ifname` in `target` on the bridge, default route via .1; returns its CIDR."""
        address = self.table.allocate(key)
        self._save()
        plumb_veth(
            None,
            bridge=BRIDGE_NAME,
            local=VETH_PREFIX + key_hash(key),
            target=target,
            ifname=ifname,
            address=str(address),
        )
        with iproute(target) as tgt:
            index = link_index(tgt, ifname)
            tgt.route("replace", dst="0.0.0.0/0", gateway=str(self.gateway), oif=index)
        return str(address)

    def release(self, key: str) -> None:
        """Delete the key's host end (its container end goes with it); free its address."""
        delete_link(None, VETH_PREFIX + key_hash(key))
        if key in self.table.addresses:
            self.table.release(key)
            self._save()

    def address(self, key: str) -> str | None:
        found = self.table.addresses.get(key)
        return str(found) if found is not None else None

    def remove(self) -> None:
        """Delete the bridge, every shoalgw link and the table."""
        with iproute(None) as host:
            for link in host.link("dump"):
                name = link.get("IFLA_IFNAME")
                if name == BRIDGE_NAME or name.startswith(VETH_PREFIX):
                    host.link("del", index=link["index"])
        (self.run_dir / TABLE_FILE).unlink(missing_ok=True)
        self.table.addresses.clear()

    def _save(self) -> None:
        path = self.run_dir / TABLE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.table.dumps())
        os.replace(tmp, path)


def _load(run_dir: Path) -> GatewayTable | None:
    path = run_dir / TABLE_FILE
    try:
        return GatewayTable.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise NetnsError(f"{path} is damaged ({e}); remove it and restart shoald") from None
