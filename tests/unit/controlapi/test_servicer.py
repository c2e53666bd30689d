"""The Control service through a real grpc.aio server on a unix socket, with the generated
stub: status codes and the messages a user reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from manager.controlapi import ControlServicer, add_to_server
from manager.raft.errors import NotLeader
from manager.store import (
    Node,
    NodeRole,
    NodeState,
    Secret,
    Store,
    StoreBatch,
    codec,
)
from manager.store.proposer import BatchResult
from proto import control_pb2, control_pb2_grpc, objects_pb2
from tests.unit.controlapi.helpers import ROOT, add_node, cluster_store

Control = tuple[control_pb2_grpc.ControlStub, Store]


@pytest.fixture
async def control(tmp_path: Path) -> AsyncIterator[Control]:
    store = await cluster_store()
    server = grpc.aio.server()
    add_to_server(ControlServicer(store, entropy=lambda n: b"\x01" * n), server)
    address = f"unix:{tmp_path / 'shoal.sock'}"
    server.add_insecure_port(address)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield control_pb2_grpc.ControlStub(channel), store  # type: ignore[no-untyped-call]
    finally:
        await server.stop(None)


async def _error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def test_get_cluster_carries_tokens_and_no_ca_key(control: Control) -> None:
    stub, store = control
    cluster = await stub.GetCluster(control_pb2.Empty())
    assert cluster.root_ca.ca_cert == ROOT.cert_pem
    assert cluster.root_ca.join_tokens.worker.startswith("SWMTKN-1-")
    if "ca_key" in objects_pb2.RootCA.DESCRIPTOR.fields_by_name:
        assert cluster.root_ca.ca_key == b""
        stored = store.view().cluster()
        assert stored is not None and stored.root_ca.ca_key != b""


async def test_update_cluster_rotates_a_token_and_checks_the_version(control: Control) -> None:
    stub, _ = control
    before = await stub.GetCluster(control_pb2.Empty())
    after = await stub.UpdateCluster(
        control_pb2.UpdateClusterRequest(version=before.meta.version, rotate_manager_token=True)
    )
    assert after.root_ca.join_tokens.manager != before.root_ca.join_tokens.manager
    assert after.root_ca.join_tokens.worker == before.root_ca.join_tokens.worker
    assert after.spec == before.spec
    err = await _error(
        stub.UpdateCluster(
            control_pb2.UpdateClusterRequest(version=before.meta.version, spec=before.spec)
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("update out of sequence")


async def test_update_cluster_refuses_a_new_name(control: Control) -> None:
    stub, _ = control
    before = await stub.GetCluster(control_pb2.Empty())
    spec = objects_pb2.ClusterSpec()
    spec.CopyFrom(before.spec)
    spec.name = "prod"
    err = await _error(
        stub.UpdateCluster(control_pb2.UpdateClusterRequest(version=before.meta.version, spec=spec))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "modification of cluster name is not allowed"


async def test_nodes_list_get_update_and_remove(control: Control) -> None:
    stub, store = control
    manager = await add_node(store, "m1", role=NodeRole.MANAGER)
    worker = await add_node(store, "w1", state=NodeState.READY)
    listed = await stub.ListNodes(control_pb2.ListRequest())
    assert sorted(n.description.hostname for n in listed.nodes) == ["m1", "w1"]
    got = await stub.GetNode(control_pb2.GetRequest(ref="w1"))
    assert got.id == worker.id

    spec = objects_pb2.NodeSpec()
    spec.CopyFrom(got.spec)
    spec.availability = "drain"
    spec.labels["zone"] = "a"
    updated = await stub.UpdateNode(
        control_pb2.UpdateNodeRequest(ref=worker.id, version=got.meta.version, spec=spec)
    )
    assert updated.spec.availability == "drain"
    assert dict(updated.spec.labels) == {"zone": "a"}

    err = await _error(stub.RemoveNode(control_pb2.RemoveRequest(ref="w1")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == f"node {worker.id} is not down and can't be removed"
    await stub.RemoveNode(control_pb2.RemoveRequest(ref="w1", force=True))
    assert store.view().get(Node, worker.id) is None

    err = await _error(stub.RemoveNode(control_pb2.RemoveRequest(ref="m1", force=True)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == (
        f"node {manager.id} is a cluster manager and is a member of the raft cluster. "
        "It must be demoted to worker before removal"
    )


async def test_node_errors(control: Control) -> None:
    stub, store = control
    manager = await add_node(store, "m1", role=NodeRole.MANAGER)
    demoted = codec.to_message(manager.spec)
    assert isinstance(demoted, objects_pb2.NodeSpec)
    demoted.role = "worker"
    err = await _error(
        stub.UpdateNode(
            control_pb2.UpdateNodeRequest(ref="m1", version=manager.meta.version, spec=demoted)
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.details() == "attempting to demote the last manager of the swarm"

    demoted.role = "boss"
    err = await _error(
        stub.UpdateNode(
            control_pb2.UpdateNodeRequest(ref="m1", version=manager.meta.version, spec=demoted)
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'boss' is not a valid NodeRole" in err.details()

    err = await _error(stub.UpdateNode(control_pb2.UpdateNodeRequest(ref="m1", version=1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT

    err = await _error(stub.GetNode(control_pb2.GetRequest(ref="ghost")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "node ghost not found"

    await add_node(store, "twin", id="twin1" + "0" * 20)
    await add_node(store, "twin2", id="twin2" + "0" * 20)
    # "twin" is a hostname and a prefix of both ids: the name wins
    got = await stub.GetNode(control_pb2.GetRequest(ref="twin"))
    assert got.id == "twin1" + "0" * 20
    err = await _error(stub.GetNode(control_pb2.GetRequest(ref="twi")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("node twi is ambiguous (2 matches found: twin1")


async def test_secrets_never_carry_data(control: Control) -> None:
    stub, store = control
    spec = objects_pb2.SecretSpec(name="pw", data=b"hunter2")
    created = await stub.CreateSecret(control_pb2.CreateSecretRequest(spec=spec))
    assert created.spec.name == "pw" and created.spec.data == b""
    stored = store.view().get(Secret, created.id)
    assert stored is not None and stored.spec.data == b"hunter2"
    assert (await stub.GetSecret(control_pb2.GetRequest(ref="pw"))).spec.data == b""
    listed = await stub.ListSecrets(control_pb2.ListRequest())
    assert [(s.spec.name, s.spec.data) for s in listed.secrets] == [("pw", b"")]

    err = await _error(stub.CreateSecret(control_pb2.CreateSecretRequest(spec=spec)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.details() == "secret pw already exists"
    big = objects_pb2.SecretSpec(name="big", data=b"x" * 600_000)
    err = await _error(stub.CreateSecret(control_pb2.CreateSecretRequest(spec=big)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == (
        "secret data must be larger than 0 and no more than 500KB (512000 bytes), got 600000 bytes"
    )
    await stub.RemoveSecret(control_pb2.RemoveRequest(ref="pw"))
    err = await _error(stub.RemoveSecret(control_pb2.RemoveRequest(ref="pw")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "secret pw not found"


async def test_configs_round_trip(control: Control) -> None:
    stub, _ = control
    spec = objects_pb2.ConfigSpec(name="nginx.conf", data=b"server {}")
    created = await stub.CreateConfig(control_pb2.CreateConfigRequest(spec=spec))
    assert created.spec.data == b"server {}"
    got = await stub.GetConfig(control_pb2.GetRequest(ref=created.id[:4]))
    assert got.id == created.id
    listed = await stub.ListConfigs(control_pb2.ListRequest())
    assert [c.spec.name for c in listed.configs] == ["nginx.conf"]
    err = await _error(
        stub.CreateConfig(
            control_pb2.CreateConfigRequest(spec=objects_pb2.ConfigSpec(name="-x", data=b"1"))
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed")
    await stub.RemoveConfig(control_pb2.RemoveRequest(ref="nginx.conf"))
    assert (await stub.ListConfigs(control_pb2.ListRequest())).configs == []


class _FollowerProposer:
    async def propose(self, batch: StoreBatch) -> BatchResult:
        raise NotLeader(leader=2)


async def test_not_leader_propagates_for_the_forwarding_wrapper() -> None:
    store = await cluster_store()
    await add_node(store, "w1", state=NodeState.DOWN)
    store.attach(_FollowerProposer())
    servicer = ControlServicer(store)
    with pytest.raises(NotLeader):
        await servicer.RemoveNode(control_pb2.RemoveRequest(ref="w1"), context=None)
