"""A small cluster PKI for the CA tests: one root, certificates issued at a fixed time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from manager.ca import (
    DEFAULT_NODE_CERT_VALIDITY,
    NodeCredentials,
    Role,
    RootCA,
    make_csr,
    new_node_key,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CLUSTER = "c0luster1d"


@dataclass(frozen=True)
class Issuer:
    root: RootCA
    cluster_id: str = CLUSTER

    def node(
        self,
        node_id: str,
        role: Role,
        *,
        now: datetime = NOW,
        validity: timedelta = DEFAULT_NODE_CERT_VALIDITY,
        cluster_id: str | None = None,
    ) -> NodeCredentials:
        key = new_node_key()
        cert = self.root.issue(
            make_csr(key),
            node_id=node_id,
            role=role,
            cluster_id=self.cluster_id if cluster_id is None else cluster_id,
            now=now,
            validity=validity,
        )
        return NodeCredentials(key=key, cert=cert, root_ca=self.root.cert)
