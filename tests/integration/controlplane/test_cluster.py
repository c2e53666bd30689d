"""A real cluster of shoald processes on 127.0.0.1: init, join (managers and a worker),
forwarding, failover, restarts, refused joins, role checks on the cluster port, leave."""

from __future__ import annotations

from functools import partial

import grpc
import pytest

from manager.ca import CredentialStore, channel_credentials, channel_options
from manager.controlapi.forward import WORKER_MESSAGE
from proto import control_pb2, control_pb2_grpc
from tests.integration.controlplane.harness import Cluster, Daemon, leader_of, wait_for

pytestmark = pytest.mark.integration


async def three_managers_one_worker(cluster: Cluster) -> tuple[list[Daemon], Daemon]:
    m1, m2, m3, w1 = (cluster.add(n) for n in ("m1", "m2", "m3", "w1"))
    await cluster.init(m1)
    assert (await cluster.join(m2, m1, cluster.manager_token)).role == "manager"
    # through a follower: it forwards the certificate request and the Raft join to the leader
    assert (await cluster.join(m3, m2, cluster.manager_token)).role == "manager"
    assert (await cluster.join(w1, m3, cluster.worker_token)).role == "worker"
    return [m1, m2, m3], w1


async def all_ready(managers: list[Daemon], count: int) -> bool:
    for m in managers:
        nodes = await m.nodes()
        if len(nodes) != count or any(n.status.state != "ready" for n in nodes):
            return False
    return True


async def test_cluster_forms_forwards_fails_over_and_restarts(cluster: Cluster) -> None:
    managers, worker = await three_managers_one_worker(cluster)
    m1, m2, m3 = managers
    await wait_for("4 ready nodes on every manager", lambda: all_ready(managers, 4))
    roles = sorted(n.role for n in await m3.nodes())
    assert roles == ["manager", "manager", "manager", "worker"]
    ids = {d.name: (await d.info()).node_id for d in [*managers, worker]}

    # a write on a follower reaches the leader and every manager
    leader_id = await leader_of(m1)
    assert leader_id == ids["m1"]
    await m2.create_secret("from-a-follower")
    for m in managers:
        await wait_for(f"the secret on {m.name}", partial(_has, m, "from-a-follower"))

    # the worker's local socket serves no cluster state
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await worker.nodes()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == WORKER_MESSAGE

    # SIGKILL the leader: another manager leads, with everything in place
    m1.kill()

    async def new_leader() -> bool:
        return (await leader_of(m2)) not in ("", ids["m1"])

    await wait_for("a new leader", new_leader, within=15)
    assert "from-a-follower" in await m3.secrets()
    await m3.create_secret("after-failover")

    # the killed manager comes back as the same node and catches up
    m1.start()
    await wait_for("m1 to catch up", lambda: _has(m1, "after-failover"))
    assert (await m1.info()).node_id == ids["m1"]
    await m1.create_secret("from-the-restarted-one")
    await wait_for("m2 sees m1's write", lambda: _has(m2, "from-the-restarted-one"))

    # every manager at once, and the worker: nothing is lost
    for d in [*managers, worker]:
        d.kill()
    for d in [*managers, worker]:
        d.start()
    expected = {"from-a-follower", "after-failover", "from-the-restarted-one"}
    for m in managers:
        await wait_for(f"{m.name} back with every secret", partial(_has_all, m, expected))
    assert (await worker.info()).node_id == ids["w1"]
    await wait_for("4 ready nodes again", lambda: all_ready(managers, 4))
    await m2.create_secret("after-restart")


async def test_joins_with_a_wrong_token_are_refused(cluster: Cluster) -> None:
    m1, other, bad = cluster.add("m1"), cluster.add("other"), cluster.add("bad")
    await cluster.init(m1)
    await cluster.init(other)  # another cluster: its tokens carry another CA digest
    foreign_token = cluster.worker_token
    cluster.worker_token = ""
    own = await m1.control(lambda c: c.GetCluster(control_pb2.Empty(), timeout=10))
    right_digest = own.root_ca.join_tokens.worker

    # the digest matches m1's CA, the secret is wrong: m1 refuses
    wrong_secret = right_digest[:-25] + "0" * 25
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await cluster.join(bad, m1, wrong_secret)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not valid for this cluster" in (refused.value.details() or "")

    # a token for another CA: refused by the joining node itself, before it sends anything
    with pytest.raises(grpc.aio.AioRpcError) as mismatch:
        await cluster.join(bad, m1, foreign_token)
    assert mismatch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the manager's CA does not match the token" in (mismatch.value.details() or "")

    assert len(await m1.nodes()) == 1  # no node was admitted
    assert (await bad.info()).local_node_state == "inactive"


async def test_a_worker_certificate_cannot_call_control_or_raft(cluster: Cluster) -> None:
    m1, w1 = cluster.add("m1"), cluster.add("w1")
    await cluster.init(m1)
    await cluster.join(w1, m1, cluster.worker_token)
    creds = CredentialStore(w1.data_dir / "certificates").load()
    channel = grpc.aio.secure_channel(
        m1.addr, channel_credentials(creds.root_ca_pem, creds), options=channel_options()
    )
    async with channel:
        stub = control_pb2_grpc.ControlStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ListNodes(control_pb2.ListRequest(), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "has role swarm-worker" in (denied.value.details() or "")


async def test_leave(cluster: Cluster) -> None:
    m1, m2, w1 = cluster.add("m1"), cluster.add("m2"), cluster.add("w1")
    await cluster.init(m1)
    await cluster.join(m2, m1, cluster.manager_token)
    await cluster.join(w1, m1, cluster.worker_token)

    # a worker leaves at once
    await w1.swarm(lambda s: s.Leave(control_pb2.LeaveRequest(), timeout=30))
    assert (await w1.info()).local_node_state == "inactive"

    # a manager of two leaves Raft; the other keeps the swarm going alone
    m2_id = (await m2.info()).node_id
    await m2.swarm(lambda s: s.Leave(control_pb2.LeaveRequest(), timeout=30))
    assert (await m2.info()).local_node_state == "inactive"
    assert list((await m1.info()).remote_managers) == [m1.addr]
    left = [n for n in await m1.nodes() if n.id == m2_id]
    assert left[0].role == "worker"
    await m1.create_secret("still-writable")

    # the last manager refuses without --force, and says why
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await m1.swarm(lambda s: s.Leave(control_pb2.LeaveRequest(), timeout=30))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Removing the last manager erases all current state" in (refused.value.details() or "")
    await m1.swarm(lambda s: s.Leave(control_pb2.LeaveRequest(force=True), timeout=30))
    assert (await m1.info()).local_node_state == "inactive"
    assert not (m1.data_dir / "state.json").exists()


async def _has(daemon: Daemon, name: str) -> bool:
    return name in await daemon.secrets()


async def _has_all(daemon: Daemon, names: set[str]) -> bool:
    return names <= await daemon.secrets()
