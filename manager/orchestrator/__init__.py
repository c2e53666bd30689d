"""Orchestrators: level-triggered reconcilers that turn services into tasks.

Each file holds one reconciler: a pure decision function (a ClusterState snapshot in, a Plan
of actions out) and a thin loop class with run()/stop(). See docs/design/orchestrator.md.

    store = Store(); clock = WallClock()
    loops = [ReplicatedOrchestrator(store, clock), GlobalOrchestrator(store, clock),
             JobsOrchestrator(store, clock), RestartSupervisor(store, clock),
             TaskReaper(store, clock), ConstraintEnforcer(store, clock)]
    async with asyncio.TaskGroup() as tg:   # on the leader only
        for loop in loops: tg.create_task(loop.run())
"""

from __future__ import annotations

from manager.orchestrator._common import (
    Action,
    ClusterState,
    CreateTask,
    DeleteTask,
    Plan,
    SetDesiredState,
    SetObservedState,
)
from manager.orchestrator._loop import ReconcileLoop, WallClock, apply_actions
from manager.orchestrator.constraint_enforcer import ConstraintEnforcer, enforce_constraints
from manager.orchestrator.global_ import GlobalOrchestrator, reconcile_global
from manager.orchestrator.jobs import JobsOrchestrator, reconcile_jobs
from manager.orchestrator.replicated import ReplicatedOrchestrator, reconcile_replicated
from manager.orchestrator.restart import (
    RestartPlan,
    RestartRecord,
    RestartSupervisor,
    decide_restarts,
    record_restarts,
    seed_history,
    should_restart,
)
from manager.orchestrator.task_reaper import TaskReaper, reap

__all__ = [
    "Action",
    "ClusterState",
    "ConstraintEnforcer",
    "CreateTask",
    "DeleteTask",
    "GlobalOrchestrator",
    "JobsOrchestrator",
    "Plan",
    "ReconcileLoop",
    "ReplicatedOrchestrator",
    "RestartPlan",
    "RestartRecord",
    "RestartSupervisor",
    "SetDesiredState",
    "SetObservedState",
    "TaskReaper",
    "WallClock",
    "apply_actions",
    "decide_restarts",
    "enforce_constraints",
    "reap",
    "reconcile_global",
    "reconcile_jobs",
    "reconcile_replicated",
    "record_restarts",
    "seed_history",
    "should_restart",
]
