"""Worker sessions with the managers: heartbeats and node status (Ready/Down).

    agent ──Heartbeat──▶ DispatcherServicer (any manager; a follower redirects to the leader)
                             └─▶ Dispatcher (leader): Ready now, Down after 3 missed periods

See docs/design/dispatcher.md.
"""

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
from manager.dispatcher.servicer import DispatcherServicer, add_to_server, peer_host
from manager.dispatcher.wire import DISPATCHER_SERVICE, HEARTBEAT_METHOD, HeartbeatReply

__all__ = [
    "DEFAULT_PERIOD",
    "DISPATCHER_SERVICE",
    "DOWN_MESSAGE",
    "HEARTBEAT_METHOD",
    "LEADER_CHANGE_PERIODS",
    "MISSED_PERIODS",
    "Dispatcher",
    "DispatcherError",
    "DispatcherNotLeader",
    "DispatcherServicer",
    "HeartbeatReply",
    "UnknownNode",
    "add_to_server",
    "desired_role",
    "heartbeat_period",
    "peer_host",
]
