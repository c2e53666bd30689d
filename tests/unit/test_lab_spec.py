"""The lab's pure parts: addressing, names, partition rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster_examples.lab.network import partition_rules
from cluster_examples.lab.sh import LabError
from cluster_examples.lab.spec import LabState, node_address, node_index, parse_subnet, registry_ip


@pytest.mark.parametrize(
    ("subnet", "node", "address"),
    [("172.31.0.0/24", "n1", "172.31.0.1"), ("172.31.0.0/24", "n12", "172.31.0.12"),
     ("192.168.77.0/28", "n3", "192.168.77.3")],
)  # fmt: skip
def test_node_k_gets_host_k_of_the_subnet(subnet: str, node: str, address: str) -> None:
    assert str(node_address(subnet, node)) == address


def test_registry_sits_on_the_last_host_address() -> None:
    assert str(registry_ip("172.31.0.0/24")) == "172.31.0.254"
    state = LabState(subnet="172.31.0.0/24", nodes=["n1"], managers=1)
    assert state.registry_address() == "172.31.0.254:5000"


@pytest.mark.parametrize(
    ("subnet", "nodes", "message"),
    [
        ("10.1.0.0/24", 3, "overlaps shoal's overlay pool 10.0.0.0/8"),
        ("172.31.0.0/29", 6, "has room for 5 nodes, not 6"),
        ("not-a-net", 1, "is not an IPv4 network"),
    ],
)
def test_bad_subnets_are_refused_with_a_reason(subnet: str, nodes: int, message: str) -> None:
    with pytest.raises(LabError, match=message):
        parse_subnet(subnet, nodes)


@pytest.mark.parametrize("name", ["n0", "node1", "n", "N1", "n01"])
def test_node_names_are_n1_to_nn(name: str) -> None:
    with pytest.raises(LabError, match="nodes are named n1, n2"):
        node_index(name)


def test_unknown_node_error_lists_the_nodes() -> None:
    state = LabState(subnet="172.31.0.0/24", nodes=["n1", "n2"], managers=1)
    with pytest.raises(LabError, match="no node 'n5' in this lab; its nodes are n1, n2"):
        state.check_node("n5")


def test_each_partition_group_is_cut_off_both_ways() -> None:
    rules = partition_rules([["n1"], ["n2", "n3"]])
    assert 'iifname { "shoal-n1" } oifname != { "shoal-n1" } drop' in rules
    assert 'oifname { "shoal-n1" } iifname != { "shoal-n1" } drop' in rules
    assert 'iifname { "shoal-n2", "shoal-n3" } oifname != { "shoal-n2", "shoal-n3" } drop' in rules
    assert rules.count(" drop") == 4


def test_lab_state_round_trips_through_its_file(tmp_path: Path) -> None:
    d = tmp_path
    state = LabState(subnet="172.31.0.0/24", nodes=["n1"], managers=1, engine_pids={"n1": 42})
    state.save(d)
    assert LabState.load(d) == state
    (d / "lab.json").write_text("{broken")
    with pytest.raises(LabError, match="run 'shoal-lab down' to clear it"):
        LabState.load(d)
