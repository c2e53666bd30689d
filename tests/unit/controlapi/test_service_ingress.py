"""The ingress network and published ports: a service joins ingress by publishing a port,
never by naming it; an ingress-mode port belongs to one service (Docker's rules)."""

from __future__ import annotations

import dataclasses

import pytest

from manager.allocator import ingress_network
from manager.controlapi import InvalidArgumentError, create_service
from manager.store import (
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    PortConfig,
    PublishMode,
    Service,
    ServiceSpec,
    TaskSpec,
)
from tests.unit.store.helpers import new_store


def fixed(n: int) -> bytes:
    return b"\x07" * n


async def test_naming_the_ingress_network_is_refused_and_nothing_is_stored() -> None:
    store = new_store()
    await store.update(lambda tx: tx.create(ingress_network()))
    template = TaskSpec(
        container=ContainerSpec(image="web:1"),
        networks=(NetworkAttachmentConfig(target="ingress"),),
    )
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, ServiceSpec(name="web", task_template=template), entropy=fixed)
    assert str(raised.value) == (
        'service cannot be explicitly attached to the ingress network "ingress"'
    )
    assert store.view().all(Service) == []


def published(port: int, mode: PublishMode, target: int = 80) -> ServiceSpec:
    return ServiceSpec(
        name=f"s{port}{mode.value}",
        task_template=TaskSpec(container=ContainerSpec(image="web:1")),
        endpoint_spec=EndpointSpec(
            ports=(PortConfig(target_port=target, published_port=port, publish_mode=mode),)
        ),
    )


@pytest.mark.parametrize(
    ("first", "second", "used_as"),
    [
        (PublishMode.HOST, PublishMode.INGRESS, "a host"),
        (PublishMode.INGRESS, PublishMode.HOST, "an ingress"),
        (PublishMode.INGRESS, PublishMode.INGRESS, "an ingress"),
    ],
)
async def test_a_port_published_in_ingress_mode_is_nobody_elses(
    first: PublishMode, second: PublishMode, used_as: str
) -> None:
    store = new_store()
    one = await create_service(store, published(8080, first), entropy=fixed)
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, published(8080, second), entropy=fixed)
    assert str(raised.value) == (
        f"port '8080' is already in use by service '{one.spec.name}' ({one.id}) as {used_as} port"
    )


async def test_the_same_host_port_on_two_services_is_left_to_the_scheduler() -> None:
    store = new_store()
    await create_service(store, published(8080, PublishMode.HOST), entropy=fixed)
    spec = dataclasses.replace(published(8080, PublishMode.HOST), name="other")
    await create_service(store, spec, entropy=fixed)
    assert len(store.view().all(Service)) == 2


async def test_a_host_mode_port_needs_a_published_port() -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(new_store(), published(0, PublishMode.HOST), entropy=fixed)
    assert str(raised.value) == (
        "EndpointSpec: host-mode port 80 needs a published port: "
        "use published=<port>,target=80,mode=host"
    )
