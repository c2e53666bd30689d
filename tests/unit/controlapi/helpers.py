"""A store holding a cluster (with a real root CA and join tokens) and nodes, for the
controlapi tests."""

from __future__ import annotations

import dataclasses
import zlib

from cryptography.hazmat.primitives import serialization

from manager.ca import JoinTokens as TokenPair
from manager.ca import create_root_ca
from manager.store import (
    Cluster,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeRole,
    NodeSpec,
    NodeState,
    NodeStatus,
    Reachability,
    Store,
)
from manager.store import (
    RootCA as StoreRootCA,
)
from tests.unit.store.helpers import T0, FakeClock, new_store

ROOT = create_root_ca(T0)  # one key for the whole module: generating it costs a few ms
assert ROOT.key is not None
CA_KEY_PEM = ROOT.key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


async def cluster_store(clock: FakeClock | None = None) -> Store:
    """A local store with the "default" cluster in it."""
    store = new_store(clock)
    tokens = TokenPair.generate(ROOT.digest)
    cluster = Cluster(
        root_ca=StoreRootCA(
            ca_cert=ROOT.cert_pem,
            ca_cert_hash=ROOT.digest.hex(),
            join_tokens=JoinTokens(worker=tokens.worker, manager=tokens.manager),
        )
    )
    if has_field(StoreRootCA, "ca_key"):  # the key is kept once DAEMON-A's field exists
        key: dict[str, object] = {"ca_key": CA_KEY_PEM}
        root = dataclasses.replace(cluster.root_ca, **key)  # type: ignore[arg-type]
        cluster = dataclasses.replace(cluster, root_ca=root)
    await store.update(lambda tx: tx.create(cluster))
    return store


def has_field(cls: type, name: str) -> bool:
    return name in {f.name for f in dataclasses.fields(cls)}


async def add_node(
    store: Store,
    hostname: str,
    *,
    id: str = "",
    role: NodeRole = NodeRole.WORKER,
    state: NodeState = NodeState.READY,
    reachability: Reachability = Reachability.REACHABLE,
    desired: NodeRole | None = None,
) -> Node:
    """A node as the dispatcher and the membership reconciler would have left it."""
    node = Node(
        id=id,
        spec=NodeSpec(role=desired or role),
        description=NodeDescription(hostname=hostname),
        status=NodeStatus(state=state, addr="10.0.0.1"),
        role=role,
        manager_status=(
            ManagerStatus(raft_id=zlib.crc32(hostname.encode()) + 1, reachability=reachability)
            if role is NodeRole.MANAGER
            else None
        ),
    )
    created = await store.update(lambda tx: tx.create(node))
    got = store.view().get(Node, created.id)
    assert got is not None
    return got


def with_spec(node: Node, **changes: object) -> NodeSpec:
    return dataclasses.replace(node.spec, **changes)  # type: ignore[arg-type]
