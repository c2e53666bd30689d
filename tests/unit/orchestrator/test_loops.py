"""The loop classes around the decision functions: run() on a local store with a fake clock,
reacting to watch events, waking up when a restart delay runs out, stop() ending run()."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from manager.orchestrator import (
    ConstraintEnforcer,
    GlobalOrchestrator,
    JobsOrchestrator,
    ReconcileLoop,
    ReplicatedOrchestrator,
    RestartSupervisor,
    TaskReaper,
)
from manager.raft.clock import FakeClock
from manager.store import (
    Node,
    NodeSpec,
    NodeState,
    NodeStatus,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
)


async def settle(store: Store) -> None:
    """Yield to the loops until the store has not moved for a while (no sleeps: the fake
    clock only moves when the test advances it)."""
    quiet, last = 0, store.index
    for _ in range(5000):
        await asyncio.sleep(0)
        quiet = quiet + 1 if store.index == last else 0
        last = store.index
        if quiet >= 200:
            return
    raise AssertionError("the orchestrators did not go quiet")


def live(store: Store) -> list[Task]:
    return [
        t
        for t in store.view().all(Task)
        if t.desired_state == TaskState.RUNNING and not t.status.state.terminal
    ]


async def scenario() -> None:
    clock = FakeClock(1_700_000_000.0)
    store = Store()
    await store.update(
        lambda tx: tx.create(
            Node(id="n1", spec=NodeSpec(name="n1"), status=NodeStatus(state=NodeState.READY))
        )
    )
    loops: list[ReconcileLoop] = [
        cls(store, clock)
        for cls in (
            ReplicatedOrchestrator,
            GlobalOrchestrator,
            JobsOrchestrator,
            RestartSupervisor,
            TaskReaper,
            ConstraintEnforcer,
        )
    ]
    async with asyncio.TaskGroup() as tg:
        for loop in loops:
            tg.create_task(loop.run())
        await settle(store)
        policy = RestartPolicy(delay=timedelta(seconds=5))
        spec = ServiceSpec(
            name="web",
            mode=ReplicatedService(replicas=2),
            task_template=TaskSpec(restart_policy=policy),
        )
        await store.update(lambda tx: tx.create(Service(id="web", spec=spec, spec_version=1)))
        await settle(store)
        tasks = live(store)
        assert sorted(t.slot for t in tasks) == [1, 2]
        assert all(t.status.state == TaskState.PENDING for t in tasks)

        # the agent reports slot 1 failed: a replacement appears, held in NEW for 5s
        failed = next(t for t in tasks if t.slot == 1)
        status = dataclasses.replace(failed.status, state=TaskState.FAILED)
        await store.update(lambda tx: tx.update(dataclasses.replace(failed, status=status)))
        await settle(store)
        slot1 = [t for t in live(store) if t.slot == 1]
        assert [t.status.state for t in slot1] == [TaskState.NEW]
        clock.advance(4)
        await settle(store)
        assert [t.status.state for t in live(store) if t.slot == 1] == [TaskState.NEW]
        clock.advance(1)
        await settle(store)
        assert [t.status.state for t in live(store) if t.slot == 1] == [TaskState.PENDING]

        # scale down: the surplus slot is marked REMOVE, then reaped (it never reached a node)
        svc = store.view().get(Service, "web")
        assert svc is not None
        scaled = dataclasses.replace(
            svc,
            spec=dataclasses.replace(svc.spec, mode=ReplicatedService(replicas=1)),
            spec_version=2,
        )
        await store.update(lambda tx: tx.update(scaled))
        await settle(store)
        assert [t.slot for t in live(store)] == [1]
        assert all(t.slot == 1 for t in store.view().all(Task))

        for loop in loops:
            loop.stop()


def test_loops_react_to_events_and_deadlines() -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
