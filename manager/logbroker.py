"""The log broker: `service logs` subscriptions on the leader, answered by the workers.

    shoal service logs ─▶ Control.ServiceLogs (a follower forwards the stream to the leader)
        └─▶ LogBroker.subscribe(selector, options, nodes) ─▶ Subscription
                 │ announced to listeners                    ▲ lines, warnings, end
                 ▼                                           │
    agent ──Dispatcher.LogSubscriptions──▶ listen(node)      │
          ──Dispatcher.PublishLogs──────▶ publish(node, subscription, lines, close)

Workers serve no RPCs, so (like swarmkit's log broker) each agent keeps a stream of the
subscriptions that may concern its tasks and publishes its containers' lines back to the
manager it is connected to, which is the leader (heartbeats are only accepted there), so one
broker on the leader sees every node.

- A follow subscription goes to every listening node (a task may start anywhere later) and
  ends only when the subscriber leaves.
- A non-follow one goes to the nodes that hold tasks of the selection; it ends when each of
  them has closed its part, or after `timeout` seconds with a warning naming the nodes that
  did not answer (down, disconnected, or too old to know about logs).
- `stop()` (leadership lost) ends every subscription and listener with BrokerNotRunning; the
  servicers turn that into UNAVAILABLE, the agent reconnects to the new leader.

No I/O and no store here: the caller works out the nodes (`nodes_for`), so the broker is
tested with plain values and a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

from manager.raft.clock import Clock
from manager.store import ReadTx, Task, TaskState

DEFAULT_TIMEOUT = 10.0  # seconds a non-follow subscription waits for the nodes


class BrokerNotRunning(Exception):
    def __init__(self) -> None:
        super().__init__("this manager is not the leader (its log broker is not running)")


class UnknownSubscription(Exception):
    """A node published to a subscription it was not given (or one that ended)."""


@dataclass(frozen=True, slots=True)
class LogSelector:
    """A task matches if its service or its own id is listed."""

    service_ids: frozenset[str] = frozenset()
    task_ids: frozenset[str] = frozenset()

    def matches(self, task: Task) -> bool:
        return task.service_id in self.service_ids or task.id in self.task_ids


@dataclass(frozen=True, slots=True)
class LogOptions:
    follow: bool = False
    tail: int = -1  # lines per container from the end; < 0: all
    since_unix_nano: int = 0  # 0: from the start


@dataclass(frozen=True, slots=True)
class LogLine:
    service_id: str
    node_id: str
    task_id: str
    unix_nano: int
    stderr: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """What a node is told: a subscription opened (close=False) or ended (close=True)."""

    id: str
    selector: LogSelector
    options: LogOptions
    close: bool = False


@dataclass(frozen=True, slots=True)
class LogBatch:
    lines: tuple[LogLine, ...] = ()
    warnings: tuple[str, ...] = ()


def nodes_for(view: ReadTx, selector: LogSelector) -> set[str]:
    """The nodes holding tasks of the selection that may have had a container."""
    tasks = [t for sid in selector.service_ids for t in view.tasks_by_service(sid)]
    tasks += [t for tid in selector.task_ids if (t := view.get(Task, tid)) is not None]
    return {t.node_id for t in tasks if t.node_id and t.status.state >= TaskState.ASSIGNED}


_END = object()


@dataclass(eq=False)
class Subscription:
    info: SubscriptionInfo
    waiting: set[str]  # nodes whose close a non-follow subscription waits for
    sent_to: set[str] = field(default_factory=set)
    queue: asyncio.Queue[LogBatch | object] = field(default_factory=asyncio.Queue)

    @property
    def id(self) -> str:
        return self.info.id


class LogBroker:
    def __init__(self, clock: Clock, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._clock = clock
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._subs: dict[str, Subscription] = {}
        self._listeners: dict[int, tuple[str, asyncio.Queue[SubscriptionInfo | None]]] = {}
        self._listener_ids = itertools.count(1)
        self._running = False
        self._stopping = asyncio.Event()

    # -- lifecycle (leader only) ---------------------------------------------------------------

    async def run(self) -> None:
        self._stopping.clear()
        self._running = True
        try:
            await self._stopping.wait()
        finally:
            self._shutdown()

    async def stop(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        self._running = False
        self._stopping.set()
        for sub in self._subs.values():
            sub.queue.put_nowait(BrokerNotRunning())
        for _node, queue in self._listeners.values():
            queue.put_nowait(None)
        self._subs.clear()

    # -- subscribers ---------------------------------------------------------------------------

    async def subscribe(
        self, selector: LogSelector, options: LogOptions, nodes: Iterable[str]
    ) -> AsyncGenerator[LogBatch, None]:
        """The selection's lines as the nodes send them. Ends (non-follow) once every node
        closed its part or the timeout passed; raises BrokerNotRunning if leadership is lost."""
        if not self._running:
            raise BrokerNotRunning()
        info = SubscriptionInfo(f"sub-{next(self._ids)}", selector, options)
        sub = Subscription(info, waiting=set() if options.follow else set(nodes))
        self._subs[sub.id] = sub
        try:
            for node_id, queue in self._listeners.values():
                if self._concerns(sub, node_id):
                    sub.sent_to.add(node_id)
                    queue.put_nowait(info)
            if not options.follow and not sub.waiting:
                return
            deadline = None if options.follow else self._clock.now() + self._timeout
            while True:
                item = await self._next(sub, deadline)
                if item is None:  # timed out
                    late = ", ".join(sorted(sub.waiting))
                    yield LogBatch(warnings=(f"no logs from node(s) {late}: they did not answer",))
                    return
                if isinstance(item, BrokerNotRunning):
                    raise item
                if item is _END:
                    return
                assert isinstance(item, LogBatch)
                yield item
        finally:
            self._end(sub)

    def _concerns(self, sub: Subscription, node_id: str) -> bool:
        return sub.info.options.follow or node_id in sub.waiting

    async def _next(self, sub: Subscription, deadline: float | None) -> object | None:
        if deadline is None:
            return await sub.queue.get()
        get = asyncio.ensure_future(sub.queue.get())
        timer = asyncio.ensure_future(self._clock.sleep(max(0.0, deadline - self._clock.now())))
        try:
            await asyncio.wait({get, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (get, timer):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fut
        if get.done() and not get.cancelled():
            return get.result()
        return None

    def _end(self, sub: Subscription) -> None:
        if self._subs.pop(sub.id, None) is None:
            return
        closed = SubscriptionInfo(sub.id, sub.info.selector, sub.info.options, close=True)
        for node_id, queue in self._listeners.values():
            if node_id in sub.sent_to:
                queue.put_nowait(closed)

    # -- nodes ---------------------------------------------------------------------------------

    async def listen(self, node_id: str) -> AsyncGenerator[SubscriptionInfo, None]:
        """The subscriptions that may concern `node_id`: the open ones, then as they come and
        go. Raises BrokerNotRunning when this manager does not (or no longer) lead."""
        if not self._running:
            raise BrokerNotRunning()
        key = next(self._listener_ids)
        queue: asyncio.Queue[SubscriptionInfo | None] = asyncio.Queue()
        self._listeners[key] = (node_id, queue)
        try:
            for sub in list(self._subs.values()):
                if self._concerns(sub, node_id):
                    sub.sent_to.add(node_id)
                    yield sub.info
            while True:
                info = await queue.get()
                if info is None:
                    raise BrokerNotRunning()
                yield info
        finally:
            self._listeners.pop(key, None)

    def publish(
        self, node_id: str, subscription_id: str, lines: Iterable[LogLine], *, close: bool
    ) -> None:
        """Lines from `node_id` (their node id is set to it, whatever the node said).
        UnknownSubscription if the node was not given that subscription; one that already
        ended is ignored (the subscriber left while the node was sending)."""
        sub = self._subs.get(subscription_id)
        if sub is None:
            return
        if node_id not in sub.sent_to:
            raise UnknownSubscription(
                f"node {node_id} publishes to log subscription {subscription_id}, "
                "which was not sent to it"
            )
        batch = tuple(_from(node_id, line) for line in lines)
        if batch:
            sub.queue.put_nowait(LogBatch(lines=batch))
        if close and node_id in sub.waiting:
            sub.waiting.discard(node_id)
            if not sub.waiting and not sub.info.options.follow:
                sub.queue.put_nowait(_END)

    @property
    def subscriptions(self) -> int:
        return len(self._subs)


def _from(node_id: str, line: LogLine) -> LogLine:
    if line.node_id == node_id:
        return line
    return LogLine(line.service_id, node_id, line.task_id, line.unix_nano, line.stderr, line.data)
