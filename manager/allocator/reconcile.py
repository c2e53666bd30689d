"""One allocator pass: the dirty objects of a store view in, the objects to write out.

    Dirty ids ─▶ networks  allocate_network   (a new ingress: every service and node too)
             ─▶ tasks     ended or can no longer start: release; awaiting allocation:
                          their services join the pass
             ─▶ services  reallocate_service  (endpoint changed or failed: its awaiting
                          tasks join the pass; VIPs or ports it dropped: released)
             ─▶ tasks     endpoint = the service's; allocate_task, or status.err
             ─▶ nodes     allocate_node       (the ingress sandbox address)

Steps `Allocations` (memory) but reads and writes no store: `Outcome.writes` are the objects
as read with their allocation fields changed, for the loop to write. An allocation error on
a task (or on its service) becomes that task's `status.err`, written only when it changed;
the loop retries failed objects when something is released, not in a loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from manager.allocator.errors import AllocatorError
from manager.allocator.rules import (
    awaits_allocation,
    endpoint_publishes_ingress,
    holds_addresses,
    needs_networks,
)
from manager.allocator.state import Allocations
from manager.store import (
    Endpoint,
    Network,
    NetworkAttachment,
    Node,
    ReadTx,
    Service,
    StoreObject,
    Task,
)

NO_INGRESS = (
    "service {name} publishes a port in ingress mode but the swarm has no ingress network: "
    "create one (shoal network create --ingress ingress) or publish the port with mode=host"
)


@dataclass(slots=True)
class Dirty:
    """Ids to look at, per kind; `everything` means every object of every kind."""

    everything: bool = False
    networks: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.everything or bool(self.networks or self.services or self.tasks or self.nodes)

    def update(self, other: Dirty) -> None:
        self.everything = self.everything or other.everything
        self.networks |= other.networks
        self.services |= other.services
        self.tasks |= other.tasks
        self.nodes |= other.nodes

    def discard(self, other: Dirty) -> None:
        self.networks -= other.networks
        self.services -= other.services
        self.tasks -= other.tasks
        self.nodes -= other.nodes


@dataclass(slots=True)
class Outcome:
    writes: list[StoreObject] = field(default_factory=list)
    considered: Dirty = field(default_factory=Dirty)  # ids looked at
    failed: Dirty = field(default_factory=Dirty)  # ids that could not be allocated
    problems: dict[str, str] = field(default_factory=dict)  # "network foo" -> error (for the log)
    released: bool = False  # something was freed: failed objects may fit now


def allocate(alloc: Allocations, view: ReadTx, dirty: Dirty) -> Outcome:
    return _Pass(alloc, view, dirty).run()


class _Pass:
    def __init__(self, alloc: Allocations, view: ReadTx, dirty: Dirty) -> None:
        self.alloc = alloc
        self.view = view
        self.dirty = dirty
        self.out = Outcome()
        self.endpoints: dict[str, Endpoint] = {}  # service id -> allocated endpoint
        self.service_errors: dict[str, str] = {}

    def run(self) -> Outcome:
        view = self.view
        dirty = Dirty()
        dirty.update(self.dirty)  # a copy: the pass adds to it
        if dirty.everything:
            dirty = Dirty(
                networks={n.id for n in view.all(Network)},
                services={s.id for s in view.all(Service)},
                tasks={t.id for t in view.all(Task)},
                nodes={n.id for n in view.all(Node)},
            )
        self.out.considered = dirty
        new_ingress = self._networks(sorted(dirty.networks))
        if new_ingress:
            dirty.services |= {s.id for s in view.all(Service)}
            dirty.nodes |= {n.id for n in view.all(Node)}
        awaiting = self._tasks_to_allocate(dirty.tasks)
        dirty.services |= {t.service_id for t in awaiting.values()}
        awaiting |= self._services(sorted(dirty.services))
        dirty.tasks |= awaiting.keys()
        for task in sorted(awaiting.values(), key=lambda t: (t.meta.created_at, t.id)):
            self._task(task)
        for node_id in sorted(dirty.nodes):
            self._node(node_id)
        return self.out

    # -- networks --------------------------------------------------------------------------

    def _networks(self, ids: list[str]) -> bool:
        """Allocate what is new; whether an ingress network was among them."""
        new_ingress = False
        for network_id in ids:
            network = self.view.get(Network, network_id)
            if network is None or network.pending_delete:
                continue
            known = self.alloc.has_network(network.id)
            try:
                allocated = self.alloc.allocate_network(network)
            except AllocatorError as e:
                self._failed(
                    self.out.failed.networks, f"network {network.spec.name}", network.id, e
                )
                continue
            if not known:
                self.out.released = True  # tasks waiting for this network may go on
                new_ingress = new_ingress or network.spec.ingress
            if allocated != network:
                self.out.writes.append(allocated)
        return new_ingress

    # -- services --------------------------------------------------------------------------

    def _services(self, ids: list[str]) -> dict[str, Task]:
        """Allocate each service's endpoint; its awaiting tasks when it changed or failed."""
        awaiting: dict[str, Task] = {}
        for service_id in ids:
            service = self.view.get(Service, service_id)
            if service is None or service.pending_delete:
                continue
            try:
                endpoint, freed = self.alloc.reallocate_service(service)
            except AllocatorError as e:
                self.service_errors[service.id] = str(e)
                self.out.failed.services.add(service.id)
                awaiting |= self._awaiting_tasks(service)
                continue
            # an update that dropped VIPs or ports: tasks waiting for them may fit now
            self.out.released = freed or self.out.released
            self.endpoints[service.id] = endpoint
            if endpoint != service.endpoint:
                self.out.writes.append(dataclasses.replace(service, endpoint=endpoint))
                awaiting |= self._awaiting_tasks(service)
        return awaiting

    def _awaiting_tasks(self, service: Service) -> dict[str, Task]:
        return {t.id: t for t in self.view.tasks_by_service(service.id) if awaits_allocation(t)}

    # -- tasks -----------------------------------------------------------------------------

    def _tasks_to_allocate(self, ids: set[str]) -> dict[str, Task]:
        """Release what tasks that ended hold; those awaiting allocation."""
        awaiting: dict[str, Task] = {}
        for task_id in ids:
            task = self.view.get(Task, task_id)
            if task is None:
                continue
            if not holds_addresses(task):
                self.out.released = self.alloc.release_task(task) or self.out.released
            elif awaits_allocation(task):
                awaiting[task.id] = task
        return awaiting

    def _task(self, task: Task) -> None:
        service = self.view.get(Service, task.service_id)
        if service is None:
            return  # the task reaper removes it
        error = self.service_errors.get(service.id)
        endpoint = self.endpoints.get(service.id)
        if error is None and endpoint is not None:
            allocated = dataclasses.replace(task, endpoint=endpoint)
            try:
                networks = self._networks_of(allocated, service)
            except AllocatorError as e:
                error = str(e)
            else:
                status = dataclasses.replace(task.status, err="")
                self.out.writes.append(
                    dataclasses.replace(allocated, networks=networks, status=status)
                )
                return
        if error is None:
            return  # the service could not be looked at in this pass
        self.out.failed.tasks.add(task.id)
        if task.status.err != error:
            status = dataclasses.replace(task.status, err=error)
            self.out.writes.append(dataclasses.replace(task, status=status))

    def _networks_of(self, task: Task, service: Service) -> tuple[NetworkAttachment, ...]:
        if not needs_networks(task):
            return ()
        if endpoint_publishes_ingress(task.endpoint) and not self.alloc.ingress_network_id:
            raise AllocatorError(NO_INGRESS.format(name=service.spec.name))
        for attachment in task.spec.networks:
            if not self.alloc.has_network(attachment.target):
                network = self.view.get(Network, attachment.target)
                if network is None:
                    raise AllocatorError(
                        f"network {attachment.target} no longer exists: update the service"
                    )
                raise AllocatorError(
                    f"network {network.spec.name} has no subnet yet (see the manager's log)"
                )
        return self.alloc.allocate_task(task)

    # -- nodes -----------------------------------------------------------------------------

    def _node(self, node_id: str) -> None:
        node = self.view.get(Node, node_id)
        if node is None:
            return
        try:
            attachments = self.alloc.allocate_node(node)
        except AllocatorError as e:
            self._failed(self.out.failed.nodes, f"node {node.description.hostname}", node.id, e)
            return
        if attachments != node.attachments:
            self.out.writes.append(dataclasses.replace(node, attachments=attachments))

    def _failed(self, failed: set[str], what: str, object_id: str, error: Exception) -> None:
        failed.add(object_id)
        self.out.problems[f"{what} ({object_id})"] = str(error)
