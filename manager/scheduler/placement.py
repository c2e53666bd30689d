"""Batch placement: a snapshot of nodes and tasks plus the pending tasks in, a plan out.

Pure: no store, no clock, no I/O. The loop (scheduler.py) writes the plan.

    pending ─▶ preassigned (node already named, e.g. global): check that one node
            └▶ groups of tasks with the same service, spec version and spec:
                 checklist = Pipeline.checklist(first task of the group)
                 tree      = build_tree(nodes, spread preferences)    (spread.py)
                 tree.place(len(group)) ─▶ Decision(task, node) per task placed
                 the rest ─▶ Refusal(task, "no suitable node (...)")

Tasks placed earlier in the batch count on their nodes for the tasks placed after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from manager.allocator.rules import awaits_allocation
from manager.scheduler.constraint import parse_constraints
from manager.scheduler.errors import SchedulerError
from manager.scheduler.nodeinfo import NodeInfo, holds_resources, should_run
from manager.scheduler.pipeline import Pipeline, no_suitable_node
from manager.scheduler.spread import build_tree, spread_descriptor
from manager.store import Node, Placement, ReadTx, Task, TaskState


@dataclass(frozen=True, slots=True)
class Decision:
    task_id: str
    node_id: str


@dataclass(frozen=True, slots=True)
class Refusal:
    task_id: str
    reason: str  # for status.err: "no suitable node (...)"


@dataclass(slots=True)
class Plan:
    decisions: list[Decision] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What placement reads: every node, and the tasks (those on nodes count there)."""

    nodes: Sequence[Node]
    tasks: Sequence[Task]

    @classmethod
    def of(cls, view: ReadTx) -> Snapshot:
        return cls(view.all(Node), view.all(Task))


def wants_node(task: Task) -> bool:
    """A task the scheduler has to place (or, with a node already named, confirm). Not one
    that needs network attachments (its spec names networks, or its endpoint publishes an
    ingress port) before the allocator wrote them: it would start unreachable."""
    return (
        task.status.state is TaskState.PENDING and should_run(task) and not awaits_allocation(task)
    )


def validate_placement(placement: Placement) -> None:
    """What `service create` calls: raises ConstraintError / PreferenceError up front."""
    parse_constraints(placement.constraints)
    for preference in placement.preferences:
        spread_descriptor(preference)


def node_infos(snapshot: Snapshot) -> dict[str, NodeInfo]:
    """NodeInfo per node, in node id order (ties in ranking fall to the lowest id)."""
    infos = {n.id: NodeInfo.of(n) for n in sorted(snapshot.nodes, key=lambda n: n.id)}
    for task in snapshot.tasks:
        if holds_resources(task):
            info = infos.get(task.node_id)
            if info is not None:
                info.add_task(task)
    return infos


def schedule(snapshot: Snapshot, pending: Iterable[Task], pipeline: Pipeline | None = None) -> Plan:
    """Place `pending` tasks (those for which `wants_node` holds) on the snapshot's nodes."""
    pipeline = pipeline or Pipeline()
    infos = node_infos(snapshot)
    plan = Plan()
    preassigned = []
    groups: dict[tuple[str, int], list[list[Task]]] = {}
    for task in pending:
        if task.node_id:
            preassigned.append(task)
        else:
            _add_to_group(groups, task)
    # Preassigned tasks first (swarmkit does too): a global service's task can go nowhere else.
    for task in preassigned:
        _confirm(task, infos, pipeline, plan)
    for subgroups in groups.values():
        for group in subgroups:
            _place_group(group, infos, pipeline, plan)
    return plan


def _add_to_group(groups: dict[tuple[str, int], list[list[Task]]], task: Task) -> None:
    # Tasks made from the same service spec version normally have equal specs; comparing
    # keeps tasks whose spec differs anyway (hand-made, or an endpoint changed) apart.
    subgroups = groups.setdefault((task.service_id, task.spec_version), [])
    for group in subgroups:
        first = group[0]
        if first.spec == task.spec and first.endpoint == task.endpoint:
            group.append(task)
            return
    subgroups.append([task])


def _confirm(task: Task, infos: dict[str, NodeInfo], pipeline: Pipeline, plan: Plan) -> None:
    info = infos.get(task.node_id)
    if info is None:
        plan.refusals.append(Refusal(task.id, no_suitable_node(f"node {task.node_id} is gone")))
        return
    checklist = pipeline.checklist(task)
    if checklist.passes(info):
        info.add_task(task)
        plan.decisions.append(Decision(task.id, info.id))
    else:
        plan.refusals.append(Refusal(task.id, no_suitable_node(checklist.explain([info]))))


def _place_group(
    group: list[Task], infos: dict[str, NodeInfo], pipeline: Pipeline, plan: Plan
) -> None:
    first = group[0]
    try:
        validate_placement(first.spec.placement)
    except SchedulerError as e:
        plan.refusals.extend(Refusal(t.id, str(e)) for t in group)
        return
    checklist = pipeline.checklist(first)
    descriptors = [spread_descriptor(p) for p in first.spec.placement.preferences]
    tree = build_tree(infos.values(), descriptors, first.service_id)
    queue = iter(group)

    def assign(info: NodeInfo) -> None:
        task = next(queue)
        info.add_task(task)
        plan.decisions.append(Decision(task.id, info.id))

    placed = tree.place(len(group), checklist.passes, assign, first.service_id)
    if placed < len(group):
        reason = no_suitable_node(checklist.explain(infos.values()))
        plan.refusals.extend(Refusal(t.id, reason) for t in group[placed:])
