"""The worker's session with the managers: heartbeats that follow the leader.

    managers [m1, m2, m3]           connect(addr) -> channel -> DispatcherStub
        │
        ▼
    Heartbeat(node_id, addr, description?) ──▶ manager
        accepted      ─▶ sleep(period), again; note managers, desired role
        not accepted  ─▶ go to leader_addr at once (a follower redirects)
        RPC failure   ─▶ next manager in the list, after a jittered exponential backoff

The description (hostname, platform, engine) goes with the first heartbeat to each manager and
whenever it changed; it is refreshed every `describe_every` heartbeats. When the desired role in
an answer differs from the role this node runs as, `on_desired_role` is called (in its own task,
one at a time); the node's role counts as changed once it returns.

With `tasks` (worker.tasks.TaskManager), the agent also runs the node's tasks: `tasks.run()`
for the agent's lifetime, and `tasks.session(stub)` (assignments, status reports) while a
heartbeat session with the leader is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from manager.dispatcher import wire
from manager.raft.clock import Clock
from manager.store import NodeDescription, NodeRole
from proto import dispatcher_pb2_grpc

log = logging.getLogger(__name__)

_MAX_REDIRECTS = 3  # redirects in a row before backing off (two managers naming each other)


def _ignore_managers(_managers: list[str]) -> None:
    return None


async def _ignore_role(_role: str) -> None:
    return None


class TaskSession(Protocol):
    """What the agent needs of worker.tasks.TaskManager."""

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    async def session(self, stub: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class _Ended:
    """Why a session with one manager ended."""

    redirect: str = ""  # the leader's address, when a follower answered
    error: str = ""


class Agent:
    def __init__(
        self,
        *,
        node_id: str,
        managers: list[str],
        connect: Callable[[str], grpc.aio.Channel],
        describe: Callable[[], Awaitable[NodeDescription]],
        clock: Clock,
        on_managers: Callable[[list[str]], None] = _ignore_managers,
        on_desired_role: Callable[[str], Awaitable[None]] = _ignore_role,
        role: str = NodeRole.WORKER.value,
        addr: str = "",
        rng: random.Random | None = None,
        rpc_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        describe_every: int = 12,
        tasks: TaskSession | None = None,
    ) -> None:
        if not managers:
            raise ValueError("the agent needs at least one manager address")
        self._node_id = node_id
        self._managers = list(managers)
        self._connect = connect
        self._describe = describe
        self._clock = clock
        self._on_managers = on_managers
        self._on_desired_role = on_desired_role
        self._role = role
        self._addr = addr
        self._rng = rng or random.Random()
        self._rpc_timeout = rpc_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._describe_every = max(1, describe_every)
        self._tasks = tasks
        self._task_session: asyncio.Task[None] | None = None
        self._manager = self._managers[0]
        self._description: NodeDescription | None = None
        self._role_change: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._main: asyncio.Task[None] | None = None
        self._failures = 0  # failed sessions in a row (backoff)
        self._redirects = 0  # redirects in a row

    @property
    def manager(self) -> str:
        """The manager this agent talks to (or is about to)."""
        return self._manager

    @property
    def managers(self) -> list[str]:
        return list(self._managers)

    @property
    def role(self) -> str:
        return self._role

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._main = tg.create_task(self._loop())
                if self._tasks is not None:
                    tg.create_task(self._tasks.run())
        finally:
            self._tg = None
            self._main = None

    async def stop(self) -> None:
        for task in (self._main, self._role_change):
            if task is not None:
                task.cancel()
        if self._tasks is not None:
            await self._tasks.stop()

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            ended = await self._session(self._manager)
            redirect = ended.redirect
            if redirect and redirect != self._manager and self._redirects < _MAX_REDIRECTS:
                log.info("following the leader", extra={"manager": redirect})
                self._redirects += 1
                self._manager = redirect
                continue
            if ended.error:
                log.warning("heartbeat to %s failed: %s", self._manager, ended.error)
            self._failures += 1
            self._redirects = 0
            self._manager = self._next_manager(self._manager)
            await self._clock.sleep(self._backoff(self._failures))

    async def _session(self, address: str) -> _Ended:
        """Heartbeat to one manager until it fails or redirects. Resets nothing on failure."""
        channel = self._connect(address)
        try:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)  # type: ignore[no-untyped-call]
            sent: NodeDescription | None = None
            beats = 0
            while True:
                if self._description is None or beats % self._describe_every == 0:
                    self._description = await self._describe()
                beats += 1
                description = None if self._description == sent else self._description
                request = wire.heartbeat_request(self._node_id, self._addr, description)
                try:
                    response = await stub.Heartbeat(request, timeout=self._rpc_timeout)
                except (grpc.RpcError, OSError, TimeoutError) as e:
                    return _Ended(error=_describe_error(e))
                reply = wire.decode_reply(response)
                if not reply.accepted:
                    if reply.managers:
                        self._update_managers(reply.managers)
                    return _Ended(redirect=reply.leader_addr, error="no leader known")
                sent = self._description
                self._accepted(reply)
                self._start_task_session(stub)
                await self._clock.sleep(reply.period)
        finally:
            await self._stop_task_session()
            await channel.close()

    def _accepted(self, reply: wire.HeartbeatReply) -> None:
        self._failures = 0
        self._redirects = 0
        if reply.managers:
            self._update_managers(reply.managers)
        role = reply.desired_role
        if role is not None and role.value != self._role:
            self._start_role_change(role.value)

    def _start_task_session(self, stub: Any) -> None:
        """Assignments and status reports go to the manager that accepted our heartbeat."""
        if self._tasks is None or self._tg is None or self._task_session is not None:
            return
        self._task_session = self._tg.create_task(self._tasks.session(stub))

    async def _stop_task_session(self) -> None:
        task, self._task_session = self._task_session, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _update_managers(self, managers: Sequence[str]) -> None:
        if list(managers) != self._managers:
            self._managers = list(managers)
            self._on_managers(list(managers))

    def _start_role_change(self, role: str) -> None:
        if self._tg is None or (self._role_change is not None and not self._role_change.done()):
            return  # one at a time; the next heartbeat asks again if it is still wanted
        self._role_change = self._tg.create_task(self._change_role(role))

    async def _change_role(self, role: str) -> None:
        log.info("desired role changed", extra={"node_id": self._node_id, "role": role})
        try:
            await self._on_desired_role(role)
        except Exception:
            log.exception("changing the node's role failed; retrying at the next heartbeat")
            return
        self._role = role

    def _next_manager(self, current: str) -> str:
        if current in self._managers:
            i = self._managers.index(current)
            return self._managers[(i + 1) % len(self._managers)]
        return self._managers[0]

    def _backoff(self, failures: int) -> float:
        delay = min(self._backoff_max, self._backoff_initial * 2.0 ** min(failures - 1, 30))
        return delay * self._rng.uniform(0.5, 1.0)


def _describe_error(e: BaseException) -> str:
    code: Any = getattr(e, "code", None)
    details: Any = getattr(e, "details", None)
    if callable(code) and callable(details):
        return f"{code()}: {details()}"
    return str(e) or type(e).__name__
