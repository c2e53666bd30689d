"""A one-node cluster for the services integration tests: shoal's own composition
(shoal.node.Node with the Control API like shoald's: manager with Raft, dispatcher on a
mutual-TLS port on 127.0.0.1, agent, task manager, Docker executor) run in the test's process
against the engine at $DOCKER_HOST, on a private socket and data dir.

Services are written straight into the manager's store (a test-only path); the lab e2e tests
create them through the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import grpc
import pytest

from manager.store import Store, Task, TaskState
from proto import control_pb2, control_pb2_grpc
from shoal.daemon import default_control_factory
from shoal.node import Node, NodeOptions

LABEL_TASK = "com.docker.swarm.task.id"
SERVICE = "web"  # every test's service is called this; its containers are removed after each


@pytest.fixture(scope="module")
def image(busybox_image: str) -> str:
    return busybox_image


@pytest.fixture
async def node(image: str) -> AsyncIterator[Node]:
    port = free_pair()
    with tempfile.TemporaryDirectory(prefix="shoal-svc-") as tmp:
        options = NodeOptions(
            data_dir=Path(tmp) / "data",
            socket=Path(tmp) / "shoal.sock",
            listen_addr=f"127.0.0.1:{port}",
            advertise_addr=f"127.0.0.1:{port}",
            engine_socket=os.environ["DOCKER_HOST"],
            raft_tick=0.1,
            hostname="svc-test",
            overlay=False,  # this process runs in the test host's namespace: no bridges, rules
        )
        n = Node(options, control_factory=default_control_factory())
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
            await remove_task_containers()


def free_pair() -> int:
    """A port p with p and p+1 free (the cluster port and the join port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with contextlib.suppress(OSError), socket.socket() as s2:
            s2.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no free port pair on 127.0.0.1")


async def remove_task_containers() -> None:
    docker = aiodocker.Docker()
    try:
        for c in await docker.containers.list(all=True, filters=f'{{"label": ["{LABEL_TASK}"]}}'):
            labels = c._container.get("Labels") or {}
            if labels.get("com.docker.swarm.service.name") == SERVICE:
                await c.delete(force=True, v=True)
    finally:
        await docker.close()


def tasks_of(store: Store, service_id: str) -> list[Task]:
    return sorted(store.view().tasks_by_service(service_id), key=lambda t: t.meta.version)


async def running_task(store: Store, service_id: str, not_id: str = "") -> Task:
    """The service's first RUNNING task other than `not_id` (callers bound it with a timeout)."""
    while True:
        for t in tasks_of(store, service_id):
            if t.id != not_id and t.status.state == TaskState.RUNNING:
                return t
        await asyncio.sleep(0.1)
