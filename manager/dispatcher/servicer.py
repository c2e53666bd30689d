"""The Dispatcher gRPC service: decode, call the core (Dispatcher, AssignmentDispatcher,
TaskStatusIntake), encode.

The caller is whoever its certificate says (manager.ca's current_node(), set by the
authorization interceptor); a request naming another node is refused, so a node can only
report for itself. A follower answers accepted=false with the leader's address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc

from manager import logbroker_wire
from manager.ca import NodeIdentity, current_node
from manager.dispatcher import wire
from manager.dispatcher.assignments import AssignmentDispatcher
from manager.dispatcher.dispatcher import Dispatcher
from manager.dispatcher.errors import DispatcherNotLeader, UnknownNode
from manager.dispatcher.status import ForeignTask, TaskStatusIntake
from manager.logbroker import LogBroker
from manager.raft import NotLeader, ProposalLost
from proto import dispatcher_pb2, dispatcher_pb2_grpc


class DispatcherServicer(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        leader_addr: Callable[[], str],
        managers: Callable[[], list[str]],
        identify: Callable[[], NodeIdentity | None] = current_node,
        assignments: AssignmentDispatcher | None = None,
        task_status: TaskStatusIntake | None = None,
        logs: LogBroker | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._leader_addr = leader_addr
        self._managers = managers
        self._identify = identify
        self._assignments = assignments
        self._task_status = task_status
        self._logs = logs

    async def Heartbeat(
        self, request: dispatcher_pb2.HeartbeatRequest, context: Any
    ) -> dispatcher_pb2.HeartbeatResponse:
        caller = self._identify()
        if caller is None:
            await _abort(
                context, grpc.StatusCode.UNAUTHENTICATED, "heartbeats need a node certificate"
            )
        if request.node_id and request.node_id != caller.node_id:
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"node {caller.node_id} cannot report for node {request.node_id}",
            )
        addr = request.addr or peer_host(context.peer())
        try:
            period = await self._dispatcher.heartbeat(
                caller.node_id, addr, wire.request_description(request)
            )
            role = self._dispatcher.desired_role(caller.node_id)
        except (DispatcherNotLeader, NotLeader, ProposalLost):
            return wire.redirect_response(
                leader_addr=self._leader_addr(), managers=self._managers()
            )
        except UnknownNode as e:
            await _abort(context, grpc.StatusCode.NOT_FOUND, str(e))
        return wire.accepted_response(
            period=period,
            leader_addr=self._leader_addr(),
            managers=self._managers(),
            desired_role=role,
        )

    async def Assignments(
        self, request: dispatcher_pb2.AssignmentsRequest, context: Any
    ) -> AsyncIterator[dispatcher_pb2.AssignmentsMessage]:
        caller = await self._caller(context, request.node_id)
        if self._assignments is None:
            await _abort(context, grpc.StatusCode.UNIMPLEMENTED, "no assignments here")
        try:
            async for batch in self._assignments.stream(caller):
                yield wire.assignments_message(batch)
        except DispatcherNotLeader:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, _not_leader(self._leader_addr()))
        except UnknownNode as e:
            await _abort(context, grpc.StatusCode.NOT_FOUND, str(e))

    async def UpdateTaskStatus(
        self, request: dispatcher_pb2.UpdateTaskStatusRequest, context: Any
    ) -> dispatcher_pb2.UpdateTaskStatusResponse:
        caller = await self._caller(context, request.node_id)
        if self._task_status is None:
            await _abort(context, grpc.StatusCode.UNIMPLEMENTED, "no task status intake here")
        try:
            await self._task_status.update(caller, wire.decode_status_request(request))
        except ForeignTask as e:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(e))
        except (DispatcherNotLeader, NotLeader, ProposalLost):
            await _abort(context, grpc.StatusCode.UNAVAILABLE, _not_leader(self._leader_addr()))
        return dispatcher_pb2.UpdateTaskStatusResponse()

    async def LogSubscriptions(
        self, request: dispatcher_pb2.LogSubscriptionsRequest, context: Any
    ) -> AsyncIterator[dispatcher_pb2.LogSubscription]:
        caller = await self._caller(context, request.node_id)
        if self._logs is None:
            await _abort(context, grpc.StatusCode.UNIMPLEMENTED, "no log broker here")
        async for message in logbroker_wire.log_subscriptions(self._logs, caller, context):
            yield message

    async def PublishLogs(
        self, request_iterator: AsyncIterator[dispatcher_pb2.PublishLogsMessage], context: Any
    ) -> dispatcher_pb2.PublishLogsResponse:
        caller = await self._caller(context, "")
        if self._logs is None:
            await _abort(context, grpc.StatusCode.UNIMPLEMENTED, "no log broker here")
        return await logbroker_wire.publish_logs(self._logs, caller, request_iterator, context)

    async def _caller(self, context: Any, claimed: str) -> str:
        """The caller's node id from its certificate; a request naming another is refused."""
        caller = self._identify()
        if caller is None:
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, "this needs a node certificate")
        if claimed and claimed != caller.node_id:
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"node {caller.node_id} cannot report for node {claimed}",
            )
        return caller.node_id


def _not_leader(leader_addr: str) -> str:
    where = f"; the leader is {leader_addr}" if leader_addr else ""
    return f"this manager is not the leader{where}"


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # it raises; this tells type checkers


def peer_host(peer: str) -> str:
    """The IP of a gRPC peer: "ipv4:10.0.0.2:51234" -> "10.0.0.2", "ipv6:[::1]:5" -> "::1"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        host = rest.rsplit(":", 1)[0]
        return host.strip("[]").replace("%25", "%")
    return ""


def add_to_server(servicer: DispatcherServicer, server: Any) -> None:
    dispatcher_pb2_grpc.add_DispatcherServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
