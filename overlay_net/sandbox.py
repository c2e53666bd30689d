"""A network's sandbox on one node: a namespace holding br0 and vxlan0, peers programmed.

    host ns (the caller's)             sandbox <run_dir>/netns/shoal-net-<id12>
    ──────────────────────             ────────────────────────────────────────
    shoalvx<vni hex> ──moved in──▶     vxlan0 (renamed; VNI, local = node_addr,
      its UDP socket stays here               dstport, learning off, proxy on)
                                          │   FDB  remote MAC ─▶ dst remote node_addr
                                          │   neigh remote IP ─▶ MAC (proxy answers ARP)
                                        br0 (the network's gateway address) ── veth…

Nothing is learned: `set_peers` writes a permanent FDB entry and a permanent neighbour entry
for every address owned by another node and deletes the ones no longer listed. Every step
reads the kernel first, so `ensure` adopts what a previous run of the daemon left (the
namespace is a bind mount under run_dir, the links live in it) and a pass can run twice.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from manager.dispatcher.networks import NetworkPeer
from manager.store import Network
from overlay_net.netns import NetnsError, create_netns, iproute, is_netns, ns_fd, remove_netns

SANDBOX_PREFIX = "shoal-net-"
BRIDGE = "br0"
VXLAN = "vxlan0"
VXLAN_OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
NTF_MASTER = 0x04  # an entry of the bridge (learned or added), not of the device itself


def vxlan_host_name(vni: int) -> str:
    """The vxlan device's name in the host namespace, before it moves into the sandbox."""
    return f"shoalvx{vni:x}"


def link_index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def create_link(ipr: IPRoute, name: str, **spec: object) -> int:
    """Add link `name` (kind etc. in spec) and return its index."""
    ipr.link("add", ifname=name, **spec)
    index = link_index(ipr, name)
    if index is None:
        raise NetnsError(f"link {name} vanished right after it was created; try again")
    return index


def _linkinfo_data(link: Any) -> Any:
    info = link.get("IFLA_LINKINFO")
    return info.get("IFLA_INFO_DATA") if info is not None else None


def underlay_mtu(ipr: IPRoute, node_addr: str) -> int:
    """The MTU of the interface holding node_addr (or of the route towards it)."""
    for msg in ipr.addr("dump", family=socket.AF_INET):
        if msg.get("IFA_ADDRESS") == node_addr or msg.get("IFA_LOCAL") == node_addr:
            return int(ipr.link("get", index=msg["index"])[0].get("IFLA_MTU"))
    try:
        route = ipr.route("get", dst=node_addr)[0]
    except NetlinkError:  # no route
        route = None
    if route is None or route.get("RTA_OIF") is None:
        raise NetnsError(
            f"node address {node_addr} is on no interface of this node and has no route; "
            "check --advertise-addr"
        )
    return int(ipr.link("get", index=route.get("RTA_OIF"))[0].get("IFLA_MTU"))


def set_address(ipr: IPRoute, index: int, address: ipaddress.IPv4Interface) -> None:
    """Make `address` the only IPv4 address of the link."""
    present = False
    for msg in ipr.addr("dump", index=index, family=socket.AF_INET):
        have = ipaddress.IPv4Interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
        if have == address:
            present = True
        else:
            ipr.addr("del", index=index, address=str(have.ip), prefixlen=have.network.prefixlen)
    if not present:
        ipr.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)


@dataclass(frozen=True, slots=True)
class _Vxlan:
    """What vxlan0 must be; compared with what the kernel has when adopting."""

    vni: int
    local: str
    port: int
    mtu: int

    def matches(self, link: Any) -> bool:
        data = _linkinfo_data(link)
        return data is not None and (
            data.get("IFLA_VXLAN_ID") == self.vni
            and data.get("IFLA_VXLAN_LOCAL") == self.local
            and data.get("IFLA_VXLAN_PORT") == self.port
            and data.get("IFLA_VXLAN_LEARNING") == 0
            and data.get("IFLA_VXLAN_PROXY") == 1
        )


def gateway_interface(network: Network) -> ipaddress.IPv4Interface:
    """The address br0 holds: the network's gateway with its subnet's prefix."""
    if not (network.vxlan_id and network.subnet and network.gateway):
        raise NetnsError(
            f"network {network.spec.name or network.id} is not allocated yet (no VXLAN ID, "
            "subnet or gateway); it is set up once the manager allocates it"
        )
    subnet = ipaddress.IPv4Network(network.subnet)
    gateway = ipaddress.IPv4Interface(network.gateway).ip  # "10.0.0.1" or "10.0.0.1/24"
    return ipaddress.IPv4Interface(f"{gateway}/{subnet.prefixlen}")


@dataclass(frozen=True, slots=True)
class NetworkSandbox:
    path: Path  # <run_dir>/netns/shoal-net-<id12>
    vxlan_id: int = 0  # 0: not known (a sandbox found on disk, see `at`)
    mtu: int = 1450  # the overlay MTU: underlay - 50

    @staticmethod
    def name_for(network_id: str) -> str:
        return SANDBOX_PREFIX + network_id[:12]

    @classmethod
    def at(cls, path: Path) -> NetworkSandbox:
        """The sandbox mounted at `path`, to remove one left by a previous run."""
        return cls(path)

    @classmethod
    def ensure(
        cls, network: Network, *, run_dir: Path, node_addr: str, data_path_port: int
    ) -> NetworkSandbox:
        """Create the sandbox of `network`, or adopt and repair the one that exists.

        The vxlan device is created in the calling thread's namespace (the node's)."""
        gateway = gateway_interface(network)
        path = run_dir / "netns" / cls.name_for(network.id)
        with iproute(None) as host:
            mtu = underlay_mtu(host, node_addr) - VXLAN_OVERHEAD
        want = _Vxlan(network.vxlan_id, node_addr, data_path_port, mtu)
        create_netns(path)
        with iproute(path) as sb:
            sb.link("set", index=link_index(sb, "lo"), state="up")
            bridge = link_index(sb, BRIDGE)
            if bridge is None:
                bridge = create_link(sb, BRIDGE, kind="bridge")
            sb.link("set", index=bridge, mtu=mtu)
            set_address(sb, bridge, gateway)
            sb.link("set", index=bridge, state="up")
            vxlan = link_index(sb, VXLAN)
            if vxlan is not None and not want.matches(sb.link("get", index=vxlan)[0]):
                sb.link("del", index=vxlan)  # the node's address or the data port changed
                vxlan = None
            if vxlan is None:
                vxlan = _create_vxlan(sb, path, want)
            sb.link("set", index=vxlan, mtu=mtu, master=bridge, state="up")
        return cls(path, network.vxlan_id, mtu)

    def set_peers(self, peers: Iterable[NetworkPeer], *, local_node_id: str) -> None:
        """Program every remote peer on vxlan0 (FDB: MAC -> node; neighbour: IP -> MAC) and
        delete the entries of peers no longer listed."""
        fdb: dict[str, str] = {}
        neigh: dict[str, str] = {}
        for peer in peers:
            if peer.node_id == local_node_id:
                continue
            mac = peer.mac.lower()
            fdb[mac] = peer.node_addr
            neigh[str(ipaddress.IPv4Interface(peer.address).ip)] = mac
        with iproute(self.path) as sb:
            vxlan = link_index(sb, VXLAN)
            if vxlan is None:
                raise NetnsError(f"sandbox {self.path.name} has no {VXLAN}; ensure() it first")
            _sync_fdb(sb, vxlan, fdb)
            _sync_neigh(sb, vxlan, neigh)

    def remove(self) -> None:
        """Delete the sandbox; missing is fine. Its links go first, vxlan0 leading, so the
        UDP port is free and the containers' interfaces are gone on return, not whenever
        the kernel gets round to freeing the namespace."""
        if is_netns(self.path):
            with iproute(self.path) as sb:
                names = [str(link.get("IFLA_IFNAME")) for link in sb.link("dump")]
                for name in sorted(names, key=lambda n: n != VXLAN):
                    index = link_index(sb, name)  # a veth's deletion may have taken another
                    if name != "lo" and index is not None:
                        sb.link("del", index=index)
        if self.vxlan_id:
            _delete_host_vxlan(self.vxlan_id)
        remove_netns(self.path)


def sandbox_paths(run_dir: Path) -> list[Path]:
    """The network sandboxes mounted under run_dir (of this run or an earlier one)."""
    return sorted((run_dir / "netns").glob(SANDBOX_PREFIX + "*"))


def _delete_host_vxlan(vni: int) -> None:
    with iproute(None) as host:
        index = link_index(host, vxlan_host_name(vni))
        if index is not None:
            host.link("del", index=index)


def _create_vxlan(sb: IPRoute, path: Path, want: _Vxlan) -> int:
    """Create the device in the host namespace (where its UDP socket stays), move it into
    the sandbox and name it vxlan0; returns its index in the sandbox."""
    name = vxlan_host_name(want.vni)
    leftover = link_index(sb, name)  # an earlier run stopped between the move and the rename
    if leftover is not None:
        sb.link("del", index=leftover)
    _delete_host_vxlan(want.vni)  # or before the move
    with iproute(None) as host, ns_fd(path) as fd:
        index = create_link(
            host,
            name,
            kind="vxlan",
            vxlan_id=want.vni,
            vxlan_local=want.local,
            vxlan_port=want.port,
            vxlan_learning=0,
            vxlan_proxy=1,
            mtu=want.mtu,
        )
        host.link("set", index=index, net_ns_fd=fd)
    moved = link_index(sb, name)
    if moved is None:
        raise NetnsError(f"{name} did not arrive in sandbox {path.name}; try again")
    sb.link("set", index=moved, ifname=VXLAN)
    return moved


def _sync_fdb(sb: IPRoute, vxlan: int, want: dict[str, str]) -> None:
    have: dict[str, str] = {}
    for msg in sb.fdb("dump", ifindex=vxlan):
        dst = msg.get("NDA_DST")
        mac = str(msg.get("NDA_LLADDR")).lower()
        if msg["ifindex"] != vxlan:
            continue
        if not msg["flags"] & NTF_SELF:
            # br0 learned `mac` behind vxlan0; once it is no remote peer (its address moved
            # to a container here, or went), the entry would send its frames into vxlan0,
            # where no FDB entry takes them, until it ages out five minutes later
            if mac not in want and not msg["state"] & NUD_PERMANENT:
                sb.fdb("del", ifindex=vxlan, lladdr=mac, flags=NTF_MASTER)
            continue
        if dst is None:
            continue
        if want.get(mac) == dst and mac not in have:
            have[mac] = dst
        else:
            sb.fdb("del", ifindex=vxlan, lladdr=mac, dst=dst)
    for mac, dst in sorted(want.items()):
        if mac not in have:
            sb.fdb("add", ifindex=vxlan, lladdr=mac, dst=dst)


def _sync_neigh(sb: IPRoute, vxlan: int, want: dict[str, str]) -> None:
    have: set[str] = set()
    for msg in sb.neigh("dump", ifindex=vxlan, family=socket.AF_INET):
        if msg["ifindex"] != vxlan:
            continue
        ip = msg.get("NDA_DST")
        mac = str(msg.get("NDA_LLADDR")).lower()
        if want.get(ip) == mac and msg["state"] & NUD_PERMANENT:
            have.add(ip)
        else:
            sb.neigh("del", ifindex=vxlan, dst=ip)
    for ip, mac in sorted(want.items()):
        if ip not in have:
            sb.neigh("replace", ifindex=vxlan, dst=ip, lladdr=mac, state=NUD_PERMANENT)
