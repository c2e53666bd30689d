"""Leader forwarding for the manager's RPCs, and the Control service of the local socket.

    caller ─▶ ForwardingControl.Method(request)          (any manager)
                │ no leader known: wait up to `wait` s, then UNAVAILABLE (Docker's message)
                ▼
              inner servicer (local store)  ── reads answer here, from the local store
                │ NotLeader (a write on a follower)
                ▼
              leader's Control.Method over mutual TLS with this manager's certificate,
              marked "forwarded" so the leader never forwards it again
                │ done
                ▼
              read barrier (ReadIndex): answer once this manager's store shows the write,
              so the caller's next read here sees it (read-your-writes per manager)

The servicer inside (CTL's) knows nothing of Raft except that `store.update` may raise
NotLeader / ProposalLost; this wrapper turns those into forwarding or UNAVAILABLE. The same
`LeaderLink` forwards NodeCA and RaftMembership calls (manager/ca/service.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import grpc

from manager.raft import NotLeader, ProposalLost, RaftError
from proto import control_pb2, control_pb2_grpc

T = TypeVar("T")

NO_LEADER_MESSAGE = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)
NOT_IN_SWARM_MESSAGE = (
    'This node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join" to '
    "connect this node to swarm and try again."
)
WORKER_MESSAGE = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
FORWARDED_KEY = "shoal-forwarded"
FORWARD_TIMEOUT = 60.0  # a forwarded call may include a Raft membership change

# Unary methods, forwarded by `_method`; the server-streaming ones (ServiceLogs) are written out.
CONTROL_METHODS: tuple[str, ...] = tuple(
    m.name
    for m in control_pb2.DESCRIPTOR.services_by_name["Control"].methods
    if not m.server_streaming
)
LogsHandler = Callable[
    [control_pb2.ServiceLogsRequest, grpc.aio.ServicerContext],
    AsyncIterator[control_pb2.ServiceLogsMessage],
]


class RaftView(Protocol):
    """What forwarding needs of the Raft driver."""

    @property
    def node_id(self) -> int: ...

    @property
    def leader(self) -> int: ...

    @property
    def members(self) -> Mapping[int, str]: ...

    async def read_barrier(self) -> None: ...


class NoLeaderError(Exception):
    def __init__(self) -> None:
        super().__init__(NO_LEADER_MESSAGE)


class LeaderLink:
    """Finds the leader and calls it: `call(local, remote)` runs `local` on this manager and,
    if it raises NotLeader, `remote` on a channel to the leader's cluster port."""

    def __init__(
        self,
        raft: RaftView,
        *,
        connect: Callable[[str], grpc.aio.Channel],
        wait: float = 5.0,
        poll: float = 0.05,
    ) -> None:
        self._raft = raft
        self._connect = connect
        self._wait = wait
        self._poll = poll
        self._channels: dict[str, grpc.aio.Channel] = {}

    @property
    def is_leader(self) -> bool:
        return self._raft.leader == self._raft.node_id

    def leader_addr(self) -> str:
        """The leader's cluster address, "" when no leader is known."""
        return self._raft.members.get(self._raft.leader, "") if self._raft.leader else ""

    async def call(
        self,
        local: Callable[[], Awaitable[T]],
        remote: Callable[[grpc.aio.Channel], Awaitable[T]],
        *,
        forwarded: bool = False,
    ) -> T:
        """NoLeaderError when no leader is found within `wait` seconds. A call that arrived
        forwarded runs only locally (one hop at most)."""
        deadline = asyncio.get_running_loop().time() + self._wait
        while True:
            leader = self._raft.leader
            if leader:
                try:
                    return await local()
                except NotLeader as e:
                    if forwarded:
                        raise  # the caller's manager looks for the leader again
                    addr = self._raft.members.get(e.leader or leader)
                    if addr and (e.leader or leader) != self._raft.node_id:
                        try:
                            result = await remote(self.channel(addr))
                        except grpc.aio.AioRpcError as err:
                            if err.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                            # the leader is unreachable (it may have just failed): look again
                        else:
                            await self._catch_up()
                            return result
            if asyncio.get_running_loop().time() >= deadline:
                raise NoLeaderError()
            await asyncio.sleep(self._poll)

    async def _catch_up(self) -> None:
        """Wait until this manager has applied what the leader just did for the caller.

        Without it a follower answers the caller's next read from a store that may not have
        the write yet (the leader tells followers about a commit with its next message): the
        token `join-token --rotate` prints would be the old, now refused, one. Best effort:
        the write is done, so a leader change or a timeout here only costs that guarantee."""
        try:
            async with asyncio.timeout(self._wait):
                await self._raft.read_barrier()
        except (RaftError, TimeoutError):
            pass

    def channel(self, addr: str) -> grpc.aio.Channel:
        channel = self._channels.get(addr)
        if channel is None:
            channel = self._channels[addr] = self._connect(addr)
        return channel

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def was_forwarded(context: grpc.aio.ServicerContext) -> bool:
    return any(key == FORWARDED_KEY for key, _ in context.invocation_metadata() or ())


FORWARD_METADATA = ((FORWARDED_KEY, "1"),)


async def abort_for(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    """Map forwarding failures to the status the caller sees; re-raise anything else."""
    if isinstance(error, NoLeaderError):
        await context.abort(grpc.StatusCode.UNAVAILABLE, NO_LEADER_MESSAGE)
    if isinstance(error, NotLeader):  # a forwarded call reached a manager that lost leadership
        await context.abort(grpc.StatusCode.UNAVAILABLE, NO_LEADER_MESSAGE)
    if isinstance(error, ProposalLost):
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            "the leader changed while the change was being made; it may or may not have been "
            "applied: check, and retry if it is missing",
        )
    if isinstance(error, grpc.aio.AioRpcError):
        await context.abort(error.code(), error.details() or "")
    raise error


class ForwardingControl(control_pb2_grpc.ControlServicer):
    """Control as every manager serves it: `inner` (the store servicer) + leader forwarding."""

    def __init__(self, inner: Any, link: LeaderLink, *, logs: LogsHandler | None = None) -> None:
        self._inner = inner
        self._link = link
        self._logs = logs

    async def ServiceLogs(
        self, request: control_pb2.ServiceLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[control_pb2.ServiceLogsMessage]:
        """The log broker runs on the leader only: a follower relays the leader's stream."""
        if self._logs is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this manager serves no logs")
        assert self._logs is not None
        if self._link.is_leader:
            async for message in self._logs(request, context):
                yield message
            return
        addr = self._link.leader_addr()
        if was_forwarded(context) or not addr:
            await context.abort(grpc.StatusCode.UNAVAILABLE, NO_LEADER_MESSAGE)
        stub = control_pb2_grpc.ControlStub(self._link.channel(addr))  # type: ignore[no-untyped-call]
        call = stub.ServiceLogs(request, metadata=FORWARD_METADATA)
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as e:
            await context.abort(e.code(), e.details() or "")
        finally:
            call.cancel()

    async def _handle(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def local() -> Any:
            return await getattr(self._inner, name)(request, context)

        async def remote(channel: grpc.aio.Channel) -> Any:
            stub = control_pb2_grpc.ControlStub(channel)  # type: ignore[no-untyped-call]
            return await getattr(stub, name)(
                request, metadata=FORWARD_METADATA, timeout=FORWARD_TIMEOUT
            )

        try:
            return await self._link.call(local, remote, forwarded=was_forwarded(context))
        except (NoLeaderError, NotLeader, ProposalLost, grpc.aio.AioRpcError) as e:
            await abort_for(context, e)


class LocalControl(control_pb2_grpc.ControlServicer):
    """Control on the local socket: the manager's ForwardingControl while this node is a
    manager; otherwise FAILED_PRECONDITION saying why (`target` returns that message)."""

    def __init__(self, target: Callable[[], ForwardingControl | str]) -> None:
        self._target = target

    async def _handle(self, name: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        target = self._target()
        if isinstance(target, str):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, target)
        assert not isinstance(target, str)
        return await getattr(target, name)(request, context)

    async def ServiceLogs(
        self, request: control_pb2.ServiceLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[control_pb2.ServiceLogsMessage]:
        target = self._target()
        if isinstance(target, str):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, target)
        assert not isinstance(target, str)
        async for message in target.ServiceLogs(request, context):
            yield message


def _method(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._handle(name, request, context)

    method.__name__ = name
    return method


for _name in CONTROL_METHODS:
    setattr(ForwardingControl, _name, _method(_name))
    setattr(LocalControl, _name, _method(_name))
