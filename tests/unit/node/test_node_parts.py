"""Pure parts of the node lifecycle: the data dir's state file, addresses, Docker's leave
refusal, the authorization table, log lines, and leader forwarding."""

from __future__ import annotations

import asyncio
import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from manager.ca import MANAGER_ROLE, WORKER_ROLE
from manager.ca.service import GET_ROOT_METHOD, ISSUE_METHOD, RENEW_METHOD, addr_host, new_node
from manager.controlapi.forward import LeaderLink, NoLeaderError
from manager.manager import authorization_policy, join_port_addr, new_raft_id
from manager.raft import NotLeader, ProposalLost
from manager.store import NodeRole, NodeState
from shoal.daemon import KeyValueFormatter
from shoal.node import SwarmError, choose_advertise, leave_refusal, split_addr
from shoal.nodestate import DataDir, NodeStateError
from shoal.nodestate import NodeState as SavedState


def test_state_round_trips_and_is_private(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "d")
    assert data.load_state() is None
    state = SavedState(
        node_id="n" * 25,
        cluster_id="c" * 25,
        role="manager",
        listen_addr="0.0.0.0:2377",
        advertise_addr="10.0.0.1:2377",
        raft_id=(1 << 62) + 5,
    ).with_members({(1 << 62) + 5: "10.0.0.1:2377", 7: "10.0.0.2:2377"})
    data.save_state(state)
    assert data.load_state() == state
    assert state.managers == ("10.0.0.1:2377", "10.0.0.2:2377")
    assert stat.S_IMODE(data.state_file.stat().st_mode) == 0o600
    key = data.data_key(create=True)
    assert data.data_key(create=False) == key
    data.wipe()
    assert data.load_state() is None
    with pytest.raises(NodeStateError, match="Raft data key"):
        data.data_key(create=False)


def test_a_damaged_state_file_says_what_to_do(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    data.state_file.write_text("{not json")
    with pytest.raises(NodeStateError, match="join the swarm again"):
        data.load_state()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1", 2377)),
        ("10.0.0.1:4000", ("10.0.0.1", 4000)),
        ("[::1]:4000", ("::1", 4000)),
        ("[::1]", ("::1", 2377)),
    ],
)
def test_split_addr(text: str, expected: tuple[str, int]) -> None:
    assert split_addr(text) == expected


def test_split_addr_refuses_a_bad_port() -> None:
    with pytest.raises(SwarmError, match="invalid port"):
        split_addr("10.0.0.1:http")


@pytest.mark.parametrize(
    ("advertise", "listen", "expected"),
    [
        ("10.0.0.9", "0.0.0.0:2377", "10.0.0.9:2377"),
        ("10.0.0.9:3000", "0.0.0.0:2377", "10.0.0.9:3000"),
        ("", "10.0.0.7:4000", "10.0.0.7:4000"),
        ("", "0.0.0.0:4000", "127.0.0.1:4000"),  # the route toward 127.0.0.1
    ],
)
def test_choose_advertise(advertise: str, listen: str, expected: str) -> None:
    assert choose_advertise(advertise, listen, "127.0.0.1") == expected


@pytest.mark.parametrize(
    ("reachable", "unreachable", "refused"),
    [
        (1, 0, "Removing the last manager erases all current state of the swarm."),
        (2, 1, "Removing this node leaves 1 managers out of 3. Without a Raft quorum"),
        (2, 0, ""),
        (3, 0, ""),
        (3, 2, "Removing this node leaves 2 managers out of 5."),
        (4, 1, ""),
    ],
)
def test_leave_refusal_like_docker(reachable: int, unreachable: int, refused: str) -> None:
    message = leave_refusal(reachable, unreachable)
    if not refused:
        assert message == ""
    else:
        assert message.startswith(
            "You are attempting to leave the swarm on a node that is participating as a manager."
        )
        assert refused in message
        assert "--force" in message


@pytest.mark.parametrize(
    ("method", "role", "allowed"),
    [
        ("/shoal.raft.Raft/Stream", MANAGER_ROLE, True),
        ("/shoal.raft.Raft/Stream", WORKER_ROLE, False),
        ("/shoal.control.Control/ListNodes", WORKER_ROLE, False),
        ("/shoal.control.Control/ListNodes", MANAGER_ROLE, True),
        ("/shoal.node.RaftMembership/Join", WORKER_ROLE, False),
        (RENEW_METHOD, WORKER_ROLE, True),
        ("/shoal.dispatcher.Dispatcher/Heartbeat", WORKER_ROLE, True),
    ],
)
def test_authorization_table(method: str, role: str, allowed: bool) -> None:
    roles = authorization_policy().roles_for(method)
    assert roles is not None
    assert (role in roles) is allowed


def test_joining_nodes_reach_only_the_ca() -> None:
    policy = authorization_policy()
    assert policy.is_unauthenticated(ISSUE_METHOD)
    assert policy.is_unauthenticated(GET_ROOT_METHOD)
    assert not policy.is_unauthenticated(RENEW_METHOD)
    assert policy.roles_for("/shoal.unknown.Service/Method") is None  # refused: fail closed


def test_ports_ids_and_new_nodes() -> None:
    assert join_port_addr("10.0.0.1:2377") == "10.0.0.1:2378"
    assert 0 < new_raft_id() < 1 << 63
    assert addr_host("[::1]:2377") == "::1"
    node = new_node("abc", MANAGER_ROLE, hostname="h", advertise_addr="10.0.0.1:2377")
    assert node.role is NodeRole.MANAGER and node.spec.role is NodeRole.MANAGER
    assert node.status.state is NodeState.UNKNOWN and node.status.addr == "10.0.0.1"
    assert node.manager_status is not None and node.manager_status.addr == "10.0.0.1:2377"
    worker = new_node("def", WORKER_ROLE, hostname="h", advertise_addr="10.0.0.2:2377")
    assert worker.manager_status is None


def test_log_lines_are_key_value_with_the_node_id() -> None:
    formatter = KeyValueFormatter(lambda: "node1")
    record = logging.LogRecord("shoal.node", logging.INFO, "", 0, 'joined "x"\nnext', (), None)
    record.created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    line = formatter.format(record)
    assert "\n" not in line
    assert line == (
        "ts=2025-01-02T03:04:05.000000Z level=info logger=shoal.node node_id=node1 "
        'msg="joined \\"x\\"\\nnext"'
    )


class FakeRaft:
    def __init__(self, node_id: int, leader: int, members: dict[int, str]) -> None:
        self.node_id = node_id
        self.leader = leader
        self.members = members
        self.applied_forwarded = asyncio.Event()  # set: this member has caught up
        self.barriers = 0
        self.barrier_error: Exception | None = None

    async def read_barrier(self) -> None:
        self.barriers += 1
        if self.barrier_error is not None:
            raise self.barrier_error
        await self.applied_forwarded.wait()


class FakeChannel:
    def __init__(self, addr: str) -> None:
        self.addr = addr

    async def close(self) -> None:
        pass


async def test_leader_link_forwards_what_the_follower_cannot_do() -> None:
    raft = FakeRaft(1, 2, {1: "a:1", 2: "b:1"})
    link = LeaderLink(raft, connect=FakeChannel)
    calls: list[str] = []

    async def local() -> str:
        calls.append("local")
        raise NotLeader(2)

    async def remote(channel: FakeChannel) -> str:
        return f"forwarded to {channel.addr}"

    raft.applied_forwarded.set()
    assert await link.call(local, remote) == "forwarded to b:1"
    assert calls == ["local"]
    with pytest.raises(NotLeader):  # a forwarded call is never forwarded again
        await link.call(local, remote, forwarded=True)


async def test_a_forwarded_write_returns_once_this_manager_has_applied_it() -> None:
    raft = FakeRaft(1, 2, {1: "a:1", 2: "b:1"})
    link = LeaderLink(raft, connect=FakeChannel)

    async def local() -> str:
        raise NotLeader(2)

    async def remote(channel: FakeChannel) -> str:
        return "written"

    call = asyncio.create_task(link.call(local, remote))
    for _ in range(5):
        await asyncio.sleep(0)
    assert raft.barriers == 1 and not call.done()  # the follower's store may lack the write
    raft.applied_forwarded.set()
    assert await call == "written"


@pytest.mark.parametrize("failure", [ProposalLost("leader changed"), TimeoutError()])
async def test_a_failed_barrier_does_not_fail_the_write_that_was_made(failure: Exception) -> None:
    raft = FakeRaft(1, 2, {1: "a:1", 2: "b:1"})
    raft.barrier_error = failure
    link = LeaderLink(raft, connect=FakeChannel)

    async def local() -> str:
        raise NotLeader(2)

    async def remote(channel: FakeChannel) -> str:
        return "written"

    assert await link.call(local, remote) == "written"


async def test_reads_are_local_and_no_leader_is_unavailable_within_the_wait() -> None:
    raft = FakeRaft(1, 2, {1: "a:1", 2: "b:1"})
    link = LeaderLink(raft, connect=FakeChannel, wait=0.2, poll=0.01)

    async def read() -> str:
        return "local"

    async def remote(channel: object) -> str:
        raise AssertionError("a read must not be forwarded")

    assert await link.call(read, remote) == "local"
    raft.leader = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(NoLeaderError):
        await link.call(read, remote)
    assert 0.2 <= loop.time() - start < 1.0


async def test_an_unreachable_leader_is_retried_until_the_wait_ends() -> None:
    raft = FakeRaft(1, 2, {1: "a:1", 2: "b:1"})
    link = LeaderLink(raft, connect=FakeChannel, wait=0.1, poll=0.01)
    attempts = 0

    async def local() -> str:
        raise NotLeader(2)

    async def remote(channel: object) -> str:
        nonlocal attempts
        attempts += 1
        raise _Unavailable()

    with pytest.raises(NoLeaderError):
        await link.call(local, remote)
    assert attempts > 1


class _Unavailable(grpc.aio.AioRpcError):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="connection refused",
        )
