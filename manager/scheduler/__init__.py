"""The scheduler: places pending tasks on nodes (filters, then spread ranking), in batches.

    plan = schedule(Snapshot.of(store.view()), pending)   # pure core
    Scheduler(store, clock).run()                         # the leader's loop that writes plans

See docs/design/scheduler.md.
"""

from __future__ import annotations

from manager.scheduler.constraint import Constraint, parse_constraint, parse_constraints
from manager.scheduler.errors import ConstraintError, PreferenceError, SchedulerError
from manager.scheduler.filters import (
    ConstraintFilter,
    CPUFilter,
    Filter,
    HostPortFilter,
    MaxReplicasFilter,
    MemoryFilter,
    PlatformFilter,
    ReadyFilter,
)
from manager.scheduler.nodeinfo import NodeInfo, host_ports
from manager.scheduler.pipeline import Checklist, Pipeline, no_suitable_node
from manager.scheduler.placement import (
    Decision,
    Plan,
    Refusal,
    Snapshot,
    schedule,
    validate_placement,
    wants_node,
)
from manager.scheduler.scheduler import (
    ASSIGNED_MESSAGE,
    CONFIRMED_MESSAGE,
    PENDING_MESSAGE,
    Scheduler,
)

__all__ = [
    "ASSIGNED_MESSAGE",
    "CONFIRMED_MESSAGE",
    "PENDING_MESSAGE",
    "CPUFilter",
    "Checklist",
    "Constraint",
    "ConstraintError",
    "ConstraintFilter",
    "Decision",
    "Filter",
    "HostPortFilter",
    "MaxReplicasFilter",
    "MemoryFilter",
    "NodeInfo",
    "Pipeline",
    "Plan",
    "PlatformFilter",
    "PreferenceError",
    "ReadyFilter",
    "Refusal",
    "Scheduler",
    "SchedulerError",
    "Snapshot",
    "host_ports",
    "no_suitable_node",
    "parse_constraint",
    "parse_constraints",
    "schedule",
    "validate_placement",
    "wants_node",
]
