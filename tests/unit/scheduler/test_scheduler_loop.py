"""The scheduler loop against a local Store and a fake clock: no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from manager.raft.clock import FakeClock
from manager.scheduler import ASSIGNED_MESSAGE, CONFIRMED_MESSAGE, PENDING_MESSAGE, Scheduler
from manager.scheduler.scheduler import DEFAULT_DEBOUNCE
from manager.store import (
    Node,
    NodeAvailability,
    NodeState,
    NodeStatus,
    Store,
    Task,
    TaskState,
    WriteTx,
)
from tests.unit.scheduler.helpers import GB, node, spec, task
from tests.unit.store.helpers import T0, new_store


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class Harness:
    def __init__(self, batch_size: int = 1000) -> None:
        self.store: Store = new_store()
        self.clock = FakeClock()
        self.scheduler = Scheduler(
            self.store, self.clock, now=lambda: T0, batch_size=batch_size, manager_id="m1"
        )

    async def add(self, *objects: Node | Task) -> None:
        def create(tx: WriteTx) -> None:
            for obj in objects:
                tx.create(obj)

        await self.store.update(create)

    async def tick(self) -> None:
        """Let the loop see the changes, wait out its debounce, and write."""
        await settle()
        self.clock.advance(DEFAULT_DEBOUNCE)
        await settle()

    def task(self, task_id: str) -> Task:
        found = self.store.view().get(Task, task_id)
        assert found is not None
        return found

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        runner = asyncio.create_task(self.scheduler.run())
        await settle()
        try:
            yield
        finally:
            await self.scheduler.stop()
            await asyncio.wait_for(runner, 5)


async def test_a_full_pass_on_start_assigns_every_pending_task_in_one_transaction() -> None:
    h = Harness()
    await h.add(node("n1"), node("n2"), *[task(f"t{i}", slot=i) for i in range(4)])
    before = h.store.index
    async with h.running():
        assert h.store.index == before + 1
        tasks = [h.task(f"t{i}") for i in range(4)]
    assert sorted(t.node_id for t in tasks) == ["n1", "n1", "n2", "n2"]
    for t in tasks:
        assert t.status.state is TaskState.ASSIGNED
        assert t.status.message == ASSIGNED_MESSAGE
        assert t.status.timestamp == T0
        assert t.status.applied_by == "m1"
        assert t.status.err == ""


async def test_tasks_created_while_running_are_placed_after_the_debounce() -> None:
    h = Harness()
    await h.add(node("n1"))
    async with h.running():
        await h.add(task("t1"))
        await settle()
        assert h.task("t1").status.state is TaskState.PENDING  # still debouncing
        h.clock.advance(DEFAULT_DEBOUNCE)
        await settle()
        assert h.task("t1").node_id == "n1"
        assert h.task("t1").status.state is TaskState.ASSIGNED


async def test_batches_are_one_transaction_each() -> None:
    h = Harness(batch_size=2)
    await h.add(node("n1"), *[task(f"t{i}") for i in range(5)])
    before = h.store.index
    async with h.running():
        assert h.store.index == before + 3
        assert all(h.task(f"t{i}").node_id == "n1" for i in range(5))


async def test_only_pending_tasks_that_should_run_are_placed() -> None:
    h = Harness()
    await h.add(
        node("n1"),
        task("new", state=TaskState.NEW),  # not allocated yet
        task("stopping", desired=TaskState.SHUTDOWN),
        task("go"),
    )
    async with h.running():
        assert h.task("go").node_id == "n1"
        assert h.task("new").node_id == ""
        assert h.task("new").status.state is TaskState.NEW
        assert h.task("stopping").node_id == ""


async def test_a_job_task_meant_to_run_to_completion_is_placed() -> None:
    h = Harness()
    await h.add(node("n1"), task("job", desired=TaskState.COMPLETE))
    async with h.running():
        assert h.task("job").node_id == "n1"
        assert h.task("job").status.state is TaskState.ASSIGNED


async def test_a_task_that_fits_nowhere_says_why_once_then_runs_when_room_appears() -> None:
    h = Harness()
    await h.add(
        node("n1", memory=GB),
        node("n2", state=NodeState.DOWN),
        task("big", task_spec=spec(memory=2 * GB)),
    )
    async with h.running():
        big = h.task("big")
        assert big.status.state is TaskState.PENDING
        assert big.status.message == PENDING_MESSAGE
        assert big.status.err == (
            "no suitable node (1 node not available for new tasks; 1 node has insufficient memory)"
        )
        written_at = big.meta.version

        # a change that does not help: retried, same reason, nothing written
        n1 = h.store.view().get(Node, "n1")
        assert n1 is not None
        await h.store.update(lambda tx: tx.update(dataclasses.replace(n1, spec=n1.spec)))
        await h.tick()
        assert h.task("big").meta.version == written_at
        passes = h.scheduler.passes

        # n2 comes up with room: placed there
        n2 = h.store.view().get(Node, "n2")
        assert n2 is not None
        up = dataclasses.replace(n2, status=NodeStatus(state=NodeState.READY))
        await h.store.update(lambda tx: tx.update(up))
        await h.tick()
        assert h.scheduler.passes == passes + 1
        big = h.task("big")
        assert big.node_id == "n2"
        assert big.status.state is TaskState.ASSIGNED
        assert big.status.err == ""


async def test_a_finished_task_makes_room_for_a_waiting_one() -> None:
    h = Harness()
    await h.add(
        node("n1", memory=2 * GB),
        task("old", task_spec=spec(memory=2 * GB), node_id="n1", state=TaskState.RUNNING),
        task("new", task_spec=spec(memory=2 * GB)),
    )
    async with h.running():
        assert h.task("new").status.err == "no suitable node (1 node has insufficient memory)"
        old = h.task("old")
        done = dataclasses.replace(
            old, status=dataclasses.replace(old.status, state=TaskState.COMPLETE)
        )
        await h.store.update(lambda tx: tx.update(done))
        await h.tick()
        assert h.task("new").node_id == "n1"


async def test_our_own_writes_do_not_cause_more_passes() -> None:
    h = Harness()
    await h.add(node("n1"), task("t1"))
    async with h.running():
        await h.tick()
        await h.tick()
        assert h.scheduler.passes == 1


async def test_a_preassigned_task_is_confirmed() -> None:
    h = Harness()
    await h.add(node("n1"), node("n2"), task("g", "global", node_id="n2"))
    async with h.running():
        g = h.task("g")
    assert g.node_id == "n2"
    assert g.status.state is TaskState.ASSIGNED
    assert g.status.message == CONFIRMED_MESSAGE


async def test_a_drained_node_gets_nothing_new() -> None:
    h = Harness()
    await h.add(node("n1", availability=NodeAvailability.DRAIN), node("n2"))
    async with h.running():
        await h.add(task("t1"), task("t2"))
        await h.tick()
        assert {h.task("t1").node_id, h.task("t2").node_id} == {"n2"}


async def test_restore_from_a_snapshot_triggers_a_full_pass() -> None:
    h = Harness()
    other = new_store(prefix="x")
    await other.update(lambda tx: [tx.create(node("n1")), tx.create(task("t1"))])
    async with h.running():
        h.store.restore(other.snapshot())
        await h.tick()
        assert h.task("t1").node_id == "n1"


async def test_stop_ends_run() -> None:
    h = Harness()
    runner = asyncio.create_task(h.scheduler.run())
    await settle()
    await h.scheduler.stop()
    await asyncio.wait_for(runner, 5)
    assert runner.done() and runner.exception() is None
