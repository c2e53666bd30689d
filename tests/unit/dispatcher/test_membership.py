"""MembershipReconciler: manager status from Raft progress, demote and promote."""

from __future__ import annotations

import dataclasses

from manager.membership import MembershipReconciler
from manager.raft import FakeClock, Status
from manager.raft.core import PeerStatus
from manager.raft.progress import ProgressState
from manager.raft.types import ConfState, Role
from manager.store import ManagerStatus, Node, NodeRole, NodeSpec, Reachability, Store
from tests.unit.dispatcher.helpers import add_node, get, running, settle


class FakeDriver:
    """Answers status() from what the test sets; records membership operations in `log`."""

    def __init__(self, node_id: int, log: list[tuple[str, int]]) -> None:
        self.node_id = node_id
        self.log = log
        self.leader = node_id
        self.voters = {1, 2, 3}
        self.learners: set[int] = set()
        self.active = {1: True, 2: True, 3: True}
        self.match = {1: 10, 2: 9, 3: 8}

    def status(self) -> Status:
        members = self.voters | self.learners
        leading = self.leader == self.node_id
        return Status(
            id=self.node_id,
            term=1,
            vote=self.node_id,
            commit=10,
            applied=10,
            leader=self.leader,
            role=Role.LEADER if leading else Role.FOLLOWER,
            conf_state=ConfState(frozenset(self.voters), frozenset(self.learners)),
            progress={
                i: PeerStatus(
                    self.match.get(i, 0),
                    self.match.get(i, 0) + 1,
                    ProgressState.REPLICATE,
                    i in self.learners,
                    self.active.get(i, True),
                )
                for i in sorted(members)
            }
            if leading
            else {},
        )

    async def remove_member(self, node_id: int) -> None:
        self.log.append(("remove", node_id))
        self.voters.discard(node_id)
        self.learners.discard(node_id)

    async def transfer_leadership(self, to: int) -> None:
        self.log.append(("transfer", to))
        self.leader = to


def manager(node_id: str, raft_id: int, *, spec_role: NodeRole = NodeRole.MANAGER) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(role=spec_role),
        role=NodeRole.MANAGER,
        manager_status=ManagerStatus(raft_id=raft_id, addr=f"10.0.0.{raft_id}:2377"),
    )


async def three_managers() -> Store:
    store = Store()
    for i in (1, 2, 3):
        await add_node(store, manager(f"m{i}", i))
    return store


async def set_spec_role(store: Store, node_id: str, role: NodeRole) -> None:
    n = get(store, node_id)
    await store.update(lambda tx: tx.update(dataclasses.replace(n, spec=NodeSpec(role=role))))


def ms(store: Store, node_id: str) -> tuple[Reachability, bool]:
    status = get(store, node_id).manager_status
    assert status is not None
    return status.reachability, status.leader


async def test_reachability_and_leader_follow_raft_progress() -> None:
    store, clock = await three_managers(), FakeClock()
    driver = FakeDriver(1, [])
    reconciler = MembershipReconciler(store, driver, clock=clock, unreachable_after=5)
    driver.active[3] = False  # m3 stopped answering
    await reconciler.reconcile()
    assert ms(store, "m3") == (Reachability.REACHABLE, False)  # within its grace
    assert ms(store, "m1") == (Reachability.REACHABLE, True)
    clock.advance(5.1)
    await reconciler.reconcile()
    assert ms(store, "m1") == (Reachability.REACHABLE, True)
    assert ms(store, "m2") == (Reachability.REACHABLE, False)
    assert ms(store, "m3") == (Reachability.UNREACHABLE, False)
    driver.active[3] = True
    await reconciler.reconcile()
    assert ms(store, "m3") == (Reachability.REACHABLE, False)


async def test_a_follower_does_nothing() -> None:
    store = await three_managers()
    driver = FakeDriver(2, [])
    driver.leader = 1
    await MembershipReconciler(store, driver, clock=FakeClock()).reconcile()
    assert ms(store, "m2") == (Reachability.UNKNOWN, False)


async def test_demoting_a_follower_removes_it_from_raft_then_makes_it_a_worker() -> None:
    store = await three_managers()
    log: list[tuple[str, int]] = []
    reconciler = MembershipReconciler(store, FakeDriver(1, log), clock=FakeClock())
    await set_spec_role(store, "m3", NodeRole.WORKER)
    await reconciler.reconcile()
    assert log == [("remove", 3)]
    m3 = get(store, "m3")
    assert (m3.role, m3.manager_status) == (NodeRole.WORKER, None)
    await reconciler.reconcile()  # level-triggered: nothing more to do
    assert log == [("remove", 3)]


async def test_demoting_the_leader_transfers_leadership_then_the_new_leader_removes_it() -> None:
    store = await three_managers()
    log: list[tuple[str, int]] = []
    old = FakeDriver(1, log)
    await set_spec_role(store, "m1", NodeRole.WORKER)
    await MembershipReconciler(store, old, clock=FakeClock()).reconcile()
    assert log == [("transfer", 2)]  # the reachable voter with the longest log
    assert get(store, "m1").role is NodeRole.MANAGER  # still a member until removed
    new = FakeDriver(2, log)
    await MembershipReconciler(store, new, clock=FakeClock()).reconcile()
    assert log == [("transfer", 2), ("remove", 1)]
    assert get(store, "m1").role is NodeRole.WORKER
    assert ms(store, "m2") == (Reachability.REACHABLE, True)


async def test_a_removal_that_would_lose_quorum_waits() -> None:
    store, clock = await three_managers(), FakeClock()
    log: list[tuple[str, int]] = []
    driver = FakeDriver(1, log)
    reconciler = MembershipReconciler(store, driver, clock=clock, unreachable_after=5)
    driver.active[3] = False
    clock.advance(6)
    await set_spec_role(store, "m2", NodeRole.WORKER)
    await reconciler.reconcile()
    assert log == []  # {m1, m3} with m3 unreachable: no quorum left
    assert get(store, "m2").role is NodeRole.MANAGER
    driver.active[3] = True
    await reconciler.reconcile()
    assert log == [("remove", 2)]


async def test_a_promoted_node_becomes_a_manager_once_it_is_a_raft_voter() -> None:
    store = await three_managers()
    driver = FakeDriver(1, [])
    worker = Node(
        id="w4",
        spec=NodeSpec(role=NodeRole.MANAGER),
        role=NodeRole.WORKER,
        manager_status=ManagerStatus(raft_id=4, addr="10.0.0.4:2377"),
    )
    await add_node(store, worker)
    reconciler = MembershipReconciler(store, driver, clock=FakeClock())
    await reconciler.reconcile()
    assert get(store, "w4").role is NodeRole.WORKER  # not in Raft yet
    driver.learners.add(4)  # RaftMembership.Join: learner first ...
    await reconciler.reconcile()
    assert get(store, "w4").role is NodeRole.WORKER
    driver.learners.discard(4)
    driver.voters.add(4)  # ... then a voter
    await reconciler.reconcile()
    w4 = get(store, "w4")
    assert w4.role is NodeRole.MANAGER
    assert w4.manager_status is not None
    assert w4.manager_status.reachability is Reachability.REACHABLE


async def test_run_reacts_to_a_demotion_without_waiting_for_the_poll() -> None:
    store, clock = await three_managers(), FakeClock()
    log: list[tuple[str, int]] = []
    reconciler = MembershipReconciler(store, FakeDriver(1, log), clock=clock, poll_interval=60)
    async with running(reconciler):
        await set_spec_role(store, "m2", NodeRole.WORKER)
        await settle()
        assert log == [("remove", 2)]
        assert get(store, "m2").role is NodeRole.WORKER
