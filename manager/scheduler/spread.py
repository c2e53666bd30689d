"""Ranking: placement preferences as a decision tree, then the least loaded node.

    --placement-pref spread=node.labels.zone --placement-pref spread=node.labels.rack

    root ──┬── zone=a (tasks 4) ──┬── rack=1 ── [n1, n2]   leaves hold the nodes; a leaf
           │                      └── rack=2 ── [n3]       hands out tasks least loaded
           └── zone=b (tasks 1) ───── rack=1 ── [n4, n5]   first: (tasks of this service,
                                                            tasks in total, node id)

At each level the tasks to place are split so that the branches' counts of this service's
tasks become as even as possible (water filling: the next task goes to the branch with the
fewest); a branch that cannot take its share (no node left that passes the filters) is full,
and what it could not take is split again among the others. Nodes without the label form
their own branch (value ""), like swarmkit's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence

from manager.scheduler.constraint import ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX
from manager.scheduler.errors import PreferenceError
from manager.scheduler.nodeinfo import NodeInfo
from manager.store import Node, PlacementPreference

Assign = Callable[[NodeInfo], None]  # give the next task of the group to this node
Eligible = Callable[[NodeInfo], bool]


def spread_descriptor(preference: PlacementPreference) -> tuple[bool, str]:
    """(engine label?, label name) of `spread=node.labels.X` / `spread=engine.labels.X`."""
    text = preference.spread.strip()
    lowered = text.lower()
    for prefix, engine in ((NODE_LABEL_PREFIX, False), (ENGINE_LABEL_PREFIX, True)):
        if lowered.startswith(prefix) and len(text) > len(prefix):
            return engine, text[len(prefix) :]
    raise PreferenceError(
        f"spread={text}", "spread over node.labels.<label> or engine.labels.<label>"
    )


def spread_value(node: Node, descriptor: tuple[bool, str]) -> str:
    engine, label = descriptor
    labels = node.description.engine.labels if engine else node.spec.labels
    return labels.get(label, "")


class Branch:
    __slots__ = ("_heap", "children", "infos", "tasks")

    def __init__(self) -> None:
        self.tasks = 0  # active tasks of the service under this branch (every node counts)
        self.children: dict[str, Branch] = {}
        self.infos: list[NodeInfo] = []  # leaves only
        self._heap: list[tuple[int, int, str, NodeInfo]] | None = None

    def place(self, n: int, eligible: Eligible, assign: Assign, service_id: str) -> int:
        """Place up to `n` tasks under this branch; returns how many found a node."""
        if self.children:
            placed = self._split(n, eligible, assign, service_id)
        else:
            placed = self._fill(n, eligible, assign, service_id)
        self.tasks += placed
        return placed

    def _split(self, n: int, eligible: Eligible, assign: Assign, service_id: str) -> int:
        placed = 0
        open_ = [self.children[k] for k in sorted(self.children)]
        while placed < n and open_:
            quotas = water_fill([b.tasks for b in open_], n - placed)
            still_open = []
            for branch, quota in zip(open_, quotas, strict=True):
                got = branch.place(quota, eligible, assign, service_id) if quota else 0
                placed += got
                if got == quota:
                    still_open.append(branch)
            open_ = still_open
        return placed

    def _fill(self, n: int, eligible: Eligible, assign: Assign, service_id: str) -> int:
        if self._heap is None:  # built on first use: only nodes that pass the filters
            self._heap = [_key(i, service_id) for i in self.infos if eligible(i)]
            heapq.heapify(self._heap)
        placed = 0
        while placed < n and self._heap:
            info = heapq.heappop(self._heap)[3]
            assign(info)
            placed += 1
            # Only this node changed; placing only consumes, so a node that fails now
            # stays failed for the rest of the group.
            if eligible(info):
                heapq.heappush(self._heap, _key(info, service_id))
        return placed


def _key(info: NodeInfo, service_id: str) -> tuple[int, int, str, NodeInfo]:
    return (info.service_tasks(service_id), info.active_total, info.id, info)


def water_fill(counts: Sequence[int], n: int) -> list[int]:
    """Split `n` among branches holding `counts` so the totals end as even as possible;
    ties go to the earlier branch."""
    quotas = [0] * len(counts)
    heap = [(c, i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    for _ in range(n):
        c, i = heapq.heappop(heap)
        quotas[i] += 1
        heapq.heappush(heap, (c + 1, i))
    return quotas


def build_tree(
    infos: Iterable[NodeInfo],
    descriptors: Sequence[tuple[bool, str]],
    service_id: str,
) -> Branch:
    root = Branch()
    for info in infos:
        count = info.service_tasks(service_id)
        branch = root
        branch.tasks += count
        for descriptor in descriptors:
            value = spread_value(info.node, descriptor)
            branch = branch.children.setdefault(value, Branch())
            branch.tasks += count
        branch.infos.append(info)
    return root
