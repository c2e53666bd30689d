"""Typed errors of the allocation core: each message says what is wrong for a user to read."""

from __future__ import annotations


class AllocatorError(Exception):
    """Base of every allocation failure; the loop records str(error) on the object."""


class InvalidIPAMConfig(AllocatorError):
    """--subnet/--gateway/--ip-range given but not usable."""


class SubnetOverlap(AllocatorError):
    """An explicit subnet overlaps another network's."""


class PoolExhausted(AllocatorError):
    """No free subnet of the wanted size is left in the default address pools."""


class AddressesExhausted(AllocatorError):
    """A network's subnet (or ip-range) has no free address left."""

    def __init__(self, network: str) -> None:
        super().__init__(f"network {network} has no free addresses")
        self.network = network


class AddressInUse(AllocatorError):
    """A specific address was asked for but is taken (or outside the network)."""


class VXLANExhausted(AllocatorError):
    """Every VXLAN ID is taken."""


class InvalidVXLANID(AllocatorError):
    """A VXLAN ID out of range or already in use (restore of inconsistent state)."""


class InvalidPort(AllocatorError):
    """A published or target port outside 1-65535."""


class PortConflict(AllocatorError):
    """A published port already taken by another service (or twice by the same one)."""


class PortsExhausted(AllocatorError):
    """The dynamic range 30000-32767 is full for a protocol."""
