"""A one-node cluster (conftest.py) runs a service's task as a real container and replaces it
when the container is killed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiodocker

from manager.store import (
    ContainerSpec,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskState,
)
from shoal.node import Node
from tests.integration.conftest import BUSYBOX_IMAGE as IMAGE
from tests.integration.services.conftest import LABEL_TASK, running_task


async def test_a_service_task_runs_and_a_killed_container_is_replaced(node: Node) -> None:
    manager = node.manager
    assert manager is not None
    store = manager.store
    spec = ServiceSpec(
        name="web",
        mode=ReplicatedService(replicas=1),
        task_template=TaskSpec(
            container=ContainerSpec(image=IMAGE, args=("sleep", "1000")),
            restart_policy=RestartPolicy(delay=timedelta(seconds=1)),
        ),
    )
    service = await store.update(lambda tx: tx.create(Service(spec=spec)))  # test-only path

    async with asyncio.timeout(60):
        first = await running_task(store, service.id)
    assert first.status.container is not None
    container_id = first.status.container.container_id
    docker = aiodocker.Docker()
    try:
        info = await docker.containers.container(container_id).show()
        assert info["State"]["Status"] == "running"
        assert info["Config"]["Labels"][LABEL_TASK] == first.id
        assert info["Config"]["Labels"]["com.docker.swarm.node.id"] == first.node_id

        await docker.containers.container(container_id).kill(signal="SIGKILL")
        async with asyncio.timeout(60):
            second = await running_task(store, service.id, not_id=first.id)
    finally:
        await docker.close()

    failed = store.view().get(Task, first.id)
    assert failed is not None
    assert failed.status.state == TaskState.FAILED
    assert "non-zero exit (137)" in failed.status.err
    assert second.slot == first.slot
    assert second.status.container is not None
    assert second.status.container.container_id != container_id
