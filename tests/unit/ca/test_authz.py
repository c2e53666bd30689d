"""The authorization table: who may call what, and the reason a refused caller is given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from manager.ca import (
    ANY_NODE,
    MANAGER_ROLE,
    MANAGERS,
    WORKER_ROLE,
    AuthorizationPolicy,
    Authorizer,
    NodeIdentity,
    PermissionDenied,
    RootCA,
    default_policy,
    peer_certificate,
)
from tests.unit.ca.pki import CLUSTER, NOW, Issuer

RAFT = "/shoal.raft.Raft/Stream"
CONTROL = "/shoal.control.Control/ListNodes"
DISPATCH = "/shoal.dispatcher.Dispatcher/Session"
ISSUE = "/shoal.ca.NodeCA/IssueNodeCertificate"
ROOTCERT = "/shoal.ca.CA/GetRootCACertificate"
STATUS = "/shoal.dispatcher.Dispatcher/ForceShutdown"

POLICY = AuthorizationPolicy(
    roles={
        **default_policy().roles,
        "shoal.control.Control": frozenset({MANAGER_ROLE}),
        "shoal.dispatcher.Dispatcher": frozenset({MANAGER_ROLE, WORKER_ROLE}),
        STATUS: frozenset({MANAGER_ROLE}),  # a method entry overrides its service's
    },
    unauthenticated=frozenset({"shoal.ca.CA", ISSUE}),
)
REMOVED = {"gone"}


@pytest.fixture(scope="module")
def certs(root: RootCA, other_root: RootCA) -> dict[str, x509.Certificate]:
    issuer = Issuer(root)
    return {
        "manager": issuer.node("mgr1", MANAGER_ROLE).cert,
        "worker": issuer.node("wrk1", WORKER_ROLE).cert,
        "removed": issuer.node("gone", WORKER_ROLE).cert,
        "other-cluster": issuer.node("mgr2", MANAGER_ROLE, cluster_id="someoneelse").cert,
        "other-ca": Issuer(other_root).node("mgr1", MANAGER_ROLE).cert,
        "short": issuer.node("wrk2", WORKER_ROLE, validity=timedelta(hours=2)).cert,
    }


@pytest.fixture(scope="module")
def authorizer(root: RootCA) -> Authorizer:
    return Authorizer(
        root_ca=root, cluster_id=CLUSTER, policy=POLICY, is_removed=REMOVED.__contains__
    )


@pytest.mark.parametrize(
    ("method", "who", "outcome"),
    [
        (RAFT, "manager", "mgr1"),
        (
            RAFT,
            "worker",
            "has role swarm-worker; /shoal.raft.Raft/Stream is only for swarm-manager",
        ),
        (RAFT, None, "needs a node certificate"),
        (CONTROL, "manager", "mgr1"),
        (CONTROL, "worker", "only for swarm-manager"),
        (DISPATCH, "manager", "mgr1"),
        (DISPATCH, "worker", "wrk1"),
        (DISPATCH, None, "needs a node certificate"),
        (STATUS, "worker", "only for swarm-manager"),
        (STATUS, "manager", "mgr1"),
        (DISPATCH, "removed", "node gone was removed from the cluster"),
        (DISPATCH, "other-cluster", "belongs to cluster someoneelse"),
        (DISPATCH, "other-ca", "not issued by this cluster's root CA"),
        ("/shoal.unknown.Svc/Do", "manager", "not in the authorization table"),
        (ISSUE, None, None),
        (ISSUE, "worker", "wrk1"),
        (ISSUE, "removed", None),  # anonymous again: it may rejoin with a token
        (ISSUE, "other-ca", None),
        (ROOTCERT, None, None),
        (ROOTCERT, "manager", "mgr1"),
    ],
)
def test_authorization_table(
    authorizer: Authorizer,
    certs: dict[str, x509.Certificate],
    method: str,
    who: str | None,
    outcome: str | None,
) -> None:
    peer = certs[who] if who else None
    if outcome is None:
        assert authorizer.authorize(method, peer, NOW) is None
    elif " " not in outcome:
        identity = authorizer.authorize(method, peer, NOW)
        assert identity is not None and identity.node_id == outcome
        assert identity.cluster_id == CLUSTER
    else:
        with pytest.raises(PermissionDenied, match=outcome):
            authorizer.authorize(method, peer, NOW)


def test_expired_certificate_is_refused(
    authorizer: Authorizer, certs: dict[str, x509.Certificate]
) -> None:
    assert authorizer.authorize(DISPATCH, certs["short"], NOW) is not None
    with pytest.raises(PermissionDenied, match="expired"):
        authorizer.authorize(DISPATCH, certs["short"], NOW + timedelta(hours=2))


def test_removal_takes_effect_on_the_next_call(
    root: RootCA, certs: dict[str, x509.Certificate]
) -> None:
    removed: set[str] = set()
    authz = Authorizer(
        root_ca=root, cluster_id=CLUSTER, policy=POLICY, is_removed=removed.__contains__
    )
    assert authz.authorize(DISPATCH, certs["worker"], NOW) == NodeIdentity(
        "wrk1", WORKER_ROLE, CLUSTER
    )
    removed.add("wrk1")
    with pytest.raises(PermissionDenied, match="wrk1 was removed"):
        authz.authorize(DISPATCH, certs["worker"], NOW)


def test_certificate_without_node_names_is_refused(authorizer: Authorizer, root: RootCA) -> None:
    with pytest.raises(PermissionDenied, match="not a shoal node certificate"):
        authorizer.authorize(DISPATCH, root.cert, NOW)


def test_peer_certificate_reads_the_auth_context(certs: dict[str, x509.Certificate]) -> None:
    pem = certs["worker"].public_bytes(serialization.Encoding.PEM)
    assert peer_certificate({"x509_pem_cert": [pem]}) == certs["worker"]
    assert peer_certificate({"transport_security_type": [b"ssl"]}) is None
    assert peer_certificate({"x509_pem_cert": [b"garbage"]}) is None


def test_build_policy() -> None:
    policy = AuthorizationPolicy.build(
        managers=["a.Control"], any_node=["a.Dispatcher"], unauthenticated=["/a.CA/Issue"]
    )
    assert policy.roles_for("/a.Control/X") == MANAGERS
    assert policy.roles_for("/a.Dispatcher/Y") == ANY_NODE
    assert policy.roles_for("/a.Other/Z") is None
    assert policy.is_unauthenticated("/a.CA/Issue")
    assert not policy.is_unauthenticated("/a.CA/Other")
