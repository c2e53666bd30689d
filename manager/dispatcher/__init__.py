"""Worker sessions with the managers: heartbeats, node status, assignments, task status.

    agent ──Heartbeat──▶ DispatcherServicer (any manager; a follower redirects to the leader)
                             └─▶ Dispatcher (leader): Ready now, Down after 3 missed periods
          ──Assignments──▶ AssignmentDispatcher (leader): the node's tasks, secrets, configs
                             and the peer tables of its networks (NetworkView)
          ──UpdateTaskStatus──▶ TaskStatusIntake (leader): own tasks only, batched writes

See docs/design/dispatcher.md.
"""

from manager.dispatcher.assignments import (
    AssignmentBatch,
    AssignmentChange,
    AssignmentDispatcher,
    AssignmentSet,
    ChangeAction,
    diff,
    node_assignments,
)
from manager.dispatcher.dispatcher import (
    DEFAULT_PERIOD,
    DOWN_MESSAGE,
    LEADER_CHANGE_PERIODS,
    MISSED_PERIODS,
    Dispatcher,
    desired_role,
    heartbeat_period,
)
from manager.dispatcher.errors import DispatcherError, DispatcherNotLeader, UnknownNode
from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView, network_views
from manager.dispatcher.servicer import DispatcherServicer, add_to_server, peer_host
from manager.dispatcher.status import ForeignTask, StatusUpdate, TaskStatusIntake
from manager.dispatcher.wire import (
    ASSIGNMENTS_METHOD,
    DISPATCHER_SERVICE,
    HEARTBEAT_METHOD,
    UPDATE_TASK_STATUS_METHOD,
    HeartbeatReply,
)

__all__ = [
    "ASSIGNMENTS_METHOD",
    "DEFAULT_PERIOD",
    "DISPATCHER_SERVICE",
    "DOWN_MESSAGE",
    "HEARTBEAT_METHOD",
    "LEADER_CHANGE_PERIODS",
    "MISSED_PERIODS",
    "UPDATE_TASK_STATUS_METHOD",
    "AssignmentBatch",
    "AssignmentChange",
    "AssignmentDispatcher",
    "AssignmentSet",
    "ChangeAction",
    "Dispatcher",
    "DispatcherError",
    "DispatcherNotLeader",
    "DispatcherServicer",
    "ForeignTask",
    "HeartbeatReply",
    "NetworkPeer",
    "NetworkService",
    "NetworkView",
    "StatusUpdate",
    "TaskStatusIntake",
    "UnknownNode",
    "add_to_server",
    "desired_role",
    "diff",
    "heartbeat_period",
    "network_views",
    "node_assignments",
    "peer_host",
]
