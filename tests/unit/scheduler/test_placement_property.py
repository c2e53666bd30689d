"""Properties of batch placement over random clusters and random pending tasks."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from manager.scheduler import Snapshot, schedule
from manager.store import Node, NodeAvailability, NodeState, Task
from tests.unit.scheduler.helpers import GB, node, spec, task

states = st.sampled_from([NodeState.READY, NodeState.READY, NodeState.DOWN, NodeState.UNKNOWN])
availabilities = st.sampled_from(
    [
        NodeAvailability.ACTIVE,
        NodeAvailability.ACTIVE,
        NodeAvailability.DRAIN,
        NodeAvailability.PAUSE,
    ]
)


@st.composite
def clusters(draw: st.DrawFn) -> list[Node]:
    count = draw(st.integers(0, 8))
    return [
        node(
            f"n{i}",
            state=draw(states),
            availability=draw(availabilities),
            cpus=draw(st.sampled_from([1, 2, 4])),
            memory=draw(st.sampled_from([1, 2, 4])) * GB,
        )
        for i in range(count)
    ]


@st.composite
def services(draw: st.DrawFn) -> list[Task]:
    tasks: list[Task] = []
    for s in range(draw(st.integers(1, 3))):
        task_spec = spec(
            cpus=draw(st.sampled_from([0, 0.5, 1])),
            memory=draw(st.sampled_from([0, GB // 2, GB])),
            max_replicas=draw(st.integers(0, 3)),
        )
        replicas = draw(st.integers(0, 20))
        tasks += [task(f"s{s}-{i}", f"s{s}", task_spec=task_spec) for i in range(replicas)]
    return tasks


@settings(max_examples=300, deadline=None)
@given(clusters(), services())
def test_placement_invariants(nodes: list[Node], pending: list[Task]) -> None:
    plan = schedule(Snapshot(nodes, []), pending)
    by_id = {t.id: t for t in pending}
    by_node = {n.id: n for n in nodes}

    # every task gets exactly one answer
    answered = [d.task_id for d in plan.decisions] + [r.task_id for r in plan.refusals]
    assert sorted(answered) == sorted(by_id)

    cpus: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    per_service: dict[str, Counter[str]] = defaultdict(Counter)
    for d in plan.decisions:
        n = by_node[d.node_id]
        t = by_id[d.task_id]
        # never on a drained, paused or down node
        assert n.status.state is NodeState.READY
        assert n.spec.availability is NodeAvailability.ACTIVE
        cpus[n.id] += t.spec.resources.reservations.nano_cpus
        memory[n.id] += t.spec.resources.reservations.memory_bytes
        per_service[t.service_id][n.id] += 1
    for n in nodes:  # reservations never exceed the node's resources
        assert cpus[n.id] <= n.description.resources.nano_cpus
        assert memory[n.id] <= n.description.resources.memory_bytes
    for service_id, counts in per_service.items():
        limit = next(t for t in pending if t.service_id == service_id).spec.placement.max_replicas
        if limit:
            assert max(counts.values()) <= limit
    # a task is refused only if no node could take one more task of its service
    for r in plan.refusals:
        assert r.reason.startswith("no suitable node")
        t = by_id[r.task_id]
        want = t.spec.resources.reservations
        limit = t.spec.placement.max_replicas
        for n in nodes:
            fits = (
                n.status.state is NodeState.READY
                and n.spec.availability is NodeAvailability.ACTIVE
                and cpus[n.id] + want.nano_cpus <= n.description.resources.nano_cpus
                and memory[n.id] + want.memory_bytes <= n.description.resources.memory_bytes
                and (not limit or per_service[t.service_id][n.id] < limit)
            )
            assert not fits, f"{r.task_id} refused but fits on {n.id}"


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(0, 60))
def test_tasks_spread_evenly_when_nothing_else_differs(node_count: int, replicas: int) -> None:
    nodes = [node(f"n{i:02d}") for i in range(node_count)]
    plan = schedule(Snapshot(nodes, []), [task(f"t{i}") for i in range(replicas)])
    counts = Counter(d.node_id for d in plan.decisions)
    loads = [counts[n.id] for n in nodes]
    assert sum(loads) == replicas
    assert max(loads) - min(loads) <= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", ""]), min_size=1, max_size=10), st.integers(0, 40))
def test_spread_preference_evens_out_label_values(zones: list[str], replicas: int) -> None:
    nodes = [node(f"n{i:02d}", labels={"zone": z} if z else {}) for i, z in enumerate(zones)]
    task_spec = spec(spread=("node.labels.zone",))
    plan = schedule(
        Snapshot(nodes, []), [task(f"t{i}", task_spec=task_spec) for i in range(replicas)]
    )
    zone_of = {n.id: n.spec.labels.get("zone", "") for n in nodes}
    counts = Counter(zone_of[d.node_id] for d in plan.decisions)
    loads = [counts[z] for z in set(zones)]
    assert sum(loads) == replicas
    assert max(loads) - min(loads) <= 1
    assert not plan.refusals
