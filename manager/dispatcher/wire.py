"""Dispatcher messages (heartbeats, assignments, task status) <-> domain values: the only
module of the dispatcher that sees *_pb2.

Shared by the servicer (manager side) and the agent (worker side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from manager.dispatcher.assignments import (
    Assigned,
    AssignmentBatch,
    AssignmentChange,
    ChangeAction,
)
from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView
from manager.dispatcher.status import StatusUpdate
from manager.store import (
    Config,
    EndpointMode,
    Network,
    NodeDescription,
    NodeRole,
    PortConfig,
    Secret,
    Task,
    TaskStatus,
    codec,
)
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
        obj = change.obj
        if isinstance(obj, NetworkView):
            if change.action is ChangeAction.REMOVE:
                item.network.network.id = obj.id  # only the id, as the proto says
            else:
                item.network.CopyFrom(network_view_message(obj))
            continue
        field = type(obj).__name__.lower()  # task | secret | config
        getattr(item, field).CopyFrom(codec.to_message(obj))
    return message


def decode_assignments(message: dispatcher_pb2.AssignmentsMessage) -> AssignmentBatch:
    changes: list[AssignmentChange] = []
    for item in message.changes:
        action = ChangeAction.REMOVE if item.action == item.REMOVE else ChangeAction.UPDATE
        which = item.WhichOneof("item")
        obj: Assigned
        if which == "task":
            obj = codec.from_message(Task, item.task)
        elif which == "secret":
            obj = codec.from_message(Secret, item.secret)
        elif which == "config":
            obj = codec.from_message(Config, item.config)
        elif which == "network" and action is ChangeAction.REMOVE:
            obj = NetworkView(Network(id=item.network.network.id))
        elif which == "network":
            obj = decode_network_view(item.network)
        else:
            continue  # an item kind from a newer manager
        changes.append(AssignmentChange(action, obj))
    complete = message.type == dispatcher_pb2.AssignmentsMessage.COMPLETE
    return AssignmentBatch(complete, message.sequence, tuple(changes))


def network_view_message(view: NetworkView) -> dispatcher_pb2.NetworkView:
    network = codec.to_message(view.network)
    assert isinstance(network, objects_pb2.Network)
    message = dispatcher_pb2.NetworkView(network=network, data_path_port=view.data_path_port)
    for p in view.peers:
        message.peers.add(
            address=p.address,
            mac=p.mac,
            node_id=p.node_id,
            node_addr=p.node_addr,
            task_id=p.task_id,
            task_name=p.task_name,
            service_id=p.service_id,
            aliases=list(p.aliases),
            serving=p.serving,
        )
    for s in view.services:
        item = message.services.add(
            service_id=s.service_id,
            name=s.name,
            endpoint_mode=s.endpoint_mode.value,
            vip=s.vip,
            aliases=list(s.aliases),
        )
        for port in s.ports:
            encoded = codec.to_message(port)
            assert isinstance(encoded, objects_pb2.PortConfig)
            item.ports.append(encoded)
    return message


def decode_network_view(message: dispatcher_pb2.NetworkView) -> NetworkView:
    peers = tuple(
        NetworkPeer(
            address=p.address,
            mac=p.mac,
            node_id=p.node_id,
            node_addr=p.node_addr,
            task_id=p.task_id,
            task_name=p.task_name,
            service_id=p.service_id,
            aliases=tuple(p.aliases),
            serving=p.serving,
        )
        for p in message.peers
    )
    services = tuple(
        NetworkService(
            service_id=s.service_id,
            name=s.name,
            endpoint_mode=_endpoint_mode(s.endpoint_mode),
            vip=s.vip,
            ports=tuple(codec.from_message(PortConfig, p) for p in s.ports),
            aliases=tuple(s.aliases),
        )
        for s in message.services
    )
    return NetworkView(
        network=codec.from_message(Network, message.network),
        peers=peers,
        services=services,
        data_path_port=message.data_path_port,
    )


def _endpoint_mode(value: str) -> EndpointMode:
    try:
        return EndpointMode(value)
    except ValueError:
        return EndpointMode.VIP  # unset, or a newer manager's mode: the default


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
