"""`service logs` on a one-node cluster: a real container's stdout and stderr reach the
Control.ServiceLogs stream through the agent's PublishLogs and the leader's log broker.

Uses the one-node fixture of test_service_runs.py (shoal.node.Node in this process, the engine
at $DOCKER_HOST); the service is written straight into the store like there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from manager.store import (
    ContainerSpec,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceSpec,
    TaskSpec,
)
from proto import control_pb2, control_pb2_grpc, logs_pb2
from shoal.daemon import default_control_factory
from shoal.node import Node, NodeOptions
from tests.integration.conftest import BUSYBOX_IMAGE as IMAGE
from tests.integration.services.test_service_runs import (
    _free_pair,
    _remove_task_containers,
    _running_task,
    image,
)

__all__ = ["image"]  # the fixture, used by name


@pytest.fixture
async def node(image: str) -> AsyncIterator[Node]:
    """A one-node cluster with the Control API (like shoald's), on a private socket."""
    port = _free_pair()
    with tempfile.TemporaryDirectory(prefix="shoal-logs-") as tmp:
        options = NodeOptions(
            data_dir=Path(tmp) / "data",
            socket=Path(tmp) / "shoal.sock",
            listen_addr=f"127.0.0.1:{port}",
            advertise_addr=f"127.0.0.1:{port}",
            engine_socket=os.environ["DOCKER_HOST"],
            raft_tick=0.1,
            hostname="logs-test",
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
            await _remove_task_containers()


# stdout and stderr reach the log through separate pipes: the pause makes out-2 the last line
SCRIPT = "echo out-1; echo err-1 >&2; sleep 0.5; echo out-2; sleep 1000"


async def test_service_logs_returns_stdout_and_stderr_of_the_tasks(node: Node) -> None:
    manager = node.manager
    assert manager is not None
    store = manager.store
    spec = ServiceSpec(
        name="web",
        mode=ReplicatedService(replicas=1),
        task_template=TaskSpec(
            container=ContainerSpec(image=IMAGE, args=("sh", "-c", SCRIPT)),
            restart_policy=RestartPolicy(delay=timedelta(seconds=1)),
        ),
    )
    service = await store.update(lambda tx: tx.create(Service(spec=spec)))  # test-only path
    async with asyncio.timeout(60):
        task = await _running_task(store, service.id)

    async with grpc.aio.insecure_channel(f"unix:{node.options.socket}") as channel:
        control = control_pb2_grpc.ControlStub(channel)  # type: ignore[no-untyped-call]
        lines: list[logs_pb2.LogMessage] = []
        async with asyncio.timeout(30):
            while len(lines) < 3:  # the shell may not have written everything yet
                request = control_pb2.ServiceLogsRequest(ref="web")
                lines = [m async for msg in control.ServiceLogs(request) for m in msg.messages]
                await asyncio.sleep(0.2)
        got = sorted((m.data, m.stream) for m in lines)
        assert got == [
            (b"err-1\n", logs_pb2.LogMessage.STDERR),
            (b"out-1\n", logs_pb2.LogMessage.STDOUT),
            (b"out-2\n", logs_pb2.LogMessage.STDOUT),
        ]
        assert {(m.context.task_id, m.context.service_id, m.context.node_id) for m in lines} == {
            (task.id, service.id, task.node_id)
        }
        assert all(m.unix_nano > 0 for m in lines)

        # --tail 1 --follow: the last line, and the stream stays open until cancelled
        follow = control.ServiceLogs(
            control_pb2.ServiceLogsRequest(ref=task.id, tail=1, follow=True)
        )
        seen: list[bytes] = []
        async with asyncio.timeout(30):
            async for msg in follow:
                seen.extend(m.data for m in msg.messages)
                if b"out-2\n" in seen:
                    break
        follow.cancel()
        assert b"out-1\n" not in seen, seen
