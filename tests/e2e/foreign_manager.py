"""A manager of some other cluster, listening where a joining node looks for one.

    python foreign_manager.py HOST PORT

Serves NodeCA on HOST:PORT+1 (the join port of a "manager" at HOST:PORT) with a root CA of its
own and a manager certificate from it, as a real manager would (so a joining node that skipped
its digest check would go on to send its token here). Prints `ready <root CA digest hex>`, then
one `token <token>` line for every IssueNodeCertificate it receives (refusing it), and exits
when its stdin closes. The e2e test runs it in a lab node with `shoal-lab exec`.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import grpc

from manager.ca import (
    MANAGER_ROLE,
    NodeCredentials,
    create_root_ca,
    join_server_credentials,
    make_csr,
    new_node_key,
)
from proto import node_pb2, node_pb2_grpc


class RecordingNodeCA(node_pb2_grpc.NodeCAServicer):
    def __init__(self, root_pem: bytes) -> None:
        self.root_pem = root_pem

    async def GetRootCACertificate(
        self, request: node_pb2.GetRootCACertificateRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.GetRootCACertificateResponse:
        return node_pb2.GetRootCACertificateResponse(certificate=self.root_pem)

    async def IssueNodeCertificate(
        self, request: node_pb2.IssueNodeCertificateRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.IssueNodeCertificateResponse:
        print(f"token {request.token}", flush=True)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "foreign manager")
        raise AssertionError("unreachable")


async def serve(host: str, port: int) -> None:
    now = datetime.now(UTC)
    root = create_root_ca(now)
    key = new_node_key()
    cert = root.issue(
        make_csr(key), node_id="foreign", role=MANAGER_ROLE, cluster_id="foreign", now=now
    )
    creds = NodeCredentials(key=key, cert=cert, root_ca=root.cert)
    server = grpc.aio.server()
    node_pb2_grpc.add_NodeCAServicer_to_server(RecordingNodeCA(root.cert_pem), server)  # type: ignore[no-untyped-call]
    server.add_secure_port(f"{host}:{port + 1}", join_server_credentials(creds))
    await server.start()
    print(f"ready {root.digest.hex()}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    await server.stop(None)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
