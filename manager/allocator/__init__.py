"""The allocator: subnets, addresses, MACs, VXLAN IDs and published ports for networks,
services, tasks and nodes.

A pure core (state.py and what it steps: ipam, vxlan, ports; reconcile.py, one pass over a
store view), the rules the scheduler and control API share with it (rules.py), and the
leader's store loop around them (loop.py). See docs/design/allocator.md.
"""

from __future__ import annotations

from manager.allocator.errors import (
    AddressesExhausted,
    AddressInUse,
    AllocatorError,
    InvalidIPAMConfig,
    InvalidPort,
    InvalidVXLANID,
    PoolExhausted,
    PortConflict,
    PortsExhausted,
    SubnetOverlap,
    VXLANExhausted,
)
from manager.allocator.ipam import (
    AddressSpace,
    SubnetConfig,
    SubnetPool,
    mac_for,
    parse_ipam_config,
)
from manager.allocator.loop import Allocator
from manager.allocator.ports import DYNAMIC_FIRST, DYNAMIC_LAST, PortAllocator, PortOwner
from manager.allocator.reconcile import Dirty, Outcome, allocate
from manager.allocator.routes import host_routes, parse_routes
from manager.allocator.rules import (
    INGRESS_NAME,
    awaits_allocation,
    holds_addresses,
    ingress_network,
    needs_networks,
    service_uses_ingress,
    task_endpoint,
    task_uses_network,
    uses_network,
)
from manager.allocator.state import Allocations
from manager.allocator.vxlan import VXLAN_FIRST, VXLAN_LAST, VXLANAllocator

__all__ = [
    "DYNAMIC_FIRST",
    "DYNAMIC_LAST",
    "INGRESS_NAME",
    "VXLAN_FIRST",
    "VXLAN_LAST",
    "AddressInUse",
    "AddressSpace",
    "AddressesExhausted",
    "Allocations",
    "Allocator",
    "AllocatorError",
    "Dirty",
    "InvalidIPAMConfig",
    "InvalidPort",
    "InvalidVXLANID",
    "Outcome",
    "PoolExhausted",
    "PortAllocator",
    "PortConflict",
    "PortOwner",
    "PortsExhausted",
    "SubnetConfig",
    "SubnetOverlap",
    "SubnetPool",
    "VXLANAllocator",
    "VXLANExhausted",
    "allocate",
    "awaits_allocation",
    "holds_addresses",
    "host_routes",
    "ingress_network",
    "mac_for",
    "needs_networks",
    "parse_ipam_config",
    "parse_routes",
    "service_uses_ingress",
    "task_endpoint",
    "task_uses_network",
    "uses_network",
]
