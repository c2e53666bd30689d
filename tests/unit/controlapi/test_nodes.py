"""Node update (availability, labels, role) and removal, with Docker's refusals."""

from __future__ import annotations

import pytest

from manager.controlapi import (
    FailedPreconditionError,
    NotFoundError,
    list_nodes,
    record_removed_node,
    remove_node,
    update_node,
)
from manager.store import (
    Cluster,
    Node,
    NodeAvailability,
    NodeRole,
    NodeState,
    Reachability,
    Store,
)
from tests.unit.controlapi.helpers import add_node, cluster_store, with_spec

LAST_MANAGER = "attempting to demote the last manager of the swarm"
QUORUM = "can't remove member from the raft: this would result in a loss of quorum"


def _get(store: Store, id: str) -> Node | None:
    return store.view().get(Node, id)


async def test_update_sets_availability_and_labels_and_bumps_the_version() -> None:
    store = await cluster_store()
    node = await add_node(store, "w1")
    spec = with_spec(node, availability=NodeAvailability.DRAIN, labels={"zone": "a"})
    updated = await update_node(store, "w1", version=node.meta.version, spec=spec)
    assert updated.spec.availability is NodeAvailability.DRAIN
    assert updated.spec.labels == {"zone": "a"}
    assert updated.meta.version > node.meta.version
    assert _get(store, node.id) == updated


async def test_update_based_on_an_old_version_is_out_of_sequence() -> None:
    store = await cluster_store()
    node = await add_node(store, "w1")
    await update_node(store, node.id, version=node.meta.version, spec=node.spec)
    with pytest.raises(FailedPreconditionError, match=r"^update out of sequence: node "):
        await update_node(store, node.id, version=node.meta.version, spec=node.spec)


async def test_promote_a_worker_sets_only_the_desired_role() -> None:
    store = await cluster_store()
    await add_node(store, "m1", role=NodeRole.MANAGER)
    worker = await add_node(store, "w1")
    updated = await update_node(
        store, "w1", version=worker.meta.version, spec=with_spec(worker, role=NodeRole.MANAGER)
    )
    assert updated.spec.role is NodeRole.MANAGER
    assert updated.role is NodeRole.WORKER  # the membership reconciler changes the rest


async def test_demoting_the_last_manager_is_refused() -> None:
    store = await cluster_store()
    manager = await add_node(store, "m1", role=NodeRole.MANAGER)
    await add_node(store, "w1")
    spec = with_spec(manager, role=NodeRole.WORKER)
    with pytest.raises(FailedPreconditionError) as raised:
        await update_node(store, "m1", version=manager.meta.version, spec=spec)
    assert str(raised.value) == LAST_MANAGER
    assert _get(store, manager.id) == manager


async def test_of_two_managers_one_can_be_demoted_and_then_not_the_other() -> None:
    store = await cluster_store()
    m1 = await add_node(store, "m1", role=NodeRole.MANAGER)
    m2 = await add_node(store, "m2", role=NodeRole.MANAGER)
    await update_node(
        store, "m1", version=m1.meta.version, spec=with_spec(m1, role=NodeRole.WORKER)
    )
    # m1 is still a manager in Raft until the reconciler demotes it, but it will not stay one
    with pytest.raises(FailedPreconditionError, match=f"^{LAST_MANAGER}$"):
        await update_node(
            store, "m2", version=m2.meta.version, spec=with_spec(m2, role=NodeRole.WORKER)
        )


@pytest.mark.parametrize(
    ("demoted", "refused"),
    [
        ("m1", True),  # leaves m2 (reachable) and m3 (unreachable): 1 of 2 is no quorum
        ("m3", False),  # leaves m1 and m2, both reachable
    ],
)
async def test_demotion_that_would_lose_quorum_is_refused(demoted: str, refused: bool) -> None:
    store = await cluster_store()
    await add_node(store, "m1", role=NodeRole.MANAGER)
    await add_node(store, "m2", role=NodeRole.MANAGER)
    await add_node(store, "m3", role=NodeRole.MANAGER, reachability=Reachability.UNREACHABLE)
    node = next(n for n in list_nodes(store) if n.description.hostname == demoted)
    demote = update_node(
        store, demoted, version=node.meta.version, spec=with_spec(node, role=NodeRole.WORKER)
    )
    if refused:
        with pytest.raises(FailedPreconditionError, match=f"^{QUORUM}$"):
            await demote
    else:
        assert (await demote).spec.role is NodeRole.WORKER


async def test_a_ready_node_is_not_removed_without_force() -> None:
    store = await cluster_store()
    node = await add_node(store, "w1", state=NodeState.READY)
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_node(store, "w1")
    assert str(raised.value) == f"node {node.id} is not down and can't be removed"
    assert _get(store, node.id) is not None
    await remove_node(store, "w1", force=True)
    assert _get(store, node.id) is None


@pytest.mark.parametrize("state", [NodeState.DOWN, NodeState.UNKNOWN, NodeState.DISCONNECTED])
async def test_a_node_that_is_not_ready_is_removed(state: NodeState) -> None:
    store = await cluster_store()
    node = await add_node(store, "w1", state=state)
    await remove_node(store, node.id[:6])
    assert _get(store, node.id) is None


@pytest.mark.parametrize(
    ("role", "desired"),
    [
        (NodeRole.MANAGER, NodeRole.MANAGER),  # a manager
        (NodeRole.MANAGER, NodeRole.WORKER),  # being demoted, still in Raft
        (NodeRole.WORKER, NodeRole.MANAGER),  # being promoted
    ],
)
async def test_a_manager_is_not_removed_even_with_force(role: NodeRole, desired: NodeRole) -> None:
    store = await cluster_store()
    await add_node(store, "m0", role=NodeRole.MANAGER)
    node = await add_node(store, "m1", role=role, desired=desired, state=NodeState.DOWN)
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_node(store, "m1", force=True)
    assert str(raised.value) == (
        f"node {node.id} is a cluster manager and is a member of the raft cluster. "
        "It must be demoted to worker before removal"
    )
    assert _get(store, node.id) is not None


async def test_removing_an_unknown_node_is_not_found() -> None:
    store = await cluster_store()
    with pytest.raises(NotFoundError, match=r"^node ghost not found$"):
        await remove_node(store, "ghost", force=True)


async def test_a_removed_node_is_recorded_in_the_cluster() -> None:
    store = await cluster_store()
    node = await add_node(store, "w1", state=NodeState.DOWN)
    await remove_node(store, "w1")
    cluster = store.view().cluster()
    assert cluster is not None
    assert node.id in cluster.removed_nodes


def test_record_removed_node_appends_once() -> None:
    cluster = Cluster(removed_nodes=("n1",))
    marked = record_removed_node(cluster, "n2")
    assert marked.removed_nodes == ("n1", "n2")
    assert record_removed_node(marked, "n2") is marked
