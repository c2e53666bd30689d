"""The Dispatcher servicer: identity from the certificate, redirects from followers."""

from __future__ import annotations

import dataclasses
from typing import NoReturn

import grpc
import pytest

from manager.ca import WORKER_ROLE, NodeIdentity
from manager.dispatcher import Dispatcher, DispatcherServicer, peer_host, wire
from manager.raft import FakeClock
from manager.store import NodeDescription, NodeRole, NodeSpec, NodeState, Store
from proto import dispatcher_pb2
from tests.unit.dispatcher.helpers import add_node, get, node, running

LEADER = "10.0.0.1:2377"
MANAGERS = ["10.0.0.1:2377", "10.0.0.2:2377", "10.0.0.3:2377"]


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FakeContext:
    def __init__(self, peer: str = "ipv4:10.0.0.9:40000") -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details)


def servicer(store: Store, *, leader: bool, caller: str | None = "n1") -> DispatcherServicer:
    dispatcher = Dispatcher(store, FakeClock(), is_leader=lambda: leader)
    identity = None if caller is None else NodeIdentity(caller, WORKER_ROLE, "cluster")
    return DispatcherServicer(
        dispatcher,
        leader_addr=lambda: LEADER,
        managers=lambda: list(MANAGERS),
        identify=lambda: identity,
    )


def request(node_id: str = "", addr: str = "") -> dispatcher_pb2.HeartbeatRequest:
    return wire.heartbeat_request(node_id, addr, NodeDescription(hostname="n1"))


async def test_the_leader_records_the_heartbeat_of_the_certificates_node() -> None:
    store = Store()
    await add_node(store, node("n1"))
    svc = servicer(store, leader=True)
    async with running(svc._dispatcher):
        response = await svc.Heartbeat(request(), FakeContext())
    reply = wire.decode_reply(response)
    assert reply == wire.HeartbeatReply(
        accepted=True,
        period=5.0,
        leader_addr=LEADER,
        managers=tuple(MANAGERS),
        desired_role=NodeRole.WORKER,
    )
    n1 = get(store, "n1")
    assert (n1.status.state, n1.status.addr) == (NodeState.READY, "10.0.0.9")  # the peer's IP
    assert n1.description.hostname == "n1"


async def test_a_node_cannot_report_for_another_node() -> None:
    store = Store()
    await add_node(store, node("n1"))
    await add_node(store, node("n2"))
    svc = servicer(store, leader=True, caller="n1")
    async with running(svc._dispatcher):
        with pytest.raises(Aborted) as err:
            await svc.Heartbeat(request(node_id="n2"), FakeContext())
    assert err.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert err.value.details == "node n1 cannot report for node n2"
    assert get(store, "n2").status.state is NodeState.UNKNOWN


async def test_a_caller_without_identity_is_refused() -> None:
    svc = servicer(Store(), leader=True, caller=None)
    with pytest.raises(Aborted) as err:
        await svc.Heartbeat(request(), FakeContext())
    assert err.value.code is grpc.StatusCode.UNAUTHENTICATED


async def test_a_follower_answers_with_the_leaders_address() -> None:
    store = Store()
    await add_node(store, node("n1"))
    svc = servicer(store, leader=False)
    response = await svc.Heartbeat(request(addr="10.0.0.7"), FakeContext())
    reply = wire.decode_reply(response)
    assert (reply.accepted, reply.leader_addr, reply.managers) == (False, LEADER, tuple(MANAGERS))
    assert reply.desired_role is None
    assert get(store, "n1").status.state is NodeState.UNKNOWN


async def test_a_removed_node_is_told_so() -> None:
    svc = servicer(Store(), leader=True)
    async with running(svc._dispatcher):
        with pytest.raises(Aborted) as err:
            await svc.Heartbeat(request(), FakeContext())
    assert err.value.code is grpc.StatusCode.NOT_FOUND


async def test_a_promoted_node_is_told_its_desired_role() -> None:
    store = Store()
    await add_node(store, dataclasses.replace(node("n1"), spec=NodeSpec(role=NodeRole.MANAGER)))
    svc = servicer(store, leader=True)
    async with running(svc._dispatcher):
        response = await svc.Heartbeat(request(addr="10.0.0.7"), FakeContext())
    assert response.desired_role == "manager"
    assert get(store, "n1").status.addr == "10.0.0.7"


@pytest.mark.parametrize(
    ("peer", "host"),
    [("ipv4:10.0.0.2:51234", "10.0.0.2"), ("ipv6:[::1]:5000", "::1"), ("unix:/x.sock", "")],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host
