"""Constraint parsing (table) and matching against nodes (table)."""

from __future__ import annotations

import pytest

from manager.scheduler import Constraint, ConstraintError, parse_constraint, parse_constraints
from manager.store import NodeRole
from tests.unit.scheduler.helpers import node


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("node.role==manager", Constraint("node.role", True, "manager")),
        ("node.role != worker", Constraint("node.role", False, "worker")),
        ("node.labels.zone==eu-1", Constraint("node.labels.zone", True, "eu-1")),
        ("NODE.Labels.Zone==a", Constraint("NODE.Labels.Zone", True, "a")),
        ("engine.labels.disk==ssd", Constraint("engine.labels.disk", True, "ssd")),
        ("node.hostname==n1", Constraint("node.hostname", True, "n1")),
        ("node.id!=abc123", Constraint("node.id", False, "abc123")),
        ("node.platform.os==linux", Constraint("node.platform.os", True, "linux")),
        ("node.platform.arch==x86_64", Constraint("node.platform.arch", True, "x86_64")),
    ],
)
def test_parse(text: str, expected: Constraint) -> None:
    assert parse_constraint(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("node.role", "expected KEY==VALUE or KEY!=VALUE"),
        ("node.role=manager", "expected KEY==VALUE or KEY!=VALUE"),
        ("node.rol==manager", "unknown key 'node.rol'; use one of node.id, node.hostname"),
        ("node.labels.==a", "unknown key 'node.labels.'"),
        ("==manager", "key '' is not a valid key"),
        ("node.role==", "value '' is empty"),
        ("node.labels.a==b==c", "value 'b==c' is empty or holds a character"),
        ("node.labels.a==<b", "holds a character like <"),
    ],
)
def test_parse_errors_say_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraint(text)
    assert info.value.constraint == text
    assert str(info.value).startswith(f"invalid constraint {text!r}: ")
    assert says in str(info.value)


def test_parse_constraints_raises_on_the_first_bad_one() -> None:
    with pytest.raises(ConstraintError, match=r"node\.bad"):
        parse_constraints(["node.role==manager", "node.bad==1"])
    assert parse_constraints(["node.role==manager"]) == (Constraint("node.role", True, "manager"),)


N1 = node(
    "n1",
    role=NodeRole.MANAGER,
    labels={"zone": "a", "Tier": "Web"},
    engine_labels={"disk": "ssd"},
    hostname="host-1",
    os="linux",
    arch="aarch64",
)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("node.id==n1", True),
        ("node.id!=n1", False),
        ("node.hostname==HOST-1", True),  # values compare case-insensitively
        ("node.role==manager", True),
        ("node.role==worker", False),
        ("node.role!=worker", True),
        ("node.platform.os==linux", True),
        ("node.platform.arch==aarch64", True),
        ("node.labels.zone==a", True),
        ("node.labels.zone==b", False),
        ("node.labels.zone!=b", True),
        ("node.labels.Tier==web", True),
        ("node.labels.tier==web", False),  # label names are exact: missing label is ""
        ("node.labels.tier!=web", True),
        ("node.labels.missing!=x", True),
        ("engine.labels.disk==ssd", True),
        ("engine.labels.disk==hdd", False),
        ("node.labels.disk==ssd", False),  # engine labels are not node labels
    ],
)
def test_match(text: str, matches: bool) -> None:
    assert parse_constraint(text).matches(N1) is matches
