"""`service logs` on a one-node cluster: a real container's stdout and stderr reach the
Control.ServiceLogs stream through the agent's PublishLogs and the leader's log broker.

Uses the one-node cluster of conftest.py; the service is written straight into the store.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc

from manager.store import (
    ContainerSpec,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceSpec,
    TaskSpec,
)
from proto import control_pb2, control_pb2_grpc, logs_pb2
from shoal.node import Node
from tests.integration.conftest import BUSYBOX_IMAGE as IMAGE
from tests.integration.services.conftest import running_task

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
        task = await running_task(store, service.id)

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
