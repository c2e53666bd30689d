"""Manager membership, on the leader: manager status from Raft, and promote/demote.

    every poll (and on every node change):
      driver.status() ─▶ reachability + leader flag of each manager's node.manager_status
      node.spec.role=worker, node.role=manager (demote):
          it is this node?  ─▶ transfer leadership to a reachable manager (the next leader
                               carries on)
          else              ─▶ driver.remove_member(raft_id) (if quorum survives) ─▶
                               node.role=worker, manager_status cleared
      node.spec.role=manager, node.role=worker (promote):
          the node gets a manager certificate and joins Raft itself (RaftMembership.Join puts
          manager_status.raft_id in the store); once it is a voter ─▶ node.role=manager

Raft ids map to node ids through node.manager_status.raft_id. A peer counts as reachable while
the leader's progress says `recent_active` at least once within `unreachable_after` seconds:
the flag is cleared at every check-quorum round and set again by the next response, so one
sample alone is not enough. Every pass is level-triggered and safe to run again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Protocol

from manager.raft import NotLeader, ProposalLost, RaftError, Status
from manager.raft.clock import Clock
from manager.raft.types import Role as RaftRole
from manager.store import (
    ManagerStatus,
    Node,
    NodeRole,
    ObjectEvent,
    Reachability,
    Store,
    StoreError,
    Watch,
    WriteTx,
)

log = logging.getLogger(__name__)


class MembershipDriver(Protocol):
    """The part of manager.raft.RaftDriver the reconciler uses."""

    @property
    def node_id(self) -> int: ...

    def status(self) -> Status: ...

    async def remove_member(self, node_id: int) -> None: ...

    async def transfer_leadership(self, to: int) -> None: ...


class MembershipReconciler:
    """Leader only: run() while this manager leads, stop() when it no longer does."""

    def __init__(
        self,
        store: Store,
        driver: MembershipDriver,
        *,
        clock: Clock,
        poll_interval: float = 1.0,
        unreachable_after: float = 5.0,
    ) -> None:
        self._store = store
        self._driver = driver
        self._clock = clock
        self._poll = poll_interval
        self._unreachable_after = unreachable_after
        self._last_active: dict[int, float] = {}  # raft id -> when progress last said active
        self._started = 0.0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        self._started = self._clock.now()
        self._last_active = {}
        watch = self._store.watch(Node)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [
                    tg.create_task(self._ticker()),
                    tg.create_task(self._on_changes(watch)),
                    tg.create_task(self._loop()),
                ]
        finally:
            watch.close()
            self._tasks = []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _ticker(self) -> None:
        while True:
            self._wake.set()
            await self._clock.sleep(self._poll)

    async def _on_changes(self, watch: Watch) -> None:
        async for event in watch:
            if isinstance(event, ObjectEvent):
                self._wake.set()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except (NotLeader, ProposalLost, RaftError, StoreError, TimeoutError) as e:
                log.warning("membership pass failed; retrying on the next one: %s", e)

    # -- one pass ----------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """One level-triggered pass: manager status, then at most one role change."""
        status = self._driver.status()
        if status.role is not RaftRole.LEADER:
            return
        self._observe(status)
        await self._write_manager_status(status)
        await self._reconcile_roles(status)

    def _observe(self, status: Status) -> None:
        now = self._clock.now()
        for raft_id, progress in status.progress.items():
            if progress.recent_active or raft_id == status.id:
                self._last_active[raft_id] = now

    def reachable(self, raft_id: int, status: Status) -> bool:
        if raft_id == status.id:
            return True
        if raft_id not in status.progress:
            return False
        seen = self._last_active.get(raft_id, self._started)
        return self._clock.now() - seen <= self._unreachable_after

    async def _write_manager_status(self, status: Status) -> None:
        def apply(tx: WriteTx) -> None:
            for node in tx.all(Node):
                ms = node.manager_status
                if ms is None or not ms.raft_id or ms.raft_id not in status.progress:
                    continue  # not (yet, or any more) a member: nothing Raft can tell
                reach = (
                    Reachability.REACHABLE
                    if self.reachable(ms.raft_id, status)
                    else Reachability.UNREACHABLE
                )
                new = dataclasses.replace(
                    ms, reachability=reach, leader=ms.raft_id == status.leader
                )
                if new != ms:
                    tx.update(dataclasses.replace(node, manager_status=new))

        await self._store.update(apply)

    async def _reconcile_roles(self, status: Status) -> None:
        view = self._store.view()
        members = status.conf_state.voters | status.conf_state.learners
        for node in view.all(Node):
            raft_id = node.manager_status.raft_id if node.manager_status else 0
            if node.spec.role is NodeRole.WORKER and node.role is NodeRole.MANAGER:
                await self._demote(node.id, raft_id, members, status)
                return  # one membership change per pass; the next pass sees its result
            if (
                node.spec.role is NodeRole.MANAGER
                and node.role is NodeRole.WORKER
                and raft_id in status.conf_state.voters
            ):
                await self._set_role(node.id, NodeRole.MANAGER)
                log.info("node joined Raft; it is a manager now", extra={"node_id": node.id})
                return

    async def _demote(
        self, node_id: str, raft_id: int, members: frozenset[int], status: Status
    ) -> None:
        if raft_id and raft_id == status.id:
            target = self._transfer_target(status)
            if target is None:
                log.warning(
                    "cannot demote the only reachable manager; waiting", extra={"node_id": node_id}
                )
                return
            log.info(
                "demoting the leader: transferring leadership first", extra={"node_id": node_id}
            )
            await self._driver.transfer_leadership(target)
            return  # the new leader's reconciler removes this member
        if raft_id in members:
            if not self._can_remove(raft_id, status):
                log.warning(
                    "removing this manager now would leave the rest without quorum; waiting",
                    extra={"node_id": node_id},
                )
                return
            await self._driver.remove_member(raft_id)
        await self._set_role(node_id, NodeRole.WORKER)
        log.info("node left Raft; it is a worker now", extra={"node_id": node_id})

    def _transfer_target(self, status: Status) -> int | None:
        candidates = [
            (progress.match, raft_id)
            for raft_id, progress in status.progress.items()
            if raft_id != status.id
            and raft_id in status.conf_state.voters
            and self.reachable(raft_id, status)
        ]
        return max(candidates)[1] if candidates else None

    def _can_remove(self, raft_id: int, status: Status) -> bool:
        """Whether the voters left after removing `raft_id` still have a reachable quorum."""
        remaining = status.conf_state.voters - {raft_id}
        if not remaining:
            return False
        reachable = sum(1 for v in remaining if self.reachable(v, status))
        return reachable >= len(remaining) // 2 + 1

    async def _set_role(self, node_id: str, role: NodeRole) -> None:
        def apply(tx: WriteTx) -> None:
            node = tx.get(Node, node_id)
            if node is None or node.role is role:
                return
            manager_status: ManagerStatus | None = node.manager_status
            if role is NodeRole.WORKER:
                manager_status = None  # workers have no manager status (as in Docker)
            tx.update(dataclasses.replace(node, role=role, manager_status=manager_status))

        await self._store.update(apply)
