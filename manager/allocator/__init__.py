"""The allocator's pure core: subnets, addresses, MACs, VXLAN IDs and published ports.

No store loop and no I/O here: see docs/design/allocator.md.
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
from manager.allocator.ports import DYNAMIC_FIRST, DYNAMIC_LAST, PortAllocator, PortOwner
from manager.allocator.state import Allocations
from manager.allocator.vxlan import VXLAN_FIRST, VXLAN_LAST, VXLANAllocator

__all__ = [
    "DYNAMIC_FIRST",
    "DYNAMIC_LAST",
    "VXLAN_FIRST",
    "VXLAN_LAST",
    "AddressInUse",
    "AddressSpace",
    "AddressesExhausted",
    "Allocations",
    "AllocatorError",
    "InvalidIPAMConfig",
    "InvalidPort",
    "InvalidVXLANID",
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
    "mac_for",
    "parse_ipam_config",
]
