"""The cluster: the CA key never comes out, spec updates are version-checked and validated,
join tokens rotate one role at a time with the root CA's digest."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from manager.ca import parse_join_token
from manager.controlapi import (
    FailedPreconditionError,
    InvalidArgumentError,
    get_cluster,
    redact_cluster,
    update_cluster,
    validate_cluster_spec,
)
from manager.store import CAConfig, Cluster, ClusterSpec, DispatcherConfig, RootCA, Store
from tests.unit.controlapi.helpers import CA_KEY_PEM, ROOT, cluster_store, has_field
from tests.unit.store.helpers import new_store


def _stored(store: Store) -> Cluster:
    cluster = store.view().cluster()
    assert cluster is not None
    return cluster


async def test_get_cluster_returns_the_tokens_but_not_the_ca_key() -> None:
    store = await cluster_store()
    cluster = get_cluster(store)
    assert cluster.root_ca.join_tokens.worker.startswith("SWMTKN-1-")
    assert cluster.root_ca.ca_cert == ROOT.cert_pem
    if has_field(RootCA, "ca_key"):
        assert _stored(store).root_ca.ca_key == CA_KEY_PEM
        assert cluster.root_ca.ca_key == b""


def test_redact_cluster_leaves_everything_else() -> None:
    cluster = Cluster(id="c", root_ca=RootCA(ca_cert=b"cert", ca_cert_hash="h"))
    assert redact_cluster(cluster) == cluster


async def test_without_a_cluster_object_the_swarm_is_not_initialised() -> None:
    with pytest.raises(FailedPreconditionError, match="the swarm is not initialised"):
        get_cluster(new_store())


async def test_update_applies_the_spec_and_keeps_the_tokens() -> None:
    store = await cluster_store()
    before = _stored(store)
    spec = dataclasses.replace(
        before.spec, dispatcher=DispatcherConfig(heartbeat_period=timedelta(seconds=2))
    )
    updated = await update_cluster(store, version=before.meta.version, spec=spec)
    assert updated.spec.dispatcher.heartbeat_period == timedelta(seconds=2)
    assert updated.meta.version > before.meta.version
    assert updated.root_ca.join_tokens == before.root_ca.join_tokens
    assert _stored(store).spec == spec


async def test_update_based_on_an_old_version_is_out_of_sequence() -> None:
    store = await cluster_store()
    version = _stored(store).meta.version
    await update_cluster(store, version=version, rotate_worker_token=True)
    with pytest.raises(FailedPreconditionError, match=r"^update out of sequence: cluster "):
        await update_cluster(store, version=version, rotate_worker_token=True)


@pytest.mark.parametrize("role", ["worker", "manager"])
async def test_rotating_a_token_replaces_only_that_role_s_with_the_root_ca_digest(
    role: str,
) -> None:
    store = await cluster_store()
    before = _stored(store)
    updated = await update_cluster(
        store,
        version=before.meta.version,
        rotate_worker_token=role == "worker",
        rotate_manager_token=role == "manager",
        entropy=lambda n: b"\x07" * n,
    )
    other = "manager" if role == "worker" else "worker"
    new = getattr(updated.root_ca.join_tokens, role)
    assert new != getattr(before.root_ca.join_tokens, role)
    assert getattr(updated.root_ca.join_tokens, other) == getattr(before.root_ca.join_tokens, other)
    assert parse_join_token(new).ca_digest == ROOT.digest
    assert getattr(_stored(store).root_ca.join_tokens, role) == new
    assert updated.spec == before.spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ClusterSpec(name="prod"), "modification of cluster name is not allowed"),
        (
            ClusterSpec(dispatcher=DispatcherConfig(heartbeat_period=timedelta(seconds=-1))),
            "heartbeat time period cannot be a negative duration",
        ),
        (
            ClusterSpec(ca_config=CAConfig(node_cert_expiry=timedelta(minutes=59))),
            "minimum certificate expiry time is: 1h0m0s",
        ),
    ],
)
async def test_an_invalid_spec_is_refused(spec: ClusterSpec, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        validate_cluster_spec(spec)
    assert str(raised.value) == message
    store = await cluster_store()
    before = _stored(store)
    with pytest.raises(InvalidArgumentError):
        await update_cluster(store, version=before.meta.version, spec=spec)
    assert _stored(store) == before
