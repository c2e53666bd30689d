"""The whole path over real gRPC (insecure, 127.0.0.1): an agent answers the leader's
subscriptions over Dispatcher.LogSubscriptions/PublishLogs; Control.ServiceLogs asked on a
follower is relayed from the leader's broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import pytest

from manager.ca import NodeIdentity
from manager.controlapi.forward import ForwardingControl, LeaderLink
from manager.dispatcher import DispatcherServicer
from manager.dispatcher import add_to_server as add_dispatcher
from manager.logbroker import LogBroker, LogLine, LogOptions
from manager.logbroker_wire import service_logs
from manager.raft.clock import FakeClock
from manager.store import Service, ServiceSpec, Store, Task, TaskState, TaskStatus
from proto import control_pb2, control_pb2_grpc, dispatcher_pb2_grpc
from worker.logs import LogAgent

from .test_broker import settle


class FakeRaft:
    def __init__(self, node_id: int, leader: int, members: Mapping[int, str]) -> None:
        self.node_id = node_id
        self.leader = leader
        self.members = dict(members)

    async def read_barrier(self) -> None:
        return None


class Source:
    async def logs(self, task: Task, options: LogOptions) -> AsyncIterator[LogLine]:
        yield LogLine(
            task.service_id,
            task.node_id,
            task.id,
            42,
            False,
            b"hi from " + task.id.encode() + b"\n",
        )


async def _store() -> Store:
    store = Store()

    def fill(tx: Any) -> None:
        tx.create(Service(id="svc1", spec=ServiceSpec(name="web")))
        tx.create(Task(id="t1", service_id="svc1", slot=1, node_id="n1",
                       status=TaskStatus(state=TaskState.RUNNING)))  # fmt: skip

    await store.update(fill)
    return store


async def _server(*servicers: Any) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    for add in servicers:
        add(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_follower_relays_the_leaders_logs_from_an_agent() -> None:
    store = await _store()
    broker = LogBroker(FakeClock())
    broker_run = asyncio.create_task(broker.run())
    members = {1: "", 2: ""}
    leader_link = LeaderLink(FakeRaft(1, 1, members), connect=grpc.aio.insecure_channel)

    def logs(request: control_pb2.ServiceLogsRequest, context: Any) -> Any:
        return service_logs(broker, store, request, context)

    leader_control = ForwardingControl(object(), leader_link, logs=logs)
    dispatcher = DispatcherServicer(
        object(),  # type: ignore[arg-type]  # heartbeats are not used here
        leader_addr=lambda: "",
        managers=list,
        identify=lambda: NodeIdentity("n1", "swarm-worker", "c"),
        logs=broker,
    )
    leader, leader_addr = await _server(
        lambda s: control_pb2_grpc.add_ControlServicer_to_server(leader_control, s),  # type: ignore[no-untyped-call]
        lambda s: add_dispatcher(dispatcher, s),
    )
    members[1] = leader_addr
    follower_link = LeaderLink(FakeRaft(2, 1, members), connect=grpc.aio.insecure_channel)
    follower_control = ForwardingControl(object(), follower_link, logs=logs)
    follower, follower_addr = await _server(
        lambda s: control_pb2_grpc.add_ControlServicer_to_server(follower_control, s)  # type: ignore[no-untyped-call]
    )
    agent_channel = grpc.aio.insecure_channel(leader_addr)
    tasks = {"t1": (await _store()).view().get(Task, "t1")}
    agent = LogAgent(node_id="n1", source=Source(), tasks=lambda: tasks, clock=FakeClock())  # type: ignore[arg-type,return-value]
    dispatcher_stub = dispatcher_pb2_grpc.DispatcherStub(agent_channel)  # type: ignore[no-untyped-call]
    agent_run = asyncio.create_task(agent.session(dispatcher_stub))
    cli_channel = grpc.aio.insecure_channel(follower_addr)
    try:
        async with asyncio.timeout(5):  # until the agent's stream is registered
            while not broker._listeners:
                await settle()
                await asyncio.sleep(0.01)
        stub = control_pb2_grpc.ControlStub(cli_channel)  # type: ignore[no-untyped-call]
        async with asyncio.timeout(10):
            got = [m async for m in stub.ServiceLogs(control_pb2.ServiceLogsRequest(ref="web"))]
        lines = [
            (line.context.task_id, line.context.node_id, line.data)
            for m in got
            for line in m.messages
        ]
        assert lines == [("t1", "n1", b"hi from t1\n")]
        with pytest.raises(grpc.aio.AioRpcError) as e:
            async with asyncio.timeout(10):
                [m async for m in stub.ServiceLogs(control_pb2.ServiceLogsRequest(ref="nope"))]
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert e.value.details() == "no such task or service: nope"
    finally:
        agent_run.cancel()
        await asyncio.gather(agent_run, return_exceptions=True)
        for ch in (agent_channel, cli_channel):
            await ch.close()
        await leader_link.close()
        await follower_link.close()
        await broker.stop()
        await broker_run
        await leader.stop(None)
        await follower.stop(None)
