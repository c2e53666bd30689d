from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

import pytest

from manager.allocator import (
    AddressesExhausted,
    AddressInUse,
    AddressSpace,
    InvalidIPAMConfig,
    PoolExhausted,
    SubnetOverlap,
    SubnetPool,
    mac_for,
    parse_ipam_config,
)


@pytest.mark.parametrize(
    ("subnet", "gateway", "ip_range", "message"),
    [
        ("", "10.1.0.1", "", "--gateway and --ip-range need --subnet"),
        ("10.1.0.0/33", "", "", "invalid subnet '10.1.0.0/33'"),
        ("10.1.0.1/24", "", "", "invalid subnet '10.1.0.1/24'"),  # host bits set
        ("fd00::/64", "", "", "only IPv4 is supported"),
        ("10.1.0.0/31", "", "", "subnet 10.1.0.0/31 is too small"),
        ("10.1.0.0/24", "10.2.0.1", "", "gateway 10.2.0.1 is not inside subnet 10.1.0.0/24"),
        ("10.1.0.0/24", "10.1.0.0", "", "gateway 10.1.0.0 is the network or broadcast"),
        ("10.1.0.0/24", "10.1.0.255", "", "gateway 10.1.0.255 is the network or broadcast"),
        ("10.1.0.0/24", "nope", "", "invalid gateway 'nope'"),
        ("10.1.0.0/24", "", "10.1.1.0/28", "ip-range 10.1.1.0/28 is not inside subnet"),
        ("10.1.0.0/24", "", "10.1.0.0/23", "ip-range 10.1.0.0/23 is not inside subnet"),
    ],
)
def test_invalid_ipam_config(subnet: str, gateway: str, ip_range: str, message: str) -> None:
    with pytest.raises(InvalidIPAMConfig, match=re.escape(message)):
        parse_ipam_config(subnet, gateway, ip_range)


def test_valid_ipam_config() -> None:
    cfg = parse_ipam_config("10.1.0.0/24", "10.1.0.254", "10.1.0.128/25")
    assert cfg.subnet == IPv4Network("10.1.0.0/24")
    assert cfg.gateway == IPv4Address("10.1.0.254")
    assert cfg.ip_range == IPv4Network("10.1.0.128/25")


def test_pool_carves_lowest_free_subnets() -> None:
    pool = SubnetPool()
    assert [str(pool.allocate(f"n{i}")) for i in range(3)] == [
        "10.0.0.0/24",
        "10.0.1.0/24",
        "10.0.2.0/24",
    ]
    pool.release("n1")
    assert str(pool.allocate("again")) == "10.0.1.0/24"


def test_pool_avoids_explicit_subnets_and_reserved_routes() -> None:
    pool = SubnetPool(reserved=["0.0.0.0/0", "10.0.0.0/23", "10.0.3.128/25"])
    pool.claim("mine", IPv4Network("10.0.2.0/24"))
    pool.claim("wide", IPv4Network("10.0.4.0/22"))
    got = pool.allocate("auto")
    assert str(got) == "10.0.8.0/24"  # /0 ignored; 0-1 routes, 2 taken, 3 half a route, 4-7 taken


def test_pool_uses_subnet_size_and_next_pool() -> None:
    pool = SubnetPool(["192.168.0.0/23", "172.20.0.0/16"], subnet_size=24)
    assert str(pool.allocate("a")) == "192.168.0.0/24"
    assert str(pool.allocate("b")) == "192.168.1.0/24"
    assert str(pool.allocate("c")) == "172.20.0.0/24"
    small = SubnetPool(["10.0.0.0/16"], subnet_size=28)
    assert str(small.allocate("a")) == "10.0.0.0/28"
    assert str(small.allocate("b")) == "10.0.0.16/28"


def test_pool_exhausted() -> None:
    pool = SubnetPool(["10.9.0.0/24"], subnet_size=25)
    pool.allocate("a")
    pool.allocate("b")
    with pytest.raises(PoolExhausted, match=r"no free /25 subnet left .*10\.9\.0\.0/24"):
        pool.allocate("c")


def test_pool_refuses_overlapping_explicit_subnet() -> None:
    pool = SubnetPool()
    pool.allocate("front")
    with pytest.raises(
        SubnetOverlap, match=re.escape("10.0.0.0/16 overlaps subnet 10.0.0.0/24 of network front")
    ):
        pool.claim("back", IPv4Network("10.0.0.0/16"))
    pool.claim("back", IPv4Network("10.0.1.0/24"))  # next to it is fine


def test_pool_rejects_bad_subnet_size() -> None:
    with pytest.raises(InvalidIPAMConfig, match="subnet size /8 does not fit"):
        SubnetPool(["10.0.0.0/16"], subnet_size=8)


def test_address_space_gateway_first_then_lowest() -> None:
    space = AddressSpace("front", IPv4Network("10.0.0.0/24"))
    assert space.gateway == IPv4Address("10.0.0.1")
    assert space.allocate("t1") == IPv4Address("10.0.0.2")
    assert space.allocate("t2") == IPv4Address("10.0.0.3")
    space.release(IPv4Address("10.0.0.2"))
    assert space.allocate("t3") == IPv4Address("10.0.0.2")


def test_address_space_ip_range_and_explicit_gateway() -> None:
    cfg = parse_ipam_config("10.1.0.0/24", "10.1.0.129", "10.1.0.128/30")
    space = AddressSpace.from_config("r", cfg)
    got = [space.allocate(f"t{i}") for i in range(2)]
    # .128 is the range's first address but a valid host of the subnet; .129 is the gateway
    assert got == [IPv4Address("10.1.0.128"), IPv4Address("10.1.0.130")]
    space.allocate("t2")
    with pytest.raises(AddressesExhausted):
        space.allocate("t3")


def test_exhaustion_message() -> None:
    space = AddressSpace("foo", IPv4Network("10.0.0.0/30"))  # .1 gateway, .2 the only one
    space.allocate("t1")
    with pytest.raises(AddressesExhausted) as e:
        space.allocate("t2")
    assert str(e.value) == "network foo has no free addresses"


def test_claim_conflicts() -> None:
    space = AddressSpace("foo", IPv4Network("10.0.0.0/24"))
    space.claim("t1", IPv4Address("10.0.0.9"))
    with pytest.raises(AddressInUse, match="in use by t1"):
        space.claim("t2", IPv4Address("10.0.0.9"))
    with pytest.raises(AddressInUse, match="not usable"):
        space.claim("t2", IPv4Address("10.0.0.255"))
    with pytest.raises(AddressInUse, match="in use by gateway"):
        space.claim("t2", IPv4Address("10.0.0.1"))
    space.release(IPv4Address("10.0.0.1"))  # the gateway stays
    assert space.allocated[IPv4Address("10.0.0.1")] == "gateway"


@pytest.mark.parametrize(
    ("addr", "mac"),
    [("10.0.0.2", "02:42:0a:00:00:02"), ("192.168.255.1", "02:42:c0:a8:ff:01")],
)
def test_mac_for(addr: str, mac: str) -> None:
    assert mac_for(IPv4Address(addr)) == mac
