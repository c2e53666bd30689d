"""The filters: each answers whether a task can run on a node, and explains a refusal.

Each filter is tiny and stateless. `applies(task)` says whether it has anything to check for
this task (a task without reservations skips the resource filters); `check(task, info)` is
the answer for one node; `explain(count)` words the refusal for `count` nodes, in swarmkit's
style, for the "no suitable node (...)" message.
"""

from __future__ import annotations

from typing import Protocol

from manager.scheduler.constraint import node_matches, parse_constraints
from manager.scheduler.errors import ConstraintError
from manager.scheduler.nodeinfo import NodeInfo, host_ports
from manager.store import NodeAvailability, NodeState, Task


class Filter(Protocol):
    def applies(self, task: Task) -> bool: ...

    def check(self, task: Task, info: NodeInfo) -> bool: ...

    def explain(self, count: int) -> str: ...


def nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"


def nodes_have(count: int) -> str:
    return "1 node has" if count == 1 else f"{count} nodes have"


class ReadyFilter:
    """The node is up (Ready) and takes new tasks (Active: not paused or drained)."""

    def applies(self, task: Task) -> bool:
        return True

    def check(self, task: Task, info: NodeInfo) -> bool:
        node = info.node
        return (
            node.status.state is NodeState.READY
            and node.spec.availability is NodeAvailability.ACTIVE
        )

    def explain(self, count: int) -> str:
        return f"{nodes(count)} not available for new tasks"


class MemoryFilter:
    """Enough unreserved memory for the task's `--reserve-memory`."""

    def applies(self, task: Task) -> bool:
        return task.spec.resources.reservations.memory_bytes > 0

    def check(self, task: Task, info: NodeInfo) -> bool:
        return task.spec.resources.reservations.memory_bytes <= info.memory_bytes

    def explain(self, count: int) -> str:
        return f"{nodes_have(count)} insufficient memory"


class CPUFilter:
    """Enough unreserved CPU for the task's `--reserve-cpu`."""

    def applies(self, task: Task) -> bool:
        return task.spec.resources.reservations.nano_cpus > 0

    def check(self, task: Task, info: NodeInfo) -> bool:
        return task.spec.resources.reservations.nano_cpus <= info.nano_cpus

    def explain(self, count: int) -> str:
        return f"{nodes_have(count)} insufficient CPU"


class MaxReplicasFilter:
    """`--replicas-max-per-node`: fewer active tasks of this service on the node than that."""

    def applies(self, task: Task) -> bool:
        return task.spec.placement.max_replicas > 0

    def check(self, task: Task, info: NodeInfo) -> bool:
        return info.service_tasks(task.service_id) < task.spec.placement.max_replicas

    def explain(self, count: int) -> str:
        return f"max replicas per node reached on {nodes(count)}"


_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armhf": "arm"}


def _arch(name: str) -> str:
    name = name.lower()
    return _ARCH_ALIASES.get(name, name)


class PlatformFilter:
    """One of the image's platforms (`placement.platforms`) is the node's; an empty field
    matches anything. Engines say x86_64/aarch64 where images say amd64/arm64."""

    def applies(self, task: Task) -> bool:
        return bool(task.spec.placement.platforms)

    def check(self, task: Task, info: NodeInfo) -> bool:
        platform = info.node.description.platform
        return any(
            (not p.os or p.os.lower() == platform.os.lower())
            and (not p.architecture or _arch(p.architecture) == _arch(platform.architecture))
            for p in task.spec.placement.platforms
        )

    def explain(self, count: int) -> str:
        return f"unsupported platform on {nodes(count)}"


class ConstraintFilter:
    """`--constraint`: every constraint matches the node. (Parsing is cached; a constraint
    that does not parse matches no node, and the scheduler reports the parse error.)"""

    def applies(self, task: Task) -> bool:
        return bool(task.spec.placement.constraints)

    def check(self, task: Task, info: NodeInfo) -> bool:
        try:
            constraints = parse_constraints(task.spec.placement.constraints)
        except ConstraintError:
            return False
        return node_matches(constraints, info.node)

    def explain(self, count: int) -> str:
        return f"scheduling constraints not satisfied on {nodes(count)}"


class HostPortFilter:
    """Host-mode published ports: none already published by a task on the node."""

    def applies(self, task: Task) -> bool:
        return bool(host_ports(task))

    def check(self, task: Task, info: NodeInfo) -> bool:
        return not any(port in info.used_host_ports for port in host_ports(task))

    def explain(self, count: int) -> str:
        return f"host-mode port already in use on {nodes(count)}"
