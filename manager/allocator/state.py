"""All of the cluster's allocations in one place, stepped by the allocator loop.

    alloc = Allocations.restore(cluster, networks, services, tasks, nodes, reserved=routes)
    network = alloc.allocate_network(network)        # subnet, gateway, VXLAN ID filled in
    endpoint = alloc.allocate_service(service)       # VIPs and published ports
    endpoint, freed = alloc.reallocate_service(service)  # the same; and did an update free any
    attachments = alloc.allocate_task(task)          # an address and MAC per network

Every method returns the values to write to the store and raises a typed error (with a
message for the user) leaving the state as it was. Releases name the object that held the
addresses and free only what that object still owns, so releasing twice (a task that ended,
then was deleted) never frees an address handed on to someone else. No store, no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from ipaddress import IPv4Interface

from manager.allocator.errors import AllocatorError, InvalidIPAMConfig
from manager.allocator.ipam import (
    AddressSpace,
    SubnetConfig,
    SubnetPool,
    mac_for,
    parse_ipam_config,
)
from manager.allocator.ports import PortAllocator, PortKey
from manager.allocator.rules import holds_addresses
from manager.allocator.vxlan import VXLANAllocator
from manager.store.objects import (
    Cluster,
    Endpoint,
    Network,
    NetworkAttachment,
    Node,
    Service,
    Task,
    VirtualIP,
)
from manager.store.specs import EndpointMode, PortConfig, PublishMode


def _owner(kind: str, object_id: str) -> str:
    return f"{kind}:{object_id}"


def _iface(cidr: str) -> IPv4Interface:
    try:
        iface = ipaddress.ip_interface(cidr)
    except ValueError:
        raise AllocatorError(f"address {cidr!r} is not an address") from None
    if not isinstance(iface, IPv4Interface):
        raise AllocatorError(f"address {cidr} is not IPv4")
    return iface


def _has_ingress_ports(ports: Sequence[PortConfig]) -> bool:
    return any(p.publish_mode is PublishMode.INGRESS for p in ports)


@dataclass(slots=True)
class _NetworkState:
    name: str
    space: AddressSpace
    vxlan_id: int
    ingress: bool


class Allocations:
    def __init__(self, cluster: Cluster, reserved: Iterable[str] = ()) -> None:
        self.pool = SubnetPool(cluster.default_address_pool, cluster.subnet_size, reserved)
        self.vxlan = VXLANAllocator()
        self.ports = PortAllocator()
        self._networks: dict[str, _NetworkState] = {}  # network id -> state
        self.conflicts: list[str] = []  # what restore could not take back (for the log)

    # -- networks ---------------------------------------------------------------------------

    def space(self, network_id: str) -> AddressSpace:
        return self._networks[network_id].space

    def has_network(self, network_id: str) -> bool:
        return network_id in self._networks

    @property
    def ingress_network_id(self) -> str:
        return next((i for i, n in self._networks.items() if n.ingress), "")

    def allocate_network(self, network: Network) -> Network:
        """The network with its subnet, gateway and VXLAN ID. An already-allocated network
        (subnet and VXLAN ID set) is adopted as it is."""
        if network.id in self._networks:
            st = self._networks[network.id]
            return replace(
                network,
                subnet=str(st.space.subnet),
                gateway=str(st.space.gateway),
                vxlan_id=st.vxlan_id,
            )
        name = network.spec.name or network.id
        if "encrypted" in network.spec.driver_options:
            raise InvalidIPAMConfig("encrypted overlay networks are not supported yet")
        cfg = self._subnet_config(network)
        if cfg is not None:
            self.pool.claim(name, cfg.subnet)
        else:
            cfg = SubnetConfig(self.pool.allocate(name))
        try:
            if network.vxlan_id:
                self.vxlan.claim(name, network.vxlan_id)
                vni = network.vxlan_id
            else:
                vni = self.vxlan.allocate(name)
        except AllocatorError:
            self.pool.release(name)
            raise
        space = AddressSpace.from_config(name, cfg)
        self._networks[network.id] = _NetworkState(name, space, vni, network.spec.ingress)
        return replace(network, subnet=str(cfg.subnet), gateway=str(space.gateway), vxlan_id=vni)

    @staticmethod
    def _subnet_config(network: Network) -> SubnetConfig | None:
        """What the network holds or was given; None: carve one from the pools."""
        configs = network.spec.ipam_configs
        if len(configs) > 1:
            raise InvalidIPAMConfig("only one --subnet per network is supported")
        given = configs[0] if configs else None
        subnet = network.subnet or (given.subnet if given else "")
        if not subnet:
            return None
        gateway = network.gateway or (given.gateway if given else "")
        return parse_ipam_config(subnet, gateway, given.range if given else "")

    def release_network(self, network_id: str) -> bool:
        st = self._networks.pop(network_id, None)
        if st is None:
            return False
        self.pool.release(st.name)
        self.vxlan.release(st.vxlan_id)
        return True

    # -- addresses ---------------------------------------------------------------------------

    def _attach(self, network_id: str, owner: str, have: str = "") -> IPv4Interface:
        st = self._networks.get(network_id)
        if st is None:
            raise AllocatorError(f"network {network_id} is not allocated yet")
        if have:
            addr = _iface(have).ip
            st.space.claim(owner, addr)
        else:
            addr = st.space.allocate(owner)
        return IPv4Interface((addr, st.space.subnet.prefixlen))

    def _release(self, network_id: str, cidr: str, owner: str | None = None) -> bool:
        """Free an address; with `owner`, only if that owner still holds it. Whether an
        address was freed."""
        st = self._networks.get(network_id)
        if st is None or not cidr:
            return False
        addr = _iface(cidr).ip
        if addr == st.space.gateway or st.space.owner_of(addr) is None:
            return False
        if owner is not None and st.space.owner_of(addr) != owner:
            return False
        st.space.release(addr)
        return True

    def _attach_all(
        self, owner: str, wanted: Sequence[tuple[str, str]]
    ) -> list[tuple[str, IPv4Interface]]:
        """(network id, address already held or "") -> addresses; all or nothing: on an
        error, what this call took is freed again (what the owner held before stays)."""
        done: list[tuple[str, IPv4Interface]] = []
        taken: list[tuple[str, IPv4Interface]] = []
        try:
            for network_id, have in wanted:
                held = bool(have) and self._owner_of(network_id, have) == owner
                iface = self._attach(network_id, owner, have)
                done.append((network_id, iface))
                if not held:
                    taken.append((network_id, iface))
        except AllocatorError:
            for network_id, iface in taken:
                self._release(network_id, str(iface))
            raise
        return done

    def _owner_of(self, network_id: str, cidr: str) -> str | None:
        st = self._networks.get(network_id)
        return None if st is None else st.space.owner_of(_iface(cidr).ip)

    # -- services ----------------------------------------------------------------------------

    def _service_networks(self, service: Service) -> list[str]:
        ids = [n.target for n in service.spec.task_template.networks]
        ingress = self.ingress_network_id
        if ingress and _has_ingress_ports(service.spec.endpoint_spec.ports):
            ids.append(ingress)
        return list(dict.fromkeys(ids))

    def allocate_service(self, service: Service) -> Endpoint:
        """VIPs (endpoint mode vip) on each of the service's networks, plus ingress when it
        publishes in ingress mode; published ports filled in. Kept across updates."""
        return self.reallocate_service(service)[0]

    def reallocate_service(self, service: Service) -> tuple[Endpoint, bool]:
        """allocate_service, and whether the update freed VIPs or published ports the service
        held (it left a network, switched to dnsrr, changed its ports): whatever waits for an
        address or a port may fit now."""
        current = service.endpoint or Endpoint()
        owner = _owner("service", service.id)
        spec = service.spec.endpoint_spec
        held = {v.network_id: v.addr for v in current.virtual_ips}
        wanted = self._service_networks(service) if spec.mode is EndpointMode.VIP else []
        vips = self._attach_all(owner, [(n, held.get(n, "")) for n in wanted])
        ports_before = self._ports_of(service.id)
        try:
            ports = self.ports.allocate(service.id, service.spec.name, spec.ports, current.ports)
        except AllocatorError:
            for network_id, iface in vips:
                if network_id not in held:
                    self._release(network_id, str(iface))
            raise
        freed = bool(ports_before - self._ports_of(service.id))
        for network_id, addr in held.items():
            if network_id not in wanted:
                freed = self._release(network_id, addr, owner) or freed
        endpoint = Endpoint(
            spec=spec,
            ports=ports,
            virtual_ips=tuple(VirtualIP(n, str(iface)) for n, iface in vips),
        )
        return endpoint, freed

    def _ports_of(self, service_id: str) -> set[PortKey]:
        return {k for k, o in self.ports.allocated.items() if o.service_id == service_id}

    def release_service(self, service: Service) -> bool:
        """Whether anything was freed (its ports or VIPs)."""
        owner = _owner("service", service.id)
        freed = any(o.service_id == service.id for o in self.ports.allocated.values())
        self.ports.release(service.id)
        for v in (service.endpoint or Endpoint()).virtual_ips:
            freed = self._release(v.network_id, v.addr, owner) or freed
        return freed

    # -- tasks and nodes ---------------------------------------------------------------------

    def allocate_task(self, task: Task) -> tuple[NetworkAttachment, ...]:
        """An address and MAC on each of the task's networks (ingress too when its service
        publishes in ingress mode). Addresses the task already holds are kept."""
        held = {a.network_id: a for a in task.networks}
        ids = [n.target for n in task.spec.networks]
        aliases = {n.target: n.aliases for n in task.spec.networks}
        ingress = self.ingress_network_id
        if ingress and task.endpoint and _has_ingress_ports(task.endpoint.ports):
            ids.append(ingress)
        ids = list(dict.fromkeys(ids))
        wanted = [(n, held[n].addresses[0] if n in held and held[n].addresses else "") for n in ids]
        done = self._attach_all(_owner("task", task.id), wanted)
        return tuple(
            NetworkAttachment(
                network_id=n,
                addresses=(str(iface),),
                aliases=aliases.get(n, ()),
                mac=mac_for(iface.ip),
            )
            for n, iface in done
        )

    def release_task(self, task: Task) -> bool:
        """Whether an address was freed (False when the task held none any more)."""
        return self._release_attachments(_owner("task", task.id), task.networks)

    def _release_attachments(self, owner: str, attachments: Iterable[NetworkAttachment]) -> bool:
        freed = False
        for a in attachments:
            for cidr in a.addresses:
                freed = self._release(a.network_id, cidr, owner) or freed
        return freed

    def allocate_node(self, node: Node) -> tuple[NetworkAttachment, ...]:
        """The node's ingress sandbox address (none while there is no ingress network)."""
        ingress = self.ingress_network_id
        if not ingress:
            return ()
        held = {a.network_id: a for a in node.attachments}
        have = held[ingress].addresses[0] if ingress in held and held[ingress].addresses else ""
        iface = self._attach(ingress, _owner("node", node.id), have)
        return (NetworkAttachment(ingress, (str(iface),), (), mac_for(iface.ip)),)

    def release_node(self, node: Node) -> bool:
        return self._release_attachments(_owner("node", node.id), node.attachments)

    # -- a new leader ------------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        cluster: Cluster,
        networks: Iterable[Network],
        services: Iterable[Service] = (),
        tasks: Iterable[Task] = (),
        nodes: Iterable[Node] = (),
        reserved: Iterable[str] = (),
    ) -> Allocations:
        """Rebuild the state from the store's objects: only what they already hold is taken
        (objects not allocated yet are left for the loop); tasks that ended, or can no longer
        start, hold nothing (rules.holds_addresses). An object whose allocation cannot be
        taken back (it overlaps another's, its network is gone) is left out, all of it, and
        said in `conflicts`: a new leader must come up even on inconsistent state."""
        alloc = cls(cluster, reserved)
        for n in sorted(networks, key=lambda n: n.id):
            if n.subnet and n.vxlan_id and not n.pending_delete:
                alloc._take(f"network {n.spec.name or n.id}", alloc.allocate_network, n)
        for s in sorted(services, key=lambda s: s.id):
            if s.endpoint is not None:
                alloc._take(f"service {s.spec.name or s.id}", alloc._restore_service, s)
        for t in sorted(tasks, key=lambda t: t.id):
            if holds_addresses(t) and t.networks:
                owner = _owner("task", t.id)
                alloc._take(f"task {t.id}", alloc._restore_attachments, owner, t.networks)
        for node in sorted(nodes, key=lambda n: n.id):
            if node.attachments:
                owner = _owner("node", node.id)
                alloc._take(f"node {node.id}", alloc._restore_attachments, owner, node.attachments)
        return alloc

    def _take(self, what: str, restore: Callable[..., object], *args: object) -> None:
        try:
            restore(*args)
        except AllocatorError as e:
            self.conflicts.append(f"{what}: {e}")

    def _restore_attachments(self, owner: str, attachments: Iterable[NetworkAttachment]) -> None:
        wanted = [(a.network_id, cidr) for a in attachments for cidr in a.addresses if cidr]
        self._attach_all(owner, wanted)

    def _restore_service(self, service: Service) -> None:
        endpoint = service.endpoint or Endpoint()
        owner = _owner("service", service.id)
        vips = self._attach_all(owner, [(v.network_id, v.addr) for v in endpoint.virtual_ips])
        try:
            self.ports.claim(service.id, service.spec.name, endpoint.ports)
        except AllocatorError:
            for network_id, iface in vips:
                self._release(network_id, str(iface))
            raise

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Allocations):
            return NotImplemented
        mine = {i: (n.name, n.space, n.vxlan_id, n.ingress) for i, n in self._networks.items()}
        theirs = {i: (n.name, n.space, n.vxlan_id, n.ingress) for i, n in other._networks.items()}
        return (self.pool, self.vxlan, self.ports, mine) == (
            other.pool,
            other.vxlan,
            other.ports,
            theirs,
        )

    __hash__ = None  # type: ignore[assignment]
