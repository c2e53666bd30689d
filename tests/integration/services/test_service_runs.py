"""A one-node cluster runs a service's task as a real container and replaces it when killed.

The node is shoal's own composition (shoal.node.Node: manager with Raft, dispatcher on a
mutual-TLS port on 127.0.0.1, agent, task manager, Docker executor) run in this test's process
against the engine at $DOCKER_HOST. The service is written straight into the manager's store:
the Control API has no CreateService yet (SVC-API), and that write is the test-only path; once
it exists this test should create the service through the Control stub of a real shoald.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiodocker
import grpc
import pytest

from manager.store import (
    ContainerSpec,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
)
from proto import control_pb2, control_pb2_grpc
from shoal.node import Node, NodeOptions
from tests.integration.conftest import BUSYBOX_IMAGE as IMAGE

LABEL_TASK = "com.docker.swarm.task.id"


@pytest.fixture(scope="module")
def image(busybox_image: str) -> str:
    return busybox_image


def _free_pair() -> int:
    """A port p with p and p+1 free (the cluster port and the join port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with contextlib.suppress(OSError), socket.socket() as s2:
            s2.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


@pytest.fixture
async def node(image: str) -> AsyncIterator[Node]:
    port = _free_pair()
    with tempfile.TemporaryDirectory(prefix="shoal-svc-") as tmp:
        options = NodeOptions(
            data_dir=Path(tmp) / "data",
            socket=Path(tmp) / "shoal.sock",
            listen_addr=f"127.0.0.1:{port}",
            advertise_addr=f"127.0.0.1:{port}",
            engine_socket=os.environ["DOCKER_HOST"],
            raft_tick=0.1,
            hostname="svc-test",
        )
        n = Node(options)
        run = asyncio.create_task(n.run())
        try:
            async with asyncio.timeout(30):
                while n.server is None:  # noqa: ASYNC110 - Node has no "serving" event
                    await asyncio.sleep(0.05)
                async with grpc.aio.insecure_channel(f"unix:{options.socket}") as channel:
                    swarm = control_pb2_grpc.SwarmStub(channel)  # type: ignore[no-untyped-call]
                    await swarm.Init(
                        control_pb2.InitRequest(
                            listen_addr=options.listen_addr, advertise_addr=options.listen_addr
                        )
                    )
            yield n
        finally:
            await n.stop()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await run
            await _remove_task_containers()


async def _remove_task_containers() -> None:
    docker = aiodocker.Docker()
    try:
        for c in await docker.containers.list(all=True, filters=f'{{"label": ["{LABEL_TASK}"]}}'):
            labels = c._container.get("Labels") or {}
            if labels.get("com.docker.swarm.service.name") == "web":
                await c.delete(force=True, v=True)
    finally:
        await docker.close()


def _tasks(store: Store, service_id: str) -> list[Task]:
    return sorted(store.view().tasks_by_service(service_id), key=lambda t: t.meta.version)


async def _running_task(store: Store, service_id: str, not_id: str = "") -> Task:
    while True:
        for t in _tasks(store, service_id):
            if t.id != not_id and t.status.state == TaskState.RUNNING:
                return t
        await asyncio.sleep(0.1)


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
        first = await _running_task(store, service.id)
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
            second = await _running_task(store, service.id, not_id=first.id)
    finally:
        await docker.close()

    failed = store.view().get(Task, first.id)
    assert failed is not None
    assert failed.status.state == TaskState.FAILED
    assert "non-zero exit (137)" in failed.status.err
    assert second.slot == first.slot
    assert second.status.container is not None
    assert second.status.container.container_id != container_id
