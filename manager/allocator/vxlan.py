"""VXLAN IDs for overlay networks: unique, from 4096 up like Swarm (IDs below are left to
whatever else runs on the hosts), lowest free first so a rebuilt state matches."""

from __future__ import annotations

from collections.abc import Mapping

from manager.allocator.errors import InvalidVXLANID, VXLANExhausted

VXLAN_FIRST = 4096
VXLAN_LAST = (1 << 24) - 1


class VXLANAllocator:
    def __init__(self, first: int = VXLAN_FIRST, last: int = VXLAN_LAST) -> None:
        self.first, self.last = first, last
        self._owners: dict[int, str] = {}  # vxlan id -> network id
        self._hint = first  # no free ID below this one

    @property
    def allocated(self) -> Mapping[int, str]:
        return dict(self._owners)

    def allocate(self, owner: str) -> int:
        for vni, o in self._owners.items():
            if o == owner:
                return vni
        for vni in range(self._hint, self.last + 1):
            if vni not in self._owners:
                self._owners[vni] = owner
                self._hint = vni + 1
                return vni
        raise VXLANExhausted(
            f"no free VXLAN ID left ({self.first}-{self.last}): remove unused networks"
        )

    def claim(self, owner: str, vni: int) -> None:
        if not self.first <= vni <= self.last:
            raise InvalidVXLANID(f"VXLAN ID {vni} is outside {self.first}-{self.last}")
        current = self._owners.get(vni)
        if current is not None and current != owner:
            raise InvalidVXLANID(f"VXLAN ID {vni} is already used by network {current}")
        self._owners[vni] = owner

    def release(self, vni: int) -> None:
        if self._owners.pop(vni, None) is not None:
            self._hint = min(self._hint, vni)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VXLANAllocator):
            return NotImplemented
        return (self.first, self.last, self._owners) == (other.first, other.last, other._owners)

    __hash__ = None  # type: ignore[assignment]
