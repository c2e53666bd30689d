"""A container's interface on a bridge: one veth pair, one end per namespace.

    bridge namespace (sandbox or host)           target namespace (container, sbox)
    <bridge> ── <local name> (veth) ═══════════ <ifname>  address/prefix, MAC, MTU, up
                                                 lo up

The pair is created in the bridge's namespace with its peer placed straight into the target
under its final name, so nothing is ever renamed or left half-moved. The local end is named
from a hash of the attachment's key (a task id), the same on every run, so a restarted
daemon finds it again. An interface already in the target with the wanted address is kept:
attaching twice is harmless.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

from pyroute2 import IPRoute

from overlay_net.netns import NetnsError, iproute, is_netns, ns_fd
from overlay_net.sandbox import BRIDGE, NetworkSandbox, link_index

SANDBOX_VETH_PREFIX = "veth"


def key_hash(key: str) -> str:
    """7 hex digits naming a key's links (IFNAMSIZ leaves 15 characters)."""
    return hashlib.sha256(key.encode()).hexdigest()[:7]


def attach_endpoint(
    sandbox: NetworkSandbox,
    target: Path,
    *,
    key: str,
    ifname: str,
    address: str,
    mac: str,
    mtu: int | None = None,
) -> None:
    """Join namespace `target` to the sandbox's br0 as `ifname` with `address` (CIDR)."""
    plumb_veth(
        sandbox.path,
        bridge=BRIDGE,
        local=SANDBOX_VETH_PREFIX + key_hash(key),
        target=target,
        ifname=ifname,
        address=address,
        mac=mac,
        mtu=mtu if mtu is not None else sandbox.mtu,
    )


def detach_endpoint(sandbox: NetworkSandbox, *, key: str) -> None:
    """Delete the sandbox end (its peer in the container goes with it); missing is fine."""
    delete_link(sandbox.path, SANDBOX_VETH_PREFIX + key_hash(key))


def delete_link(ns: Path | None, name: str) -> None:
    """Delete link `name` in `ns` if it is there (and `ns` still exists)."""
    try:
        with iproute(ns) as ipr:
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])
    except NetnsError:
        if ns is None or is_netns(ns):
            raise
        # the namespace is gone, and with it the link


def plumb_veth(
    bridge_ns: Path | None,
    *,
    bridge: str,
    local: str,
    target: Path,
    ifname: str,
    address: str,
    mac: str | None = None,
    mtu: int | None = None,
) -> None:
    """A veth pair: `local` on `bridge` in `bridge_ns` (None: this thread's namespace) and
    `ifname` in `target` with `address` (CIDR), `mac` and `mtu` (None: kernel's choice)."""
    want = ipaddress.IPv4Interface(address)
    with iproute(target) as tgt, iproute(bridge_ns) as br:
        master = br.link_lookup(ifname=bridge)
        if not master:
            raise NetnsError(f"bridge {bridge} is missing; the network must be set up first")
        lo = tgt.link_lookup(ifname="lo")
        tgt.link("set", index=lo[0], state="up")
        existing, index = link_index(tgt, ifname), link_index(br, local)
        if existing is not None and index is not None and _has_address(tgt, existing, want):
            br.link("set", index=index, master=master[0], state="up")
            tgt.link("set", index=existing, state="up")
            return
        if existing is not None:  # wrong address, or its other end is gone
            tgt.link("del", index=existing)
        if index is not None:
            br.link("del", index=index)
        peer: dict[str, object] = {"ifname": ifname}
        if mac:
            peer["address"] = mac
        if mtu:
            peer["mtu"] = mtu
        with ns_fd(target) as fd:
            peer["net_ns_fd"] = fd
            spec: dict[str, object] = {"ifname": local, "kind": "veth", "peer": peer}
            if mtu:
                spec["mtu"] = mtu
            br.link("add", **spec)
        index, inner = link_index(br, local), link_index(tgt, ifname)
        if index is None or inner is None:
            raise NetnsError(f"veth {local}/{ifname} vanished right after it was created")
        br.link("set", index=index, master=master[0], state="up")
        tgt.addr("add", index=inner, address=str(want.ip), prefixlen=want.network.prefixlen)
        tgt.link("set", index=inner, state="up")


def _has_address(ipr: IPRoute, index: int, want: ipaddress.IPv4Interface) -> bool:
    for msg in ipr.addr("dump", index=index):
        if msg.get("IFA_ADDRESS") == str(want.ip) and msg["prefixlen"] == want.network.prefixlen:
            return True
    return False
