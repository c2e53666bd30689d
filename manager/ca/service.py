"""The CA and Raft-membership gRPC services (proto/node.proto): how a node gets its
certificate, and how a manager gets its seat in Raft.

    joining node ── IssueNodeCertificate(token, csr, hostname, addr) ──▶ any manager
                                   (a follower forwards to the leader: it writes to the store)
        leader: JoinTokens.check(token) -> role          (constant time; refused: INVALID_ARGUMENT)
                root CA from the Cluster object (cert + key) ─▶ issue(csr, new node id, role)
                store: create Node(role, hostname, addr, status unknown)
        ◀── node id, certificate, root CA, cluster id, role, managers (+ Raft members)

    new manager ── RaftMembership.Join(raft id, addr) ──▶ leader: driver.add_member
                   (learner until caught up, then voter); Node.manager_status = (raft id, addr)
        ◀── members (raft id -> addr)

Thin servicers over small core functions; the leader is found by manager.controlapi.forward.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from manager.ca.authz import current_node
from manager.ca.certificates import RootCA, load_root_ca
from manager.ca.errors import CAError, CertificateRequestError, InvalidJoinToken, JoinTokenRejected
from manager.ca.roles import MANAGER_ROLE, Role
from manager.ca.tokens import JoinTokens
from manager.controlapi.forward import (
    FORWARD_METADATA,
    FORWARD_TIMEOUT,
    LeaderLink,
    NoLeaderError,
    abort_for,
    was_forwarded,
)
from manager.raft import ConfChangeInProgress, NotLeader, ProposalLost
from manager.store import (
    Cluster,
    ManagerStatus,
    Node,
    NodeAvailability,
    NodeDescription,
    NodeRole,
    NodeSpec,
    NodeState,
    NodeStatus,
    PlatformDescription,
    Reachability,
    Store,
    WriteTx,
    new_id,
)
from proto import node_pb2, node_pb2_grpc

NODE_CA_SERVICE = "shoal.node.NodeCA"
RAFT_MEMBERSHIP_SERVICE = "shoal.node.RaftMembership"
ISSUE_METHOD = f"/{NODE_CA_SERVICE}/IssueNodeCertificate"
GET_ROOT_METHOD = f"/{NODE_CA_SERVICE}/GetRootCACertificate"
RENEW_METHOD = f"/{NODE_CA_SERVICE}/RenewNodeCertificate"

Clock = Callable[[], datetime]


class RaftMembers(Protocol):
    """What the services use of the Raft driver."""

    @property
    def node_id(self) -> int: ...

    @property
    def members(self) -> dict[int, str]: ...

    async def add_member(self, node_id: int, address: str) -> None: ...

    async def remove_member(self, node_id: int) -> None: ...


# -- core --------------------------------------------------------------------------------------


def node_role(role: Role) -> NodeRole:
    return NodeRole.MANAGER if role == MANAGER_ROLE else NodeRole.WORKER


def cert_role(role: NodeRole) -> Role:
    return MANAGER_ROLE if role is NodeRole.MANAGER else "swarm-worker"


def cluster_root_ca(cluster: Cluster) -> RootCA:
    """The signing root CA kept in the Cluster object."""
    if not cluster.root_ca.ca_cert or not cluster.root_ca.ca_key:
        raise CertificateRequestError(
            "the cluster object holds no root CA key; this manager cannot issue certificates"
        )
    return load_root_ca(cluster.root_ca.ca_cert, cluster.root_ca.ca_key)


def token_role(cluster: Cluster, token: str) -> Role:
    tokens = cluster.root_ca.join_tokens
    return JoinTokens(worker=tokens.worker, manager=tokens.manager).check(token)


def addr_host(addr: str) -> str:
    """ "10.0.0.1:2377" -> "10.0.0.1" ("[::1]:2377" -> "::1")."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        return addr
    return host.strip("[]")


def new_node(
    node_id: str,
    role: Role,
    *,
    hostname: str,
    advertise_addr: str,
    os: str = "",
    architecture: str = "",
) -> Node:
    """The Node object of a node that just got its first certificate: its status stays
    unknown until the dispatcher hears from it."""
    r = node_role(role)
    return Node(
        id=node_id,
        spec=NodeSpec(role=r, availability=NodeAvailability.ACTIVE),
        description=NodeDescription(
            hostname=hostname, platform=PlatformDescription(architecture=architecture, os=os)
        ),
        status=NodeStatus(state=NodeState.UNKNOWN, addr=addr_host(advertise_addr)),
        manager_status=ManagerStatus(addr=advertise_addr) if r is NodeRole.MANAGER else None,
        role=r,
    )


def manager_addresses(members: Mapping[int, str]) -> list[str]:
    return sorted(set(members.values()))


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _status(error: CAError) -> grpc.StatusCode:
    if isinstance(error, InvalidJoinToken | JoinTokenRejected | CertificateRequestError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.FAILED_PRECONDITION


# -- NodeCA ------------------------------------------------------------------------------------


class NodeCAServicer(node_pb2_grpc.NodeCAServicer):
    def __init__(
        self,
        *,
        store: Store,
        raft: RaftMembers,
        link: LeaderLink,
        root_ca_pem: Callable[[], bytes],
        clock: Clock,
    ) -> None:
        self._store = store
        self._raft = raft
        self._link = link
        self._root_ca_pem = root_ca_pem
        self._clock = clock

    async def GetRootCACertificate(
        self, request: node_pb2.GetRootCACertificateRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.GetRootCACertificateResponse:
        return node_pb2.GetRootCACertificateResponse(certificate=self._root_ca_pem())

    async def IssueNodeCertificate(
        self, request: node_pb2.IssueNodeCertificateRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.IssueNodeCertificateResponse:
        async def remote(channel: grpc.aio.Channel) -> node_pb2.IssueNodeCertificateResponse:
            stub = node_pb2_grpc.NodeCAStub(channel)  # type: ignore[no-untyped-call]
            response: node_pb2.IssueNodeCertificateResponse = await stub.IssueNodeCertificate(
                request, metadata=FORWARD_METADATA, timeout=FORWARD_TIMEOUT
            )
            return response

        try:
            return await self._link.call(
                lambda: self._issue(request), remote, forwarded=was_forwarded(context)
            )
        except CAError as e:
            await context.abort(_status(e), str(e))
        except (NoLeaderError, NotLeader, ProposalLost, grpc.aio.AioRpcError) as e:
            await abort_for(context, e)
        raise AssertionError("unreachable")

    async def _issue(
        self, request: node_pb2.IssueNodeCertificateRequest
    ) -> node_pb2.IssueNodeCertificateResponse:
        cluster = self._store.view().cluster()
        if cluster is None:
            raise CertificateRequestError("this manager has no cluster object yet; retry")
        role = token_role(cluster, request.token)
        root = cluster_root_ca(cluster)
        node_id = new_id()
        cert = root.issue(
            request.csr,
            node_id=node_id,
            role=role,
            cluster_id=cluster.id,
            now=self._clock(),
            validity=cluster.spec.ca_config.node_cert_expiry,
        )
        node = new_node(
            node_id,
            role,
            hostname=request.hostname,
            advertise_addr=request.advertise_addr,
            os=request.os,
            architecture=request.architecture,
        )
        await self._store.update(lambda tx: tx.create(node))
        members = self._raft.members
        return node_pb2.IssueNodeCertificateResponse(
            node_id=node_id,
            certificate=pem(cert),
            root_ca=root.cert_pem,
            cluster_id=cluster.id,
            role="manager" if role == MANAGER_ROLE else "worker",
            managers=manager_addresses(members),
            raft_members=members if role == MANAGER_ROLE else {},
        )

    async def RenewNodeCertificate(
        self, request: node_pb2.RenewNodeCertificateRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.RenewNodeCertificateResponse:
        caller = current_node()
        view = self._store.view()
        cluster = view.cluster()
        node = view.get(Node, caller.node_id) if caller is not None else None
        if caller is None or cluster is None or node is None:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "renewal needs a current node certificate of a node this cluster knows",
            )
        assert caller is not None and cluster is not None and node is not None
        try:
            root = cluster_root_ca(cluster)
            cert = root.issue(
                request.csr,
                node_id=caller.node_id,
                role=cert_role(node.spec.role),
                cluster_id=cluster.id,
                now=self._clock(),
                validity=cluster.spec.ca_config.node_cert_expiry,
            )
        except CAError as e:
            await context.abort(_status(e), str(e))
            raise
        return node_pb2.RenewNodeCertificateResponse(
            certificate=pem(cert), root_ca=root.cert_pem, role=node.spec.role.value
        )


# -- RaftMembership ----------------------------------------------------------------------------


JOIN_TIMEOUT = 60.0


class RaftMembershipServicer(node_pb2_grpc.RaftMembershipServicer):
    def __init__(self, *, store: Store, raft: RaftMembers, link: LeaderLink) -> None:
        self._store = store
        self._raft = raft
        self._link = link

    async def Join(
        self, request: node_pb2.JoinRaftRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.JoinRaftResponse:
        caller = current_node()
        if caller is None or request.raft_id <= 0 or not request.addr:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "a Raft join needs a manager certificate, a positive raft id and an address",
            )
        assert caller is not None
        if not was_forwarded(context):
            # The first manager to see the call vouches for whom it is (the certificate's CN).
            request.node_id = caller.node_id

        async def local() -> node_pb2.JoinRaftResponse:
            await self._add(request.node_id, request.raft_id, request.addr)
            return node_pb2.JoinRaftResponse(members=self._raft.members)

        async def remote(channel: grpc.aio.Channel) -> node_pb2.JoinRaftResponse:
            stub = node_pb2_grpc.RaftMembershipStub(channel)  # type: ignore[no-untyped-call]
            response: node_pb2.JoinRaftResponse = await stub.Join(
                request, metadata=FORWARD_METADATA, timeout=FORWARD_TIMEOUT
            )
            return response

        response: node_pb2.JoinRaftResponse = await self._forward(local, remote, context)
        return response

    async def GetMembers(
        self, request: node_pb2.GetMembersRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.JoinRaftResponse:
        return node_pb2.JoinRaftResponse(members=self._raft.members)

    async def Leave(
        self, request: node_pb2.LeaveRaftRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.LeaveRaftResponse:
        async def local() -> node_pb2.LeaveRaftResponse:
            await self._remove(request.raft_id)
            return node_pb2.LeaveRaftResponse()

        async def remote(channel: grpc.aio.Channel) -> node_pb2.LeaveRaftResponse:
            stub = node_pb2_grpc.RaftMembershipStub(channel)  # type: ignore[no-untyped-call]
            response: node_pb2.LeaveRaftResponse = await stub.Leave(
                request, metadata=FORWARD_METADATA, timeout=FORWARD_TIMEOUT
            )
            return response

        done: node_pb2.LeaveRaftResponse = await self._forward(local, remote, context)
        return done

    async def _forward(self, local: Any, remote: Any, context: grpc.aio.ServicerContext) -> Any:
        # Any: this serves both Join and Leave.
        try:
            return await self._link.call(local, remote, forwarded=was_forwarded(context))
        except (NoLeaderError, NotLeader, ProposalLost, grpc.aio.AioRpcError) as e:
            await abort_for(context, e)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the Raft membership change did not finish in time; retry",
            )

    async def _add(self, node_id: str, raft_id: int, addr: str) -> None:
        if not self._link.is_leader:
            raise NotLeader(0)  # before changing anything: the leader does it
        if raft_id not in self._raft.members:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await _retry_conf_change(lambda: self._raft.add_member(raft_id, addr))

        def record(tx: WriteTx) -> None:
            node = tx.get(Node, node_id)
            if node is None:
                return
            status = ManagerStatus(raft_id=raft_id, addr=addr, reachability=Reachability.REACHABLE)
            tx.update(dataclasses.replace(node, manager_status=status, role=NodeRole.MANAGER))

        await self._store.update(record)

    async def _remove(self, raft_id: int) -> None:
        if not self._link.is_leader:
            raise NotLeader(0)
        if raft_id in self._raft.members:
            async with asyncio.timeout(JOIN_TIMEOUT):
                await _retry_conf_change(lambda: self._raft.remove_member(raft_id))

        def record(tx: WriteTx) -> None:
            for node in tx.all(Node):
                if node.manager_status is not None and node.manager_status.raft_id == raft_id:
                    tx.update(
                        dataclasses.replace(
                            node,
                            manager_status=None,
                            role=NodeRole.WORKER,
                            spec=dataclasses.replace(node.spec, role=NodeRole.WORKER),
                            status=dataclasses.replace(
                                node.status, state=NodeState.DOWN, message="node left the swarm"
                            ),
                        )
                    )

        await self._store.update(record)


async def _retry_conf_change(change: Callable[[], Any]) -> None:
    # One membership change at a time: wait for another join or leave to finish.
    while True:
        try:
            await change()
            return
        except ConfChangeInProgress:
            await asyncio.sleep(0.1)
