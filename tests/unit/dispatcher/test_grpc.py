"""The Dispatcher service on a real grpc.aio server on 127.0.0.1, with mutual TLS and the
authorization interceptor, called through the generated stub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest

from manager.ca import (
    MANAGER_ROLE,
    WORKER_ROLE,
    AuthorizationInterceptor,
    AuthorizationPolicy,
    Authorizer,
    NodeCredentials,
    channel_credentials,
    channel_options,
    create_root_ca,
    server_credentials,
)
from manager.dispatcher import (
    DISPATCHER_SERVICE,
    Dispatcher,
    DispatcherServicer,
    add_to_server,
    wire,
)
from manager.raft import LoopClock
from manager.store import NodeDescription, NodeState, Store
from proto import dispatcher_pb2_grpc
from tests.unit.ca.pki import CLUSTER, Issuer
from tests.unit.dispatcher.helpers import add_node, get, node


class Server:
    def __init__(self, port: int, issuer: Issuer, store: Store) -> None:
        self.port = port
        self.issuer = issuer
        self.store = store

    def channel(self, creds: NodeCredentials) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            f"127.0.0.1:{self.port}",
            channel_credentials(self.issuer.root.cert_pem, creds),
            options=channel_options(),
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    now = datetime.now(UTC)  # TLS checks validity against the real clock
    issuer = Issuer(create_root_ca(now))
    store = Store()
    policy = AuthorizationPolicy.build(any_node=[DISPATCHER_SERVICE])
    authorizer = Authorizer(root_ca=issuer.root, cluster_id=CLUSTER, policy=policy)
    grpc_server = grpc.aio.server(
        interceptors=[AuthorizationInterceptor(authorizer, lambda: datetime.now(UTC))]
    )
    dispatcher = Dispatcher(store, LoopClock(), is_leader=lambda: True)
    servicer = DispatcherServicer(
        dispatcher, leader_addr=lambda: "127.0.0.1:2377", managers=lambda: ["127.0.0.1:2377"]
    )
    add_to_server(servicer, grpc_server)
    port = grpc_server.add_secure_port(
        "127.0.0.1:0", server_credentials(issuer.node("mgr0", MANAGER_ROLE, now=now))
    )
    await grpc_server.start()
    task = asyncio.create_task(dispatcher.run())
    try:
        yield Server(port, issuer, store)
    finally:
        await dispatcher.stop()
        await task
        await grpc_server.stop(None)


async def test_a_worker_heartbeats_over_mutual_tls(server: Server) -> None:
    await add_node(server.store, node("wrk1"))
    creds = server.issuer.node("wrk1", WORKER_ROLE, now=datetime.now(UTC))
    async with server.channel(creds) as channel:
        stub = dispatcher_pb2_grpc.DispatcherStub(channel)  # type: ignore[no-untyped-call]
        request = wire.heartbeat_request("wrk1", "", NodeDescription(hostname="box1"))
        response = await stub.Heartbeat(request, timeout=10)
        assert response.accepted
        assert response.period_seconds == 5.0
        assert response.desired_role == "worker"
        assert list(response.managers) == ["127.0.0.1:2377"]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Heartbeat(wire.heartbeat_request("mgr0", "", None), timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert err.value.details() == "node wrk1 cannot report for node mgr0"
    wrk1 = get(server.store, "wrk1")
    assert (wrk1.status.state, wrk1.status.addr) == (NodeState.READY, "127.0.0.1")
    assert wrk1.description.hostname == "box1"
