"""The filter pipeline, wired in one place, and the explanation of a refusal.

task ─▶ Pipeline.checklist(task): the filters that apply to this task
             │
node ─▶ ready ─▶ memory ─▶ cpu ─▶ max-replicas ─▶ platform ─▶ constraints ─▶ host ports ─▶ ok
          │        │        │          │              │             │              │
          └────────┴────────┴──── the first refusal is the one counted and explained ┘
"""

from __future__ import annotations

from collections.abc import Iterable

from manager.scheduler.filters import (
    ConstraintFilter,
    CPUFilter,
    Filter,
    HostPortFilter,
    MaxReplicasFilter,
    MemoryFilter,
    PlatformFilter,
    ReadyFilter,
)
from manager.scheduler.nodeinfo import NodeInfo
from manager.store import Task

NO_SUITABLE_NODE = "no suitable node"


def no_suitable_node(explanation: str) -> str:
    """The message `service ps` shows: "no suitable node (3 nodes not available for new tasks;
    1 node has insufficient memory)"."""
    return f"{NO_SUITABLE_NODE} ({explanation})" if explanation else NO_SUITABLE_NODE


class Pipeline:
    def __init__(self) -> None:
        # Cheapest first: most refusals are decided by a couple of attribute reads.
        self.filters: tuple[Filter, ...] = (
            ReadyFilter(),
            MemoryFilter(),
            CPUFilter(),
            MaxReplicasFilter(),
            PlatformFilter(),
            ConstraintFilter(),
            HostPortFilter(),
        )

    def checklist(self, task: Task) -> Checklist:
        return Checklist(task, tuple(f for f in self.filters if f.applies(task)))


class Checklist:
    """The pipeline set up for one task (and every task with the same spec)."""

    def __init__(self, task: Task, filters: tuple[Filter, ...]) -> None:
        self.task = task
        self.filters = filters

    def refusal(self, info: NodeInfo) -> Filter | None:
        """The first filter that refuses the node, or None if the task can run there."""
        for f in self.filters:
            if not f.check(self.task, info):
                return f
        return None

    def passes(self, info: NodeInfo) -> bool:
        return self.refusal(info) is None

    def explain(self, infos: Iterable[NodeInfo]) -> str:
        """Why the task runs on none of `infos`: each node counted once, under the first
        filter that refuses it, most frequent reason first."""
        counts = {id(f): 0 for f in self.filters}
        for info in infos:
            f = self.refusal(info)
            if f is not None:
                counts[id(f)] += 1
        order = sorted(
            (f for f in self.filters if counts[id(f)]),
            key=lambda f: -counts[id(f)],  # stable: ties keep pipeline order
        )
        return "; ".join(f.explain(counts[id(f)]) for f in order)
