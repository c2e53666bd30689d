"""The cluster object: inspect (without the root CA key) and update (`shoal swarm update`,
`shoal swarm join-token --rotate`).

UpdateCluster carries the version the caller read: if the cluster changed since, the store
refuses with "update out of sequence" and the caller reads again.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta

from cryptography import x509

from manager.ca import (
    MANAGER_ROLE,
    WORKER_ROLE,
    InvalidJoinToken,
    Role,
    cert_digest,
    parse_join_token,
)
from manager.ca import JoinTokens as TokenPair
from manager.ca.tokens import Entropy
from manager.controlapi._common import write
from manager.controlapi.errors import (
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
)
from manager.store import Cluster, ClusterSpec, JoinTokens, ReadTx, Store, WriteTx

DEFAULT_CLUSTER_NAME = "default"
MIN_NODE_CERT_EXPIRY = timedelta(hours=1)  # swarmkit's ca.MinNodeCertExpiration

_NOT_INITIALISED = (
    "this node holds no cluster object: the swarm is not initialised; "
    'run "shoal swarm init" or "shoal swarm join" first'
)


def redact_cluster(cluster: Cluster) -> Cluster:
    """The cluster without its root CA key (the `ca_key` field, once RootCA has it)."""
    root_ca = cluster.root_ca
    if "ca_key" not in {f.name for f in dataclasses.fields(root_ca)}:
        return cluster
    cleared: dict[str, object] = {"ca_key": b""}
    return dataclasses.replace(cluster, root_ca=dataclasses.replace(root_ca, **cleared))  # type: ignore[arg-type]


def current_cluster(view: ReadTx) -> Cluster:
    cluster = view.cluster()
    if cluster is None:
        raise FailedPreconditionError(_NOT_INITIALISED)
    return cluster


def get_cluster(store: Store) -> Cluster:
    return redact_cluster(current_cluster(store.view()))


def validate_cluster_spec(spec: ClusterSpec) -> None:
    """swarmkit's validateClusterSpec, with its messages."""
    if spec.name != DEFAULT_CLUSTER_NAME:
        raise InvalidArgumentError("modification of cluster name is not allowed")
    if spec.dispatcher.heartbeat_period < timedelta(0):
        raise InvalidArgumentError("heartbeat time period cannot be a negative duration")
    if spec.ca_config.node_cert_expiry < MIN_NODE_CERT_EXPIRY:
        raise InvalidArgumentError("minimum certificate expiry time is: 1h0m0s")


async def update_cluster(
    store: Store,
    *,
    version: int,
    spec: ClusterSpec | None = None,
    rotate_worker_token: bool = False,
    rotate_manager_token: bool = False,
    entropy: Entropy = secrets.token_bytes,
) -> Cluster:
    """Apply `spec` (None: keep the current one) and rotate the join tokens asked for, if the
    cluster is still at `version`. Returns the updated cluster, without the CA key."""
    if spec is not None:
        validate_cluster_spec(spec)

    def update(tx: WriteTx) -> Cluster:
        cluster = current_cluster(tx)
        tokens = cluster.root_ca.join_tokens
        roles: list[Role] = []
        if rotate_worker_token:
            roles.append(WORKER_ROLE)
        if rotate_manager_token:
            roles.append(MANAGER_ROLE)
        if roles:
            tokens = _rotate(cluster, roles, entropy)
        return tx.update(
            dataclasses.replace(
                cluster,
                meta=dataclasses.replace(cluster.meta, version=version),
                spec=cluster.spec if spec is None else spec,
                root_ca=dataclasses.replace(cluster.root_ca, join_tokens=tokens),
            )
        )

    updated = await write(store, update)
    return redact_cluster(store.view().get(Cluster, updated.id) or updated)


def _rotate(cluster: Cluster, roles: list[Role], entropy: Entropy) -> JoinTokens:
    current = cluster.root_ca.join_tokens
    pair = TokenPair(worker=current.worker, manager=current.manager)
    digest = root_ca_digest(cluster)
    for role in roles:
        pair = pair.rotate(role, digest, entropy)
    return JoinTokens(worker=pair.worker, manager=pair.manager)


def root_ca_digest(cluster: Cluster) -> bytes:
    """The digest new join tokens carry: of the root CA certificate, or (no certificate kept)
    the one the current tokens carry."""
    root_ca = cluster.root_ca
    if root_ca.ca_cert:
        try:
            return cert_digest(x509.load_pem_x509_certificate(root_ca.ca_cert))
        except ValueError:
            raise InternalError(
                "the cluster's root CA certificate is not readable PEM; the cluster object is "
                "damaged, restore it from a manager's backup"
            ) from None
    for token in (root_ca.join_tokens.worker, root_ca.join_tokens.manager):
        try:
            return parse_join_token(token).ca_digest
        except InvalidJoinToken:
            continue
    raise InternalError(
        "the cluster has no root CA certificate and no valid join token to rotate from; "
        "the cluster object is damaged, restore it from a manager's backup"
    )
