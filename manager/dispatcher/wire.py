"""Dispatcher messages (heartbeats, assignments, task status) <-> domain values: the only
module of the dispatcher that sees *_pb2.

Shared by the servicer (manager side) and the agent (worker side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from manager.dispatcher.assignments import AssignmentBatch, AssignmentChange, ChangeAction
from manager.dispatcher.status import StatusUpdate
from manager.store import Config, NodeDescription, NodeRole, Secret, Task, TaskStatus, codec
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


# -- assignments and task status ---------------------------------------------------------------

ASSIGNMENTS_METHOD = f"/{DISPATCHER_SERVICE}/Assignments"
UPDATE_TASK_STATUS_METHOD = f"/{DISPATCHER_SERVICE}/UpdateTaskStatus"

_ACTIONS = {
    ChangeAction.UPDATE: dispatcher_pb2.AssignmentChange.UPDATE,
    ChangeAction.REMOVE: dispatcher_pb2.AssignmentChange.REMOVE,
}


def assignments_message(batch: AssignmentBatch) -> dispatcher_pb2.AssignmentsMessage:
    kind = dispatcher_pb2.AssignmentsMessage
    message = kind(
        type=kind.COMPLETE if batch.complete else kind.INCREMENTAL,
        sequence=batch.sequence,
        applies_to=0 if batch.complete else batch.sequence - 1,
    )
    for change in batch.changes:
        item = message.changes.add(action=_ACTIONS[change.action])
        field = type(change.obj).__name__.lower()  # task | secret | config
        getattr(item, field).CopyFrom(codec.to_message(change.obj))
    return message


def decode_assignments(message: dispatcher_pb2.AssignmentsMessage) -> AssignmentBatch:
    changes: list[AssignmentChange] = []
    for item in message.changes:
        action = ChangeAction.REMOVE if item.action == item.REMOVE else ChangeAction.UPDATE
        which = item.WhichOneof("item")
        obj: Task | Secret | Config
        if which == "task":
            obj = codec.from_message(Task, item.task)
        elif which == "secret":
            obj = codec.from_message(Secret, item.secret)
        elif which == "config":
            obj = codec.from_message(Config, item.config)
        else:
            continue  # an item kind from a newer manager
        changes.append(AssignmentChange(action, obj))
    complete = message.type == dispatcher_pb2.AssignmentsMessage.COMPLETE
    return AssignmentBatch(complete, message.sequence, tuple(changes))


def status_request(
    node_id: str, updates: Sequence[StatusUpdate]
) -> dispatcher_pb2.UpdateTaskStatusRequest:
    request = dispatcher_pb2.UpdateTaskStatusRequest(node_id=node_id)
    for u in updates:
        item = request.updates.add(task_id=u.task_id)
        status = codec.to_message(u.status)
        assert isinstance(status, objects_pb2.TaskStatus)
        item.status.CopyFrom(status)
    return request


def decode_status_request(request: dispatcher_pb2.UpdateTaskStatusRequest) -> list[StatusUpdate]:
    return [
        StatusUpdate(u.task_id, codec.from_message(TaskStatus, u.status)) for u in request.updates
    ]
