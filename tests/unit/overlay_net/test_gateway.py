"""The gateway bridge's pure parts: the subnet it picks and its address table."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

import pytest

from overlay_net.gateway import CANDIDATES, GatewayFull, GatewayTable, choose_subnet
from overlay_net.netns import NetnsError


def nets(*cidrs: str) -> list[IPv4Network]:
    return [IPv4Network(c) for c in cidrs]


@pytest.mark.parametrize(
    ("routes", "chosen"),
    [
        ([], "172.18.0.0/16"),
        (["0.0.0.0/0", "192.168.1.0/24"], "172.18.0.0/16"),  # a default route does not count
        (["172.18.5.0/24"], "172.19.0.0/16"),  # a route inside the first candidate
        (["172.16.0.0/12"], None),  # one route covering every candidate
        (["172.18.0.0/16", "172.19.0.0/16", "172.20.0.1/32"], "172.21.0.0/16"),
        (["172.17.0.0/16", "172.31.0.0/16", "10.0.0.0/8"], "172.18.0.0/16"),  # neighbours
        ([f"172.{n}.0.0/16" for n in range(18, 30)], "172.30.0.0/16"),  # the last one left
    ],
)
def test_choose_subnet_avoids_every_route(routes: list[str], chosen: str | None) -> None:
    if chosen is None:
        with pytest.raises(NetnsError, match="overlaps a route of this host; free one"):
            choose_subnet(nets(*routes))
    else:
        assert choose_subnet(nets(*routes)) == IPv4Network(chosen)


def test_a_saved_subnet_comes_first_while_it_is_free() -> None:
    saved = IPv4Network("172.25.0.0/16")
    assert choose_subnet([], [saved, *CANDIDATES]) == saved
    assert choose_subnet(nets("172.25.1.0/24"), [saved, *CANDIDATES]) == IPv4Network(
        "172.18.0.0/16"
    )


def test_addresses_start_after_the_gateway_and_reuse_the_lowest_free() -> None:
    table = GatewayTable(IPv4Network("172.18.0.0/16"))
    assert str(table.gateway) == "172.18.0.1"
    assert str(table.allocate("a")) == "172.18.0.2/16"
    assert str(table.allocate("b")) == "172.18.0.3/16"
    assert str(table.allocate("a")) == "172.18.0.2/16"  # a key keeps its address
    table.release("a")
    table.release("never-there")
    assert str(table.allocate("c")) == "172.18.0.2/16"
    assert str(table.allocate("d")) == "172.18.0.4/16"


def test_a_full_subnet_is_refused() -> None:
    table = GatewayTable(IPv4Network("172.18.0.0/30"))  # hosts .1 (gateway) and .2
    assert str(table.allocate("a")) == "172.18.0.2/30"
    with pytest.raises(GatewayFull, match=r"172\.18\.0\.0/30 has no free address"):
        table.allocate("b")


def test_table_round_trips_through_json() -> None:
    table = GatewayTable(IPv4Network("172.19.0.0/16"))
    table.allocate("task-b")
    table.allocate("task-a")
    text = table.dumps()
    assert text == (
        '{\n "subnet": "172.19.0.0/16",\n "addresses": {\n'
        '  "task-a": "172.19.0.3/16",\n  "task-b": "172.19.0.2/16"\n }\n}\n'
    )
    again = GatewayTable.loads(text)
    assert again == table
    assert again.addresses["task-a"] == IPv4Interface("172.19.0.3/16")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"subnet": "172.19.0.0/16"}',
        '{"subnet": "nonsense", "addresses": {}}',
        '{"subnet": "172.19.0.0/16", "addresses": {"a": "bad"}}',
        '{"subnet": "172.19.0.0/16", "addresses": {"a": "10.0.0.2/8"}}',  # outside the subnet
        '{"subnet": "172.19.0.0/16", "addresses": ["172.19.0.2/16"]}',
    ],
)
def test_anything_else_is_not_a_table(text: str) -> None:
    with pytest.raises(ValueError, match="not a gateway table"):
        GatewayTable.loads(text)
