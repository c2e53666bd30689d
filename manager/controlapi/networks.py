"""Networks: create, inspect, list, remove (`shoal network create|inspect|ls|rm`).

    spec --validate_network_spec--> refuse a second ingress or an overlapping --subnet --> store
                                                      (the allocator gives subnet and VXLAN ID)

Only swarm-scoped overlay networks exist. Removal deletes the network at once when nothing
uses it (no pending-delete stage): not while a service's spec attaches to it or one of its
tasks still holds an address on it, nor the ingress network while a service publishes a port
in ingress mode. The predefined `ingress` may be removed when unused, and one created again
with `--ingress`, like Docker. Rules and messages follow swarmkit's controlapi/network.go.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from manager.allocator import (
    InvalidIPAMConfig,
    SubnetConfig,
    parse_ipam_config,
    task_uses_network,
    uses_network,
)
from manager.controlapi._common import write
from manager.controlapi.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
)
from manager.controlapi.refs import resolve
from manager.controlapi.validation import validate_name
from manager.store import Network, NetworkSpec, ReadTx, Service, Store, Task, WriteTx

OVERLAY = "overlay"
ENCRYPTED_OPTION = "encrypted"


def validate_network_spec(spec: NetworkSpec) -> SubnetConfig | None:
    """Raise InvalidArgumentError for the first problem; the --subnet given, if any."""
    validate_name(spec.name)
    if spec.driver not in ("", OVERLAY):
        raise InvalidArgumentError(f"network driver {spec.driver} is not supported; use overlay")
    if ENCRYPTED_OPTION in spec.driver_options:
        raise InvalidArgumentError("encrypted overlay networks are not supported yet")
    if spec.ingress and spec.attachable:
        raise InvalidArgumentError("ingress network cannot be attachable")
    configs = [c for c in spec.ipam_configs if c.subnet or c.gateway or c.range]
    if len(configs) > 1:
        raise InvalidArgumentError("only one --subnet per network is supported")
    if not configs:
        return None
    try:
        return parse_ipam_config(configs[0].subnet, configs[0].gateway, configs[0].range)
    except InvalidIPAMConfig as e:
        raise InvalidArgumentError(str(e)) from None


async def create_network(store: Store, spec: NetworkSpec) -> Network:
    """A new overlay network; refuses an invalid spec, a taken name, a second ingress network
    and a --subnet overlapping another network's. Nothing is written unless all is valid."""
    subnet = validate_network_spec(spec)
    spec = dataclasses.replace(spec, driver=OVERLAY)

    def create(tx: WriteTx) -> Network:
        if spec.ingress:
            present = next((n for n in tx.all(Network) if n.spec.ingress), None)
            if present is not None:
                raise AlreadyExistsError(
                    f"ingress network ({present.spec.name}) is already present; only one is "
                    "allowed: remove it first"
                )
        if subnet is not None:
            _refuse_overlap(tx, subnet.subnet)
        return tx.create(Network(spec=spec))

    created = await write(store, create)
    return store.view().get(Network, created.id) or created


def _refuse_overlap(view: ReadTx, subnet: ipaddress.IPv4Network) -> None:
    for other in view.all(Network):
        theirs = other.subnet or next((c.subnet for c in other.spec.ipam_configs if c.subnet), "")
        if not theirs:
            continue
        try:
            used = ipaddress.ip_network(theirs, strict=False)
        except ValueError:
            continue
        if used.overlaps(subnet):
            raise InvalidArgumentError(
                f"subnet {subnet} overlaps subnet {used} of network {other.spec.name}: "
                "choose another --subnet"
            )


def resolve_network(view: ReadTx, ref: str) -> Network:
    return resolve("network", view.all(Network), ref, lambda n: n.spec.name)


def get_network(store: Store, ref: str) -> Network:
    return resolve_network(store.view(), ref)


def list_networks(store: Store) -> list[Network]:
    return store.view().all(Network)


async def remove_network(store: Store, ref: str) -> None:
    """Refused while a service or a task uses the network (see the module docstring)."""

    def remove(tx: WriteTx) -> None:
        network = resolve_network(tx, ref)
        refuse_if_in_use(tx, network)
        tx.delete(Network, network.id)

    await write(store, remove)


def refuse_if_in_use(view: ReadTx, network: Network) -> None:
    name = network.spec.name
    users = sorted(s.spec.name for s in view.all(Service) if uses_network(s, network))
    if users and network.spec.ingress:
        who = (
            f"service {users[0]} depends"
            if len(users) == 1
            else f"services {', '.join(users)} depend"
        )
        raise FailedPreconditionError(f"ingress network cannot be removed because {who} on it")
    if users:
        noun = "service" if len(users) == 1 else "services"
        raise FailedPreconditionError(f"network {name} is in use by {noun} {', '.join(users)}")
    tasks = sorted(t.id for t in view.all(Task) if task_uses_network(t, network.id))
    if tasks:
        noun = "task" if len(tasks) == 1 else "tasks"
        raise FailedPreconditionError(f"network {name} is in use by {noun} {', '.join(tasks)}")
