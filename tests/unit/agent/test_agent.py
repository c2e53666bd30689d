"""Agent: heartbeats that follow the leader and fail over, through the generated stub over a
fake channel (no network), with a fake clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import grpc

from manager.dispatcher import wire
from manager.raft import FakeClock
from manager.store import NodeDescription, NodeRole
from proto import dispatcher_pb2
from tests.unit.dispatcher.helpers import running, settle
from worker.agent import Agent

M1, M2, M3 = "10.0.0.1:2377", "10.0.0.2:2377", "10.0.0.3:2377"
Handler = Callable[[dispatcher_pb2.HeartbeatRequest], dispatcher_pb2.HeartbeatResponse]


class FakeNetwork:
    """Managers by address; an address without a handler is unreachable."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.calls: list[tuple[str, dispatcher_pb2.HeartbeatRequest]] = []
        self.closed: list[str] = []

    def connect(self, address: str) -> FakeChannel:
        return FakeChannel(self, address)

    @property
    def targets(self) -> list[str]:
        return [address for address, _ in self.calls]


class FakeChannel:
    def __init__(self, network: FakeNetwork, address: str) -> None:
        self._network = network
        self._address = address

    def unary_stream(self, method: str, **_: Any) -> Any:
        return None  # the generated stub makes every method; these tests only heartbeat

    def stream_unary(self, method: str, **_: Any) -> Any:
        return None  # PublishLogs (service logs), unused here

    def unary_unary(
        self, method: str, request_serializer: Any, response_deserializer: Any, **_: Any
    ) -> Any:
        if method != wire.HEARTBEAT_METHOD:
            return None

        async def call(request: Any, **__: Any) -> Any:  # grpc passes timeout= too
            wire_request = dispatcher_pb2.HeartbeatRequest.FromString(request_serializer(request))
            self._network.calls.append((self._address, wire_request))
            handler = self._network.handlers.get(self._address)
            if handler is None:
                raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, details="connect failed")
            return response_deserializer(handler(wire_request).SerializeToString())

        return call

    async def close(self) -> None:
        self._network.closed.append(self._address)


def leader(
    managers: list[str] | None = None, role: NodeRole = NodeRole.WORKER, period: float = 5.0
) -> Handler:
    return lambda _req: wire.accepted_response(
        period=period, leader_addr=M2, managers=managers or [M1, M2], desired_role=role
    )


def follower(leader_addr: str) -> Handler:
    return lambda _req: wire.redirect_response(leader_addr=leader_addr, managers=[M1, M2])


DESC = NodeDescription(hostname="n1")


def make_agent(network: FakeNetwork, clock: FakeClock, **kwargs: Any) -> Agent:
    async def describe() -> NodeDescription:
        return DESC

    return Agent(
        node_id="n1",
        managers=[M1, M2],
        connect=network.connect,
        describe=describe,
        clock=clock,
        rng=random.Random(1),
        **kwargs,
    )


async def test_the_agent_follows_the_leader_address_a_follower_gives() -> None:
    network, clock = FakeNetwork(), FakeClock()
    network.handlers = {M1: follower(M2), M2: leader()}
    agent = make_agent(network, clock)
    async with running(agent):
        assert network.targets == [M1, M2]  # no backoff on a redirect
        assert agent.manager == M2
        clock.advance(5)
        await settle()
        assert network.targets == [M1, M2, M2]
    assert network.closed == [M1, M2]


async def test_the_description_goes_with_the_first_heartbeat_to_each_manager() -> None:
    network, clock = FakeNetwork(), FakeClock()
    network.handlers = {M1: follower(M2), M2: leader()}
    async with running(make_agent(network, clock)):
        clock.advance(5)
        await settle()
    sent = [(a, r.HasField("description")) for a, r in network.calls]
    assert sent == [(M1, True), (M2, True), (M2, False)]
    assert all(r.node_id == "n1" for _, r in network.calls)


async def test_the_agent_fails_over_to_the_next_manager_with_backoff() -> None:
    network, clock = FakeNetwork(), FakeClock()
    network.handlers = {M1: leader(managers=[M1, M2])}
    agent = make_agent(network, clock, backoff_initial=1.0)
    async with running(agent):
        assert network.targets == [M1]
        del network.handlers[M1]  # M1 dies; M2 becomes the leader
        network.handlers[M2] = leader(managers=[M1, M2])
        clock.advance(5)
        await settle()
        assert network.targets == [M1, M1]  # failed: backing off (0.5 s to 1 s)
        clock.advance(0.49)
        await settle()
        assert network.targets == [M1, M1]
        clock.advance(0.51)
        await settle()
        assert network.targets == [M1, M1, M2]
        assert agent.manager == M2


async def test_with_no_manager_reachable_the_agent_keeps_trying_them_in_turn() -> None:
    network, clock = FakeNetwork(), FakeClock()
    agent = make_agent(network, clock, backoff_initial=1.0, backoff_max=4.0)
    async with running(agent):
        for _ in range(6):
            clock.advance(4)
            await settle()
    assert network.targets[:7] == [M1, M2, M1, M2, M1, M2, M1]


async def test_managers_and_desired_role_changes_are_reported() -> None:
    network, clock = FakeNetwork(), FakeClock()
    network.handlers = {M1: leader(managers=[M1, M2, M3], role=NodeRole.MANAGER)}
    seen_managers: list[list[str]] = []
    roles: list[str] = []

    async def on_desired_role(role: str) -> None:
        roles.append(role)

    agent = make_agent(
        network, clock, on_managers=seen_managers.append, on_desired_role=on_desired_role
    )
    async with running(agent):
        assert agent.role == "manager"
        clock.advance(5)
        await settle()
        assert len(network.calls) == 2
    assert seen_managers == [[M1, M2, M3]]
    assert roles == ["manager"]  # once: the role counts as changed when the callback returned
    assert agent.managers == [M1, M2, M3]


async def test_a_failed_role_change_is_asked_again() -> None:
    network, clock = FakeNetwork(), FakeClock()
    network.handlers = {M1: leader(role=NodeRole.MANAGER)}
    attempts: list[str] = []

    async def on_desired_role(role: str) -> None:
        attempts.append(role)
        if len(attempts) == 1:
            raise RuntimeError("certificate renewal failed")

    agent = make_agent(network, clock, on_desired_role=on_desired_role)
    async with running(agent):
        assert agent.role == "worker"
        clock.advance(5)
        await settle()
        assert agent.role == "manager"
    assert attempts == ["manager", "manager"]
