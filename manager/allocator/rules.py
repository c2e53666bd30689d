"""Which tasks and services need network resources, and how long they keep them.

Pure predicates on store objects, shared by the allocator loop, its restore, the scheduler's
gate ("not placed before its networks are allocated") and the control API's in-use checks,
so that they all agree.

    needs_networks(task)      its spec names networks, or its endpoint publishes an ingress port
    awaits_allocation(task)   needs them, may still run, and holds none yet: not schedulable
    holds_addresses(task)     keeps its attachments: until it ends (observed state past
                              RUNNING) or can no longer start (never reached a node and is no
                              longer meant to run)
"""

from __future__ import annotations

from collections.abc import Iterable

from manager.store import (
    Endpoint,
    EndpointSpec,
    Network,
    NetworkSpec,
    PortConfig,
    PublishMode,
    Service,
    Task,
    TaskState,
)

INGRESS_NAME = "ingress"


def ingress_network() -> Network:
    """The network `swarm init` creates, as Docker's: overlay, ingress, no labels; the
    allocator gives it a subnet from the cluster's pool."""
    return Network(spec=NetworkSpec(name=INGRESS_NAME, driver="overlay", labels={}, ingress=True))


def publishes_ingress(ports: Iterable[PortConfig]) -> bool:
    return any(p.publish_mode is PublishMode.INGRESS for p in ports)


def endpoint_publishes_ingress(endpoint: Endpoint | None) -> bool:
    """Allocated ports or, before allocation, the ports the endpoint's spec asks for."""
    if endpoint is None:
        return False
    return publishes_ingress(endpoint.ports) or publishes_ingress(endpoint.spec.ports)


def service_uses_ingress(spec: EndpointSpec) -> bool:
    """A service depends on the ingress network when it publishes a port in ingress mode."""
    return publishes_ingress(spec.ports)


def needs_networks(task: Task) -> bool:
    return bool(task.spec.networks) or endpoint_publishes_ingress(task.endpoint)


def may_run(task: Task) -> bool:
    """Desired RUNNING (or a job's COMPLETE), or an earlier state on its way there."""
    return task.desired_state <= TaskState.RUNNING or task.desired_state is TaskState.COMPLETE


def holds_addresses(task: Task) -> bool:
    if task.status.state.terminal:
        return False
    return task.status.state >= TaskState.ASSIGNED or may_run(task)


def awaits_allocation(task: Task) -> bool:
    """The task needs network attachments it does not have yet (the scheduler leaves it)."""
    return (
        task.status.state < TaskState.ASSIGNED
        and may_run(task)
        and needs_networks(task)
        and not task.networks
    )


def endpoint_current(service: Service) -> bool:
    """The service's allocated endpoint was made from its current endpoint spec."""
    return service.endpoint is not None and service.endpoint.spec == service.spec.endpoint_spec


def task_endpoint(service: Service) -> Endpoint:
    """What a new task of `service` carries: the allocated endpoint when it is current, else
    the spec alone (ports not filled in yet; the allocator replaces it before the task is
    scheduled when the task needs networks)."""
    if endpoint_current(service):
        assert service.endpoint is not None
        return service.endpoint
    return Endpoint(spec=service.spec.endpoint_spec)


def uses_network(service: Service, network: Network) -> bool:
    """The service's spec attaches it to `network`, or `network` is the ingress network and
    the service publishes an ingress-mode port (Docker: the service depends on ingress)."""
    if any(n.target == network.id for n in service.spec.task_template.networks):
        return True
    return network.spec.ingress and service_uses_ingress(service.spec.endpoint_spec)


def task_uses_network(task: Task, network_id: str) -> bool:
    """A task that still holds (or is about to get) an address on the network."""
    if not holds_addresses(task):
        return False
    return any(a.network_id == network_id for a in task.networks) or any(
        n.target == network_id for n in task.spec.networks
    )
