"""Batch placement: ranking, spread preferences, preassigned tasks, why-not messages."""

from __future__ import annotations

from collections import Counter

import pytest

from manager.scheduler import (
    ConstraintError,
    Decision,
    PreferenceError,
    Refusal,
    Snapshot,
    schedule,
    validate_placement,
)
from manager.scheduler.spread import water_fill
from manager.store import Node, NodeAvailability, NodeState, Placement, PlacementPreference, Task
from tests.unit.scheduler.helpers import GB, host_port, node, running, spec, task


def per_node(decisions: list[Decision]) -> dict[str, int]:
    return dict(Counter(d.node_id for d in decisions))


def pending(n: int, service: str = "svc", **kwargs: object) -> list[Task]:
    return [task(f"{service}-{i:03d}", service, slot=i + 1, **kwargs) for i in range(n)]  # type: ignore[arg-type]


def test_spreads_a_service_evenly_over_equal_nodes() -> None:
    plan = schedule(Snapshot([node("n1"), node("n2"), node("n3")], []), pending(6))
    assert per_node(plan.decisions) == {"n1": 2, "n2": 2, "n3": 2}
    assert plan.refusals == []


def test_prefers_nodes_with_fewer_tasks_of_the_service_then_fewer_tasks_in_total() -> None:
    existing = [
        running("a1", "n1"),  # n1 already runs one task of svc
        running("b1", "n2", "other"),  # n2 runs two tasks of another service
        running("b2", "n2", "other"),
        running("b3", "n3", "other"),  # n3 runs one
    ]
    nodes = [node("n1"), node("n2"), node("n3")]
    plan = schedule(Snapshot(nodes, existing), pending(2))
    # svc counts 1/0/0 -> n2 and n3 first; among those, n3 (1 task in total) before n2 (2)
    assert [d.node_id for d in plan.decisions] == ["n3", "n2"]


def test_ties_go_to_the_lowest_node_id() -> None:
    plan = schedule(Snapshot([node("b"), node("c"), node("a")], []), pending(1))
    assert plan.decisions == [Decision("svc-000", "a")]


def test_tasks_placed_earlier_in_the_batch_count_for_later_groups() -> None:
    plan = schedule(Snapshot([node("n1"), node("n2")], []), [*pending(1, "web"), *pending(1, "db")])
    assert per_node(plan.decisions) == {"n1": 1, "n2": 1}


def test_never_on_drained_paused_or_down_nodes() -> None:
    nodes = [
        node("n1", availability=NodeAvailability.DRAIN),
        node("n2", availability=NodeAvailability.PAUSE),
        node("n3", state=NodeState.DOWN),
        node("n4"),
    ]
    plan = schedule(Snapshot(nodes, []), pending(3))
    assert per_node(plan.decisions) == {"n4": 3}


def test_reservations_fill_nodes_then_the_rest_say_why() -> None:
    nodes = [node("n1", memory=4 * GB), node("n2", memory=2 * GB), node("n3", state=NodeState.DOWN)]
    plan = schedule(Snapshot(nodes, []), pending(5, task_spec=spec(memory=2 * GB)))
    assert per_node(plan.decisions) == {"n1": 2, "n2": 1}
    reason = (
        "no suitable node (2 nodes have insufficient memory; 1 node not available for new tasks)"
    )
    assert plan.refusals == [Refusal("svc-003", reason), Refusal("svc-004", reason)]


def test_max_replicas_per_node() -> None:
    plan = schedule(
        Snapshot([node("n1"), node("n2")], [running("a", "n1")]),
        pending(4, task_spec=spec(max_replicas=2)),
    )
    assert per_node(plan.decisions) == {"n2": 2, "n1": 1}
    assert [r.reason for r in plan.refusals] == [
        "no suitable node (max replicas per node reached on 2 nodes)"
    ]


def test_host_ports_conflict_with_tasks_on_the_node_and_within_the_batch() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    existing = [running("o", "n1", "other", endpoint=host_port(80))]
    plan = schedule(Snapshot(nodes, existing), pending(3, endpoint=host_port(80)))
    assert per_node(plan.decisions) == {"n2": 1, "n3": 1}
    assert [r.reason for r in plan.refusals] == [
        "no suitable node (host-mode port already in use on 3 nodes)"
    ]


def test_constraints() -> None:
    nodes = [node("n1", labels={"zone": "a"}), node("n2", labels={"zone": "b"}), node("n3")]
    plan = schedule(
        Snapshot(nodes, []), pending(2, task_spec=spec(constraints=("node.labels.zone==a",)))
    )
    assert per_node(plan.decisions) == {"n1": 2}


def test_no_nodes_at_all() -> None:
    plan = schedule(Snapshot([], []), pending(1))
    assert plan.refusals == [Refusal("svc-000", "no suitable node")]


def test_a_constraint_that_does_not_parse_is_the_reason() -> None:
    plan = schedule(Snapshot([node("n1")], []), pending(1, task_spec=spec(constraints=("x",))))
    assert plan.refusals == [
        Refusal("svc-000", "invalid constraint 'x': expected KEY==VALUE or KEY!=VALUE")
    ]


# -- preassigned (global) tasks --------------------------------------------------------------


def test_a_preassigned_task_is_confirmed_on_its_node_when_it_fits() -> None:
    nodes = [node("n1"), node("n2", memory=GB)]
    tasks = [
        task("g1", "global", node_id="n1", task_spec=spec(memory=2 * GB)),
        task("g2", "global", node_id="n2", task_spec=spec(memory=2 * GB)),
        task("g3", "global", node_id="gone"),
    ]
    plan = schedule(Snapshot(nodes, []), tasks)
    assert plan.decisions == [Decision("g1", "n1")]
    assert plan.refusals == [
        Refusal("g2", "no suitable node (1 node has insufficient memory)"),
        Refusal("g3", "no suitable node (node gone is gone)"),
    ]


def test_preassigned_tasks_go_first() -> None:
    nodes = [node("n1", memory=2 * GB)]
    tasks = [
        task("r1", "replicated", task_spec=spec(memory=2 * GB)),
        task("g1", "global", node_id="n1", task_spec=spec(memory=2 * GB)),
    ]
    plan = schedule(Snapshot(nodes, []), tasks)
    assert plan.decisions == [Decision("g1", "n1")]
    assert [r.task_id for r in plan.refusals] == ["r1"]


# -- spread preferences ----------------------------------------------------------------------


def zones(*spec_: tuple[str, str, str]) -> list[Node]:
    return [node(i, labels={"zone": z, "rack": r}) for i, z, r in spec_]


def test_spread_over_a_label_evens_out_zones_not_nodes() -> None:
    nodes = zones(("a1", "a", "1"), ("a2", "a", "1"), ("a3", "a", "2"), ("b1", "b", "1"))
    plan = schedule(Snapshot(nodes, []), pending(6, task_spec=spec(spread=("node.labels.zone",))))
    counts = per_node(plan.decisions)
    assert counts["b1"] == 3  # zone b has one node: it takes half
    assert sum(counts[n] for n in ("a1", "a2", "a3")) == 3


def test_spread_counts_tasks_already_in_a_zone() -> None:
    nodes = zones(("a1", "a", "1"), ("b1", "b", "1"), ("c1", "c", "1"))
    existing = [running("x1", "a1"), running("x2", "a1"), running("x3", "b1")]
    plan = schedule(
        Snapshot(nodes, existing), pending(3, task_spec=spec(spread=("node.labels.zone",)))
    )
    # totals become 2/2/2: c gets two, b one, a none
    assert per_node(plan.decisions) == {"c1": 2, "b1": 1}


def test_nodes_without_the_label_form_their_own_branch() -> None:
    nodes = [node("a1", labels={"zone": "a"}), node("x1"), node("x2")]
    plan = schedule(Snapshot(nodes, []), pending(4, task_spec=spec(spread=("node.labels.zone",))))
    counts = per_node(plan.decisions)
    assert counts["a1"] == 2
    assert counts["x1"] + counts["x2"] == 2


def test_nested_preferences() -> None:
    nodes = zones(
        ("a1", "a", "1"), ("a2", "a", "1"), ("a3", "a", "2"), ("b1", "b", "1"), ("b2", "b", "2")
    )
    prefs = ("node.labels.zone", "node.labels.rack")
    plan = schedule(Snapshot(nodes, []), pending(8, task_spec=spec(spread=prefs)))
    counts = per_node(plan.decisions)
    assert counts == {"a1": 1, "a2": 1, "a3": 2, "b1": 2, "b2": 2}


def test_a_full_zone_leaves_its_share_to_the_others() -> None:
    nodes = [
        node("a1", labels={"zone": "a"}, memory=GB),
        node("b1", labels={"zone": "b"}),
        node("c1", labels={"zone": "c"}),
    ]
    plan = schedule(
        Snapshot(nodes, []),
        pending(6, task_spec=spec(memory=GB, spread=("node.labels.zone",))),
    )
    assert per_node(plan.decisions) == {"a1": 1, "b1": 3, "c1": 2}
    assert plan.refusals == []


def test_spread_over_engine_labels() -> None:
    nodes = [
        node("n1", engine_labels={"disk": "ssd"}),
        node("n2", engine_labels={"disk": "ssd"}),
        node("n3", engine_labels={"disk": "hdd"}),
    ]
    plan = schedule(Snapshot(nodes, []), pending(2, task_spec=spec(spread=("engine.labels.disk",))))
    assert per_node(plan.decisions) == {"n1": 1, "n3": 1}


@pytest.mark.parametrize(
    ("counts", "n", "quotas"),
    [
        ([0, 0, 0], 6, [2, 2, 2]),
        ([0, 0, 0], 4, [2, 1, 1]),
        ([3, 0, 1], 4, [0, 3, 1]),
        ([5, 0], 2, [0, 2]),
        ([], 0, []),
    ],
)
def test_water_fill(counts: list[int], n: int, quotas: list[int]) -> None:
    assert water_fill(counts, n) == quotas


@pytest.mark.parametrize(
    ("placement", "error"),
    [
        (Placement(constraints=("node.role=manager",)), ConstraintError),
        (Placement(preferences=(PlacementPreference(spread="zone"),)), PreferenceError),
        (Placement(preferences=(PlacementPreference(spread="node.labels."),)), PreferenceError),
    ],
)
def test_validate_placement_for_service_create(placement: Placement, error: type) -> None:
    with pytest.raises(error):
        validate_placement(placement)
    validate_placement(
        Placement(
            constraints=("node.role==manager",),
            preferences=(PlacementPreference(spread="node.labels.zone"),),
        )
    )
