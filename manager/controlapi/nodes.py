"""Nodes: list, inspect, update (availability, labels, role: promote/demote), remove.

Changing the role only changes `spec.role` (the desired role); the membership reconciler
(manager/membership.py) carries it out. What is refused here is what Docker refuses:

    demote  the last manager                          -> refused
            a manager whose removal loses Raft quorum -> refused
    remove  a manager (observed or desired)           -> refused, demote it first (even --force)
            a node that is ready                      -> refused without --force
"""

from __future__ import annotations

import dataclasses

from manager.controlapi._common import write
from manager.controlapi.errors import FailedPreconditionError
from manager.controlapi.refs import resolve_node
from manager.store import (
    Cluster,
    Node,
    NodeRole,
    NodeSpec,
    NodeState,
    Reachability,
    ReadTx,
    Store,
    WriteTx,
)


def list_nodes(store: Store) -> list[Node]:
    return store.view().all(Node)


def get_node(store: Store, ref: str) -> Node:
    return resolve_node(store.view(), ref)


async def update_node(store: Store, ref: str, *, version: int, spec: NodeSpec) -> Node:
    """Replace the node's spec, if the node is still at `version` ("update out of sequence"
    otherwise: read it again and retry)."""

    def update(tx: WriteTx) -> Node:
        node = resolve_node(tx, ref)
        if node.spec.role is NodeRole.MANAGER and spec.role is NodeRole.WORKER:
            check_demotion(tx, node)
        return tx.update(
            dataclasses.replace(
                node, meta=dataclasses.replace(node.meta, version=version), spec=spec
            )
        )

    updated = await write(store, update)
    return store.view().get(Node, updated.id) or updated


def check_demotion(view: ReadTx, node: Node) -> None:
    """swarmkit's demotion checks: a manager must remain, and Raft must keep its quorum."""
    # managers that stay managers: observed ones not already being demoted
    staying = [
        n
        for n in view.nodes_by_role(NodeRole.MANAGER)
        if n.id != node.id and n.spec.role is NodeRole.MANAGER
    ]
    if not staying:
        raise FailedPreconditionError("attempting to demote the last manager of the swarm")
    members = view.nodes_by_role(NodeRole.MANAGER)
    if node.role is NodeRole.MANAGER and not _keeps_quorum(members, node.id):
        raise FailedPreconditionError(
            "can't remove member from the raft: this would result in a loss of quorum"
        )


def _keeps_quorum(members: list[Node], removed_id: str) -> bool:
    """swarmkit's CanRemoveMember: after the removal, a majority of the new membership must
    still be reachable. Reachability not reported yet counts as reachable, so a cluster whose
    membership status is unknown is not locked out of demotions."""
    remaining = [m for m in members if m.id != removed_id]
    reachable = [
        m
        for m in remaining
        if m.manager_status is None or m.manager_status.reachability is not Reachability.UNREACHABLE
    ]
    quorum = len(remaining) // 2 + 1
    return len(reachable) >= quorum


async def remove_node(store: Store, ref: str, *, force: bool = False) -> None:
    """Remove the node from the cluster and record its id among the cluster's removed nodes,
    so that its certificate is refused from now on."""

    def remove(tx: WriteTx) -> None:
        node = resolve_node(tx, ref)
        if node.role is NodeRole.MANAGER or node.spec.role is NodeRole.MANAGER:
            raise FailedPreconditionError(
                f"node {node.id} is a cluster manager and is a member of the raft cluster. "
                "It must be demoted to worker before removal"
            )
        if not force and node.status.state is NodeState.READY:
            raise FailedPreconditionError(f"node {node.id} is not down and can't be removed")
        cluster = tx.cluster()
        if cluster is not None:
            marked = record_removed_node(cluster, node.id)
            if marked is not cluster:
                tx.update(marked)
        tx.delete(Node, node.id)

    await write(store, remove)


def record_removed_node(cluster: Cluster, node_id: str) -> Cluster:
    """The cluster with `node_id` added to `removed_nodes` (the same object when it already
    holds the id)."""
    if node_id in cluster.removed_nodes:
        return cluster
    return dataclasses.replace(cluster, removed_nodes=(*cluster.removed_nodes, node_id))
