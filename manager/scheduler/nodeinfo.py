"""NodeInfo: a node, the tasks that hold its resources, and what is left for new tasks.

A task holds its node's resources (reservations, host-mode ports) from ASSIGNED until it
reaches a terminal state, whatever its desired state: a container being stopped still runs.
It counts for spreading ("active") only while its desired state is RUNNING or below, like
swarmkit's ActiveTasksCount. A PENDING task that already names a node (a global service's) holds
nothing until the scheduler confirms it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from manager.store import Node, PortProtocol, PublishMode, Task, TaskState

HostPort = tuple[PortProtocol, int]


def holds_resources(task: Task) -> bool:
    return bool(task.node_id) and TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING


def should_run(task: Task) -> bool:
    """The task is meant to run: desired RUNNING, or COMPLETE for a job's task (run to
    completion), or an earlier state on its way there."""
    return task.desired_state <= TaskState.RUNNING or task.desired_state is TaskState.COMPLETE


def host_ports(task: Task) -> frozenset[HostPort]:
    """The host-mode ports the task publishes on its node (a published port of 0 is picked by
    the engine and never conflicts). Allocated ports (`endpoint.ports`) when there are any,
    else what the endpoint spec asks for (no allocator has filled them in yet)."""
    endpoint = task.endpoint
    if endpoint is None:
        return frozenset()
    ports = endpoint.ports or endpoint.spec.ports
    return frozenset(
        (p.protocol, p.published_port)
        for p in ports
        if p.publish_mode is PublishMode.HOST and p.published_port
    )


@dataclass(slots=True, eq=False)
class NodeInfo:
    node: Node
    nano_cpus: int  # available for new reservations
    memory_bytes: int
    tasks: dict[str, Task] = field(default_factory=dict)
    active_by_service: dict[str, int] = field(default_factory=dict)
    active_total: int = 0
    used_host_ports: dict[HostPort, int] = field(default_factory=dict)  # port -> tasks using it

    @classmethod
    def of(cls, node: Node, tasks: Iterable[Task] = ()) -> NodeInfo:
        resources = node.description.resources
        info = cls(node, resources.nano_cpus, resources.memory_bytes)
        for task in tasks:
            info.add_task(task)
        return info

    @property
    def id(self) -> str:
        return self.node.id

    def service_tasks(self, service_id: str) -> int:
        return self.active_by_service.get(service_id, 0)

    def add_task(self, task: Task) -> bool:
        """Account for `task` on this node; False if it was already counted."""
        if task.id in self.tasks:
            return False
        self.tasks[task.id] = task
        reservations = task.spec.resources.reservations
        self.nano_cpus -= reservations.nano_cpus
        self.memory_bytes -= reservations.memory_bytes
        if should_run(task):
            self.active_total += 1
            self.active_by_service[task.service_id] = self.service_tasks(task.service_id) + 1
        for port in host_ports(task):
            self.used_host_ports[port] = self.used_host_ports.get(port, 0) + 1
        return True
