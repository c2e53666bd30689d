"""Mutual TLS and authorization on a real grpc.aio server on 127.0.0.1.

Certificates are issued at the real current time here: TLS checks validity against the system
clock, which no fake can move.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from manager.ca import (
    MANAGER_ROLE,
    WORKER_ROLE,
    AuthorizationInterceptor,
    AuthorizationPolicy,
    Authorizer,
    NodeCredentials,
    RootCA,
    channel_credentials,
    channel_options,
    create_root_ca,
    current_node,
    fetch_presented_root,
    generate_join_token,
    join_channel_options,
    join_server_credentials,
    server_credentials,
    verify_presented_root,
)
from tests.unit.ca.pki import CLUSTER, Issuer

SERVICE = "shoal.test.Probe"
POLICY = AuthorizationPolicy(
    roles={
        f"/{SERVICE}/Managers": frozenset({MANAGER_ROLE}),
        f"/{SERVICE}/AnyNode": frozenset({MANAGER_ROLE, WORKER_ROLE}),
        f"/{SERVICE}/Watch": frozenset({MANAGER_ROLE, WORKER_ROLE}),
        f"/{SERVICE}/Upload": frozenset({MANAGER_ROLE}),
        f"/{SERVICE}/Write": frozenset({MANAGER_ROLE}),
    },
    unauthenticated=frozenset({f"/{SERVICE}/Join"}),
)


def _who() -> bytes:
    node = current_node()
    return b"anonymous" if node is None else f"{node.node_id}/{node.role}".encode()


async def _unary(request: bytes, context: Any) -> bytes:
    return _who()


async def _watch(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(2):
        yield _who() + b"#" + str(i).encode()


async def _upload(requests: AsyncIterator[bytes], context: Any) -> bytes:
    return _who() + b":" + b"".join([r async for r in requests])


async def _write(request: bytes, context: Any) -> None:
    await context.write(_who())


@dataclass
class Cluster:
    root: RootCA
    issuer: Issuer
    removed: set[str]
    port: int
    join_port: int

    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    now = datetime.now(UTC)
    root = create_root_ca(now)
    issuer = Issuer(root)
    removed: set[str] = set()
    authorizer = Authorizer(
        root_ca=root, cluster_id=CLUSTER, policy=POLICY, is_removed=removed.__contains__
    )
    server = grpc.aio.server(
        interceptors=[AuthorizationInterceptor(authorizer, lambda: datetime.now(UTC))]
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Managers": grpc.unary_unary_rpc_method_handler(_unary),
                    "AnyNode": grpc.unary_unary_rpc_method_handler(_unary),
                    "Join": grpc.unary_unary_rpc_method_handler(_unary),
                    "Watch": grpc.unary_stream_rpc_method_handler(_watch),
                    "Upload": grpc.stream_unary_rpc_method_handler(_upload),
                    "Write": grpc.unary_stream_rpc_method_handler(_write),
                },
            ),
        )
    )
    own = issuer.node("mgr0", MANAGER_ROLE, now=now)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(own))
    join_port = server.add_secure_port("127.0.0.1:0", join_server_credentials(own))
    await server.start()
    try:
        yield Cluster(root, issuer, removed, port, join_port)
    finally:
        await server.stop(None)


async def _call(
    port: int,
    method: str,
    root_pem: bytes,
    creds: NodeCredentials | None,
    options: list[tuple[str, str]] | None = None,
) -> bytes:
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        channel_credentials(root_pem, creds),
        options=options or channel_options(),
    ) as channel:
        result: bytes = await channel.unary_unary(f"/{SERVICE}/{method}")(b"", timeout=10)
        return result


async def _denied(port: int, method: str, root_pem: bytes, creds: NodeCredentials | None) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _call(port, method, root_pem, creds)
    return err.value


async def test_manager_certificate_is_accepted(cluster: Cluster) -> None:
    mgr = cluster.issuer.node("mgr1", MANAGER_ROLE, now=cluster.now())
    assert await _call(cluster.port, "Managers", cluster.root.cert_pem, mgr) == (
        b"mgr1/swarm-manager"
    )


async def test_worker_is_refused_a_manager_only_method(cluster: Cluster) -> None:
    wrk = cluster.issuer.node("wrk1", WORKER_ROLE, now=cluster.now())
    err = await _denied(cluster.port, "Managers", cluster.root.cert_pem, wrk)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "wrk1 has role swarm-worker" in err.details()
    assert await _call(cluster.port, "AnyNode", cluster.root.cert_pem, wrk) == (
        b"wrk1/swarm-worker"
    )


async def test_streaming_handlers_are_authorized_too(cluster: Cluster) -> None:
    wrk = cluster.issuer.node("wrk1", WORKER_ROLE, now=cluster.now())
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{cluster.port}",
        channel_credentials(cluster.root.cert_pem, wrk),
        options=channel_options(),
    ) as channel:
        call = channel.unary_stream(f"/{SERVICE}/Watch")(b"", timeout=10)
        assert [r async for r in call] == [b"wrk1/swarm-worker#0", b"wrk1/swarm-worker#1"]
        for method in ("Write", "Upload"):  # context.write style, client streaming
            with pytest.raises(grpc.aio.AioRpcError) as err:
                if method == "Write":
                    await channel.unary_stream(f"/{SERVICE}/Write")(b"", timeout=10).read()
                else:
                    await channel.stream_unary(f"/{SERVICE}/Upload")(iter([b"a"]), timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_client_streaming_and_context_write_reach_managers(cluster: Cluster) -> None:
    mgr = cluster.issuer.node("mgr1", MANAGER_ROLE, now=cluster.now())
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{cluster.port}",
        channel_credentials(cluster.root.cert_pem, mgr),
        options=channel_options(),
    ) as channel:
        upload = channel.stream_unary(f"/{SERVICE}/Upload")
        assert await upload(iter([b"a", b"b"]), timeout=10) == b"mgr1/swarm-manager:ab"
        call = channel.unary_stream(f"/{SERVICE}/Write")(b"", timeout=10)
        assert [r async for r in call] == [b"mgr1/swarm-manager"]


async def test_certificate_from_another_ca_fails_the_tls_handshake(cluster: Cluster) -> None:
    stranger = Issuer(create_root_ca(cluster.now())).node("mgr1", MANAGER_ROLE, now=cluster.now())
    err = await _denied(cluster.port, "AnyNode", cluster.root.cert_pem, stranger)
    assert err.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_without_certificate_fails_the_tls_handshake(cluster: Cluster) -> None:
    err = await _denied(cluster.port, "Join", cluster.root.cert_pem, None)
    assert err.code() == grpc.StatusCode.UNAVAILABLE


async def test_removed_node_is_refused(cluster: Cluster) -> None:
    wrk = cluster.issuer.node("wrk1", WORKER_ROLE, now=cluster.now())
    assert await _call(cluster.port, "AnyNode", cluster.root.cert_pem, wrk)
    cluster.removed.add("wrk1")
    err = await _denied(cluster.port, "AnyNode", cluster.root.cert_pem, wrk)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "wrk1 was removed" in err.details()


async def test_join_listener_serves_only_unauthenticated_methods(cluster: Cluster) -> None:
    root_pem = cluster.root.cert_pem
    anonymous = await _call(cluster.join_port, "Join", root_pem, None, join_channel_options())
    assert anonymous == b"anonymous"
    err = await _denied(cluster.join_port, "AnyNode", root_pem, None)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "needs a node certificate" in err.details()


async def test_joining_node_reads_and_checks_the_root_ca_from_the_handshake(
    cluster: Cluster,
) -> None:
    token = generate_join_token(cluster.root.digest)
    for port in (cluster.join_port, cluster.port):
        presented = await fetch_presented_root("127.0.0.1", port)
        assert verify_presented_root(token, presented).cert == cluster.root.cert
