"""Heartbeat messages <-> domain values: the only module of the dispatcher that sees *_pb2.

Shared by the servicer (manager side) and the agent (worker side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from manager.store import NodeDescription, NodeRole, codec
from proto import dispatcher_pb2, objects_pb2

DISPATCHER_SERVICE = "shoal.dispatcher.Dispatcher"  # for the authorization table (any node)
HEARTBEAT_METHOD = f"/{DISPATCHER_SERVICE}/Heartbeat"


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """What a manager answered, decoded for the agent."""

    accepted: bool
    period: float
    leader_addr: str
    managers: tuple[str, ...]
    desired_role: NodeRole | None  # None when the manager did not say (a redirect)


def heartbeat_request(
    node_id: str, addr: str, description: NodeDescription | None
) -> dispatcher_pb2.HeartbeatRequest:
    request = dispatcher_pb2.HeartbeatRequest(node_id=node_id, addr=addr)
    if description is not None:
        message = codec.to_message(description)
        assert isinstance(message, objects_pb2.NodeDescription)
        request.description.CopyFrom(message)
    return request


def request_description(request: dispatcher_pb2.HeartbeatRequest) -> NodeDescription | None:
    if not request.HasField("description"):
        return None
    return codec.from_message(NodeDescription, request.description)


def accepted_response(
    *, period: float, leader_addr: str, managers: Sequence[str], desired_role: NodeRole
) -> dispatcher_pb2.HeartbeatResponse:
    return dispatcher_pb2.HeartbeatResponse(
        accepted=True,
        period_seconds=period,
        leader_addr=leader_addr,
        managers=list(managers),
        desired_role=desired_role.value,
    )


def redirect_response(
    *, leader_addr: str, managers: Sequence[str]
) -> dispatcher_pb2.HeartbeatResponse:
    return dispatcher_pb2.HeartbeatResponse(
        accepted=False, leader_addr=leader_addr, managers=list(managers)
    )


def decode_reply(response: dispatcher_pb2.HeartbeatResponse) -> HeartbeatReply:
    try:
        role = NodeRole(response.desired_role) if response.desired_role else None
    except ValueError:
        role = None  # a newer manager's role name: ignore rather than act on it
    return HeartbeatReply(
        accepted=response.accepted,
        period=response.period_seconds,
        leader_addr=response.leader_addr,
        managers=tuple(response.managers),
        desired_role=role,
    )
