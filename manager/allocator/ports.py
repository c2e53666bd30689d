"""Published ports of ingress mode: one cluster-wide space per protocol.

An explicit port is checked against every other service's; a port left out (0) gets the
lowest free one of 30000-32767. Host-mode ports are not allocated here: they are published
only on the nodes running a task, and the scheduler keeps two of them off one node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from manager.allocator.errors import InvalidPort, PortConflict, PortsExhausted
from manager.store.specs import PortConfig, PortProtocol, PublishMode

DYNAMIC_FIRST = 30000
DYNAMIC_LAST = 32767


@dataclass(frozen=True, slots=True)
class PortOwner:
    service_id: str
    service_name: str


PortKey = tuple[PortProtocol, int]


def _check_range(port: int, what: str) -> None:
    if not 1 <= port <= 65535:
        raise InvalidPort(f"{what} port {port} is outside 1-65535")


class PortAllocator:
    def __init__(self, first: int = DYNAMIC_FIRST, last: int = DYNAMIC_LAST) -> None:
        self.first, self.last = first, last
        self._owners: dict[PortKey, PortOwner] = {}

    @property
    def allocated(self) -> Mapping[PortKey, PortOwner]:
        return dict(self._owners)

    def allocate(
        self,
        service_id: str,
        service_name: str,
        spec_ports: Sequence[PortConfig],
        current: Sequence[PortConfig] = (),
    ) -> tuple[PortConfig, ...]:
        """The service's ports with every ingress published port filled in. `current` is what
        the service had: a port left out keeps the number it was given before. All or
        nothing: on a conflict nothing changes."""
        owner = PortOwner(service_id, service_name)
        mine = {k for k, o in self._owners.items() if o.service_id == service_id}
        taken = {k: o for k, o in self._owners.items() if o.service_id != service_id}
        wanted: dict[PortKey, PortConfig] = {}
        out: list[PortConfig | None] = []
        for p in spec_ports:
            _check_range(p.target_port, "target")
            if p.publish_mode is not PublishMode.INGRESS or p.published_port == 0:
                out.append(None if p.publish_mode is PublishMode.INGRESS else p)
                continue
            _check_range(p.published_port, "published")
            key = (p.protocol, p.published_port)
            if key in taken:
                raise PortConflict(
                    f"port {p.published_port}/{p.protocol.value} is already in use by service "
                    f"{taken[key].service_name}: choose another published port"
                )
            if key in wanted:
                raise PortConflict(
                    f"port {p.published_port}/{p.protocol.value} is published twice by "
                    f"service {service_name}"
                )
            wanted[key] = p
            out.append(p)
        # ports left out: reuse what the service had for the same target, else lowest free
        previous = [
            c for c in current if c.publish_mode is PublishMode.INGRESS and c.published_port
        ]
        for i, p in enumerate(spec_ports):
            if out[i] is not None:
                continue
            number = self._reuse(p, previous, taken, wanted)
            if number == 0:
                number = self._lowest_free(p.protocol, taken, wanted)
            filled = replace(p, published_port=number)
            wanted[(p.protocol, number)] = filled
            out[i] = filled
        for k in mine:
            del self._owners[k]
        for k in wanted:
            self._owners[k] = owner
        return tuple(p for p in out if p is not None)

    def _reuse(
        self,
        p: PortConfig,
        previous: list[PortConfig],
        taken: Mapping[PortKey, PortOwner],
        wanted: Mapping[PortKey, PortConfig],
    ) -> int:
        for c in previous:
            key = (c.protocol, c.published_port)
            if (
                (c.protocol, c.target_port, c.name) == (p.protocol, p.target_port, p.name)
                and self.first <= c.published_port <= self.last
                and key not in taken
                and key not in wanted
            ):
                previous.remove(c)
                return c.published_port
        return 0

    def _lowest_free(
        self,
        protocol: PortProtocol,
        taken: Mapping[PortKey, PortOwner],
        wanted: Mapping[PortKey, PortConfig],
    ) -> int:
        for n in range(self.first, self.last + 1):
            if (protocol, n) not in taken and (protocol, n) not in wanted:
                return n
        raise PortsExhausted(
            f"no free {protocol.value} port left in {self.first}-{self.last}: "
            "give published ports explicitly or remove unused services"
        )

    def claim(self, service_id: str, service_name: str, ports: Sequence[PortConfig]) -> None:
        """Record a service's allocated ports as they are (restore)."""
        self.allocate(service_id, service_name, ports)

    def release(self, service_id: str) -> None:
        for k in [k for k, o in self._owners.items() if o.service_id == service_id]:
            del self._owners[k]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PortAllocator):
            return NotImplemented
        return (self.first, self.last, self._owners) == (other.first, other.last, other._owners)

    __hash__ = None  # type: ignore[assignment]
