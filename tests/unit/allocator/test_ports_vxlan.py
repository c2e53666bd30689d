from __future__ import annotations

import pytest

from manager.allocator import (
    VXLAN_FIRST,
    InvalidPort,
    InvalidVXLANID,
    PortAllocator,
    PortConflict,
    PortsExhausted,
    VXLANAllocator,
    VXLANExhausted,
)
from manager.store.specs import PortConfig, PortProtocol, PublishMode

TCP, UDP = PortProtocol.TCP, PortProtocol.UDP


def port(
    target: int, published: int = 0, proto: PortProtocol = TCP, host: bool = False
) -> PortConfig:
    mode = PublishMode.HOST if host else PublishMode.INGRESS
    return PortConfig(
        protocol=proto, target_port=target, published_port=published, publish_mode=mode
    )


def test_vxlan_from_4096_unique_and_released() -> None:
    v = VXLANAllocator()
    assert [v.allocate(f"n{i}") for i in range(3)] == [4096, 4097, 4098]
    assert v.allocate("n1") == 4097  # same network, same ID
    v.release(4097)
    assert v.allocate("n9") == 4097
    with pytest.raises(InvalidVXLANID, match="already used by network n0"):
        v.claim("x", VXLAN_FIRST)
    with pytest.raises(InvalidVXLANID, match="outside 4096-16777215"):
        v.claim("x", 100)


def test_vxlan_exhausted() -> None:
    v = VXLANAllocator(first=4096, last=4097)
    v.allocate("a")
    v.allocate("b")
    with pytest.raises(VXLANExhausted, match="no free VXLAN ID"):
        v.allocate("c")


def test_explicit_and_dynamic_ports() -> None:
    ports = PortAllocator()
    got = ports.allocate("s1", "web", [port(80, 8080), port(443), port(53, proto=UDP)])
    assert [p.published_port for p in got] == [8080, 30000, 30000]  # per protocol
    got2 = ports.allocate("s2", "api", [port(80)])
    assert got2[0].published_port == 30001


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ([port(80, 8080)], "port 8080/tcp is already in use by service web"),
        ([port(81, 30000)], "port 30000/tcp is already in use by service web"),
        ([port(1, 9000), port(2, 9000)], "port 9000/tcp is published twice by service api"),
        ([port(80, 70000)], "published port 70000 is outside 1-65535"),
        ([port(0, 9000)], "target port 0 is outside 1-65535"),
    ],
)
def test_port_conflicts(second: list[PortConfig], message: str) -> None:
    ports = PortAllocator()
    ports.allocate("s1", "web", [port(80, 8080), port(81)])
    before = ports.allocated
    with pytest.raises((PortConflict, InvalidPort), match=message):
        ports.allocate("s2", "api", second)
    assert ports.allocated == before  # all or nothing


def test_same_port_other_protocol_and_host_mode_do_not_conflict() -> None:
    ports = PortAllocator()
    ports.allocate("s1", "web", [port(80, 8080)])
    assert ports.allocate("s2", "dns", [port(53, 8080, UDP)])[0].published_port == 8080
    host = ports.allocate("s3", "h", [port(80, 8080, host=True), port(81, host=True)])
    assert [p.published_port for p in host] == [8080, 0]  # host mode: not ours to pick


def test_update_keeps_dynamic_ports_and_frees_dropped_ones() -> None:
    ports = PortAllocator()
    ports.allocate("s0", "other", [port(1)])  # 30000
    first = ports.allocate("s1", "web", [port(80), port(443, 8443)])
    assert first[0].published_port == 30001
    again = ports.allocate("s1", "web", [port(80), port(22)], current=first)
    assert [p.published_port for p in again] == [30001, 30002]
    assert ports.allocate("s2", "x", [port(1, 8443)])[0].published_port == 8443  # freed
    ports.release("s1")
    assert ports.allocate("s3", "y", [port(1)])[0].published_port == 30001


def test_ports_exhausted() -> None:
    ports = PortAllocator(first=30000, last=30001)
    ports.allocate("s1", "web", [port(1), port(2)])
    with pytest.raises(PortsExhausted, match="no free tcp port left in 30000-30001"):
        ports.allocate("s2", "api", [port(3)])
