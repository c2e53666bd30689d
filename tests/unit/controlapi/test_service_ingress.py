"""A service joins the ingress network by publishing a port, never by naming it (Docker's rule)."""

from __future__ import annotations

import pytest

from manager.allocator import ingress_network
from manager.controlapi import InvalidArgumentError, create_service
from manager.store import (
    ContainerSpec,
    NetworkAttachmentConfig,
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
