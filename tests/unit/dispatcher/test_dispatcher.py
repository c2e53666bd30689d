"""Dispatcher core: Ready from heartbeats, Down after missed periods, batched writes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from manager.dispatcher import (
    DOWN_MESSAGE,
    Dispatcher,
    DispatcherNotLeader,
    UnknownNode,
    desired_role,
)
from manager.raft import FakeClock
from manager.store import (
    Cluster,
    ClusterSpec,
    DispatcherConfig,
    EngineDescription,
    NodeDescription,
    NodeRole,
    NodeSpec,
    NodeState,
    NodeStatus,
    PlatformDescription,
    Store,
)
from tests.unit.dispatcher.helpers import GatedProposer, add_node, get, node, running, settle

DESC = NodeDescription(
    hostname="n1",
    platform=PlatformDescription(architecture="x86_64", os="linux"),
    engine=EngineDescription(engine_version="24.0.7", labels={"zone": "a"}),
)


def make(leader: bool = True) -> tuple[Store, FakeClock, Dispatcher]:
    store, clock = Store(), FakeClock()
    return store, clock, Dispatcher(store, clock, is_leader=lambda: leader)


async def test_heartbeat_marks_the_node_ready_with_its_address_and_description() -> None:
    store, _, dispatcher = make()
    await add_node(store, node("n1"))
    async with running(dispatcher):
        period = await dispatcher.heartbeat("n1", "10.0.0.5", DESC)
    assert period == 5.0
    n1 = get(store, "n1")
    assert n1.status == NodeStatus(state=NodeState.READY, message="", addr="10.0.0.5")
    assert n1.description == DESC


async def test_a_heartbeat_without_description_keeps_the_stored_one() -> None:
    store, _, dispatcher = make()
    await add_node(store, node("n1", description=DESC))
    async with running(dispatcher):
        await dispatcher.heartbeat("n1", "10.0.0.5", None)
    assert get(store, "n1").description == DESC


async def test_steady_heartbeats_write_nothing() -> None:
    store, _, dispatcher = make()
    await add_node(store, node("n1"))
    async with running(dispatcher):
        await dispatcher.heartbeat("n1", "10.0.0.5", DESC)
        index = store.index
        for _ in range(3):
            await dispatcher.heartbeat("n1", "10.0.0.5", DESC)
        assert store.index == index


async def test_a_node_that_stops_heartbeating_is_down_after_three_periods_not_before() -> None:
    store, clock, dispatcher = make()
    await add_node(store, node("n1"))
    async with running(dispatcher):
        await dispatcher.heartbeat("n1", "10.0.0.5", DESC)
        clock.advance(14.9)
        await settle()
        assert get(store, "n1").status.state is NodeState.READY
        clock.advance(0.1)
        await settle()
        n1 = get(store, "n1")
        assert n1.status.state is NodeState.DOWN
        assert n1.status.message == DOWN_MESSAGE
        assert n1.status.addr == "10.0.0.5"


async def test_heartbeats_keep_a_node_ready_and_a_down_node_comes_back() -> None:
    store, clock, dispatcher = make()
    await add_node(store, node("n1"))
    async with running(dispatcher):
        for _ in range(10):  # 50 s of heartbeats every period
            await dispatcher.heartbeat("n1", "10.0.0.5", None)
            clock.advance(5)
            await settle()
            assert get(store, "n1").status.state is NodeState.READY
        clock.advance(15)
        await settle()
        assert get(store, "n1").status.state is NodeState.DOWN
        await dispatcher.heartbeat("n1", "10.0.0.5", None)
        assert get(store, "n1").status.state is NodeState.READY


async def test_the_period_comes_from_the_cluster_settings() -> None:
    store, clock, dispatcher = make()
    spec = ClusterSpec(dispatcher=DispatcherConfig(heartbeat_period=timedelta(seconds=2)))
    await store.update(lambda tx: tx.create(Cluster(spec=spec)))
    await add_node(store, node("n1"))
    async with running(dispatcher):
        assert await dispatcher.heartbeat("n1", "10.0.0.5", None) == 2.0
        clock.advance(5.9)
        await settle()
        assert get(store, "n1").status.state is NodeState.READY
        clock.advance(0.1)
        await settle()
        assert get(store, "n1").status.state is NodeState.DOWN


async def test_after_a_leader_change_nodes_get_six_periods() -> None:
    store, clock, dispatcher = make()
    ready = NodeStatus(state=NodeState.READY, addr="10.0.0.5")
    await add_node(store, node("silent", status=ready))
    await add_node(store, node("chatty", status=ready))
    async with running(dispatcher):  # this manager just became leader
        clock.advance(20)
        await settle()
        await dispatcher.heartbeat("chatty", "10.0.0.6", None)  # 3 periods from here: t=35
        clock.advance(9.9)
        await settle()
        assert get(store, "silent").status.state is NodeState.READY
        clock.advance(0.1)  # t=30
        await settle()
        assert get(store, "silent").status.state is NodeState.DOWN
        assert get(store, "chatty").status.state is NodeState.READY
        clock.advance(5)  # t=35
        await settle()
        assert get(store, "chatty").status.state is NodeState.DOWN


async def test_a_node_registered_meanwhile_that_never_heartbeats_goes_down() -> None:
    store, clock, dispatcher = make()
    async with running(dispatcher):
        await add_node(store, node("n9", status=NodeStatus(state=NodeState.READY)))
        clock.advance(5)  # the expiry pass finds it: deadline 3 periods later
        await settle()
        clock.advance(15)
        await settle()
        assert get(store, "n9").status.state is NodeState.DOWN


async def test_status_writes_are_batched() -> None:
    store, _, dispatcher = make()
    proposer = GatedProposer(store)
    for i in range(10):
        await add_node(store, node(f"n{i}"))
    store.attach(proposer)
    async with running(dispatcher):
        proposer.gate.clear()
        first = asyncio.create_task(dispatcher.heartbeat("n0", "10.0.0.1", None))
        await settle()  # its write is in flight, held at the gate
        rest = [
            asyncio.create_task(dispatcher.heartbeat(f"n{i}", f"10.0.0.{i + 1}", None))
            for i in range(1, 10)
        ]
        await settle()
        assert len(proposer.batches) == 1
        proposer.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert [len(b.actions) for b in proposer.batches] == [1, 9]
    assert all(get(store, f"n{i}").status.state is NodeState.READY for i in range(10))


async def test_a_follower_does_not_record_heartbeats() -> None:
    store, _, follower = make(leader=False)
    await add_node(store, node("n1"))
    async with running(follower):
        with pytest.raises(DispatcherNotLeader):
            await follower.heartbeat("n1", "10.0.0.5", None)
    _, _, stopped = make()
    with pytest.raises(DispatcherNotLeader):  # a leader whose dispatcher is not running (yet)
        await stopped.heartbeat("n1", "10.0.0.5", None)
    assert get(store, "n1").status.state is NodeState.UNKNOWN


async def test_an_unknown_node_is_refused() -> None:
    _, _, dispatcher = make()
    async with running(dispatcher):
        with pytest.raises(UnknownNode, match="not part of this cluster"):
            await dispatcher.heartbeat("ghost", "10.0.0.5", None)


@pytest.mark.parametrize(
    ("spec_role", "role", "want"),
    [
        (NodeRole.WORKER, NodeRole.WORKER, NodeRole.WORKER),
        (NodeRole.MANAGER, NodeRole.WORKER, NodeRole.MANAGER),  # promotion: at once
        (NodeRole.WORKER, NodeRole.MANAGER, NodeRole.MANAGER),  # demotion: once out of Raft
        (NodeRole.MANAGER, NodeRole.MANAGER, NodeRole.MANAGER),
    ],
)
def test_desired_role(spec_role: NodeRole, role: NodeRole, want: NodeRole) -> None:
    n = dataclasses.replace(node("n1", role=role), spec=NodeSpec(role=spec_role))
    assert desired_role(n) is want
