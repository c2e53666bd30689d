"""Random allocate/release sequences: an address is never handed out twice, never outside the
subnet (or ip-range), never the network, broadcast or gateway address."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from hypothesis import given, settings
from hypothesis import strategies as st

from manager.allocator import AddressesExhausted, AddressSpace, PoolExhausted, SubnetPool

steps = st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=1000)), max_size=80)


@st.composite
def spaces(draw: st.DrawFn) -> AddressSpace:
    prefix = draw(st.integers(min_value=24, max_value=30))
    subnet = IPv4Network((0x0A000000, prefix))
    hosts = list(subnet.hosts())
    gateway = draw(st.sampled_from(hosts)) if draw(st.booleans()) else None
    ip_range = None
    if draw(st.booleans()):
        rprefix = draw(st.integers(min_value=prefix, max_value=32))
        ip_range = draw(st.sampled_from(list(subnet.subnets(new_prefix=rprefix))))
    return AddressSpace("net", subnet, gateway, ip_range)


@settings(max_examples=200, deadline=None)
@given(space=spaces(), ops=steps)
def test_addresses_unique_and_usable(space: AddressSpace, ops: list[tuple[bool, int]]) -> None:
    held: list[IPv4Address] = []
    usable_in_range = {
        a
        for a in space._range
        if a in space.subnet
        and a not in (space.subnet.network_address, space.subnet.broadcast_address, space.gateway)
    }
    for n, (alloc, pick) in enumerate(ops):
        if alloc or not held:
            try:
                addr = space.allocate(f"t{n}")
            except AddressesExhausted:
                assert set(held) == usable_in_range  # only when truly full
                continue
            assert addr not in held
            assert addr in usable_in_range
            held.append(addr)
        else:
            space.release(held.pop(pick % len(held)))
        assert set(space.allocated) == {*held, space.gateway}


@settings(max_examples=100, deadline=None)
@given(
    reserved=st.lists(
        st.tuples(st.integers(min_value=0, max_value=255), st.integers(min_value=16, max_value=26)),
        max_size=6,
    ),
    ops=steps,
)
def test_pool_never_overlaps(reserved: list[tuple[int, int]], ops: list[tuple[bool, int]]) -> None:
    routes = [IPv4Network((0x0A000000 + (b << 8), p), strict=False) for b, p in reserved]
    pool = SubnetPool(["10.0.0.0/16"], 24, [str(r) for r in routes])
    owners: list[str] = []
    for n, (alloc, pick) in enumerate(ops):
        if alloc or not owners:
            try:
                got = pool.allocate(f"n{n}")
            except PoolExhausted:
                free = [
                    c
                    for c in IPv4Network("10.0.0.0/16").subnets(new_prefix=24)
                    if not any(c.overlaps(x) for x in [*routes, *pool.claimed.values()])
                ]
                assert free == []  # only when truly full
                continue
            owners.append(f"n{n}")
            assert got.prefixlen == 24 and got.subnet_of(IPv4Network("10.0.0.0/16"))
            assert not any(got.overlaps(r) for r in routes)
        else:
            pool.release(owners.pop(pick % len(owners)))
        claimed = list(pool.claimed.values())
        assert all(not a.overlaps(b) for i, a in enumerate(claimed) for b in claimed[i + 1 :])
