"""The agent's side of `service logs`: answer the leader's log subscriptions with the output
of this node's containers.

    Dispatcher.LogSubscriptions ──▶ LogAgent.session(stub)
        open  ─▶ publisher: one reader per matching task (LogSource.logs: the engine's
                 stdout/stderr with timestamps, tail, since, follow) ─▶ batches
                 ─▶ Dispatcher.PublishLogs (client stream), then `close` (non-follow)
        close ─▶ the publisher is cancelled (the subscriber left)
    follow: matching tasks that reach STARTING later are picked up every `rescan` seconds.

Workers serve no RPCs: everything goes over the session with the leader (see
manager/logbroker.py). `WithLogs` runs the task manager and the log agent as the agent's one
`TaskSession`, so the agent itself does not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import grpc

from manager.logbroker import LogLine, LogOptions, SubscriptionInfo
from manager.logbroker_wire import decode_subscription, publish_message
from manager.raft.clock import Clock
from manager.store import Task, TaskState
from proto import dispatcher_pb2

log = logging.getLogger(__name__)

MAX_BATCH = 100  # lines per PublishLogs message


class LogSource(Protocol):
    """The output of one task's container (the engine; a fake in tests)."""

    def logs(self, task: Task, options: LogOptions) -> AsyncIterator[LogLine]: ...


class LogCalls(Protocol):
    """The part of the generated DispatcherStub the log agent uses."""

    def LogSubscriptions(
        self, request: dispatcher_pb2.LogSubscriptionsRequest
    ) -> AsyncIterator[dispatcher_pb2.LogSubscription]: ...

    def PublishLogs(
        self, request_iterator: AsyncIterator[dispatcher_pb2.PublishLogsMessage]
    ) -> Awaitable[dispatcher_pb2.PublishLogsResponse]: ...


class LogAgent:
    def __init__(
        self,
        *,
        node_id: str,
        source: LogSource,
        tasks: Callable[[], Mapping[str, Task]],
        clock: Clock,
        rescan: float = 2.0,
        retry: float = 5.0,
    ) -> None:
        self._node_id = node_id
        self._source = source
        self._tasks = tasks
        self._clock = clock
        self._rescan = rescan
        self._retry = retry

    async def session(self, stub: LogCalls) -> None:
        """Serve subscriptions over `stub` until cancelled; a failed stream is opened again
        after `retry` seconds (a manager without a log broker answers UNIMPLEMENTED)."""
        while True:
            try:
                await self._one_session(stub)
            except Exception as e:  # an RPC failure, wrapped by the TaskGroup; retried
                log.info("log subscriptions ended: %s", e, extra={"node_id": self._node_id})
            await self._clock.sleep(self._retry)

    async def _one_session(self, stub: LogCalls) -> None:
        publishers: dict[str, asyncio.Task[None]] = {}

        def forget(sub_id: str) -> Callable[[asyncio.Task[None]], None]:
            def done(_task: asyncio.Task[None]) -> None:
                publishers.pop(sub_id, None)

            return done

        async with asyncio.TaskGroup() as tg:
            request = dispatcher_pb2.LogSubscriptionsRequest(node_id=self._node_id)
            async for message in stub.LogSubscriptions(request):
                info = decode_subscription(message)
                if info.close:
                    task = publishers.pop(info.id, None)
                    if task is not None:
                        task.cancel()
                elif info.id not in publishers:
                    task = tg.create_task(self._publish(stub, info))
                    publishers[info.id] = task
                    task.add_done_callback(forget(info.id))
            for task in list(publishers.values()):
                task.cancel()

    async def _publish(self, stub: LogCalls, info: SubscriptionInfo) -> None:
        """One PublishLogs call carrying the subscription's lines (and `close` at the end)."""
        out: asyncio.Queue[dispatcher_pb2.PublishLogsMessage | None] = asyncio.Queue(maxsize=16)

        async def requests() -> AsyncIterator[dispatcher_pb2.PublishLogsMessage]:
            while (message := await out.get()) is not None:
                yield message

        call = asyncio.ensure_future(stub.PublishLogs(requests()))
        try:
            await self.produce(info, out.put)
            await out.put(None)
            await call
        except (grpc.RpcError, OSError) as e:
            log.info("publishing logs failed: %s", e, extra={"node_id": self._node_id})
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
                    await call

    def _matching(self, info: SubscriptionInfo) -> list[Task]:
        """Tasks of the selection that have (or had) a container."""
        return [
            task
            for task in self._tasks().values()
            if info.selector.matches(task) and task.status.state >= TaskState.STARTING
        ]

    async def produce(
        self,
        info: SubscriptionInfo,
        send: Callable[[dispatcher_pb2.PublishLogsMessage], Awaitable[None]],
    ) -> None:
        """Read every matching task's logs and `send` them in batches; without follow, end
        with a `close` message once every reader finished. With follow, runs until cancelled."""
        lines: asyncio.Queue[LogLine | None] = asyncio.Queue()
        started: set[str] = set()
        active = 0
        follow = info.options.follow
        async with asyncio.TaskGroup() as tg:

            def start_new() -> None:
                nonlocal active
                for task in self._matching(info):
                    if task.id not in started:
                        started.add(task.id)
                        active += 1
                        tg.create_task(self._read(task, info.options, lines))

            start_new()
            if follow:
                tg.create_task(self._rescan_loop(start_new))
            while active or follow:
                batch: list[LogLine] = []
                item = await lines.get()
                while True:
                    if item is None:
                        active -= 1
                    else:
                        batch.append(item)
                    if len(batch) >= MAX_BATCH or lines.empty():
                        break
                    item = lines.get_nowait()
                if batch:
                    await send(publish_message(info.id, batch))
        await send(publish_message(info.id, [], close=True))

    async def _rescan_loop(self, start_new: Callable[[], None]) -> None:
        while True:
            await self._clock.sleep(self._rescan)
            start_new()

    async def _read(
        self, task: Task, options: LogOptions, lines: asyncio.Queue[LogLine | None]
    ) -> None:
        try:
            async for line in self._source.logs(task, options):
                await lines.put(line)
        except Exception as e:  # a container gone or never created: nothing to show
            log.debug("no logs for task %s: %s", task.id, e, extra={"task_id": task.id})
        finally:
            lines.put_nowait(None)


class TaskSession(Protocol):
    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    async def session(self, stub: Any) -> None: ...


class WithLogs:
    """A task manager plus a log agent, as the agent's one TaskSession."""

    def __init__(
        self,
        tasks: TaskSession,
        logs: LogAgent,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._tasks = tasks
        self._logs = logs
        self._close = close

    async def run(self) -> None:
        await self._tasks.run()

    async def stop(self) -> None:
        await self._tasks.stop()
        if self._close is not None:
            await self._close()

    async def session(self, stub: Any) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._tasks.session(stub))
            tg.create_task(self._logs.session(stub))


# -- the engine --------------------------------------------------------------------------------


def demux(buffer: bytes) -> tuple[list[tuple[bool, bytes]], bytes]:
    """Split the engine's multiplexed log stream (8-byte header: stream, 0, 0, 0, size) into
    (is_stderr, payload) frames; returns the frames and the incomplete rest."""
    frames: list[tuple[bool, bytes]] = []
    pos = 0
    while len(buffer) - pos >= 8:
        size = int.from_bytes(buffer[pos + 4 : pos + 8], "big")
        if len(buffer) - pos - 8 < size:
            break
        frames.append((buffer[pos] == 2, buffer[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return frames, buffer[pos:]


def split_timestamp(line: bytes) -> tuple[int, bytes]:
    """`2024-01-02T03:04:05.123456789Z text` -> (unix nanoseconds, b"text"); a line without
    a readable timestamp gets 0."""
    stamp, sep, rest = line.partition(b" ")
    if not sep:
        return 0, line
    try:
        return parse_timestamp(stamp.decode()), rest
    except ValueError:
        return 0, line


def parse_timestamp(text: str) -> int:
    """RFC 3339 with up to nanoseconds, UTC ("Z") or an offset, to unix nanoseconds."""
    main, _, frac = text.partition(".")
    zone = ""
    if frac:
        digits = frac.rstrip("Z").split("+")[0].split("-")[0]
        zone = frac[len(digits) :]
    else:
        for i, ch in enumerate(main[10:], start=10):
            if ch in "Z+-":
                main, zone = main[:i], main[i:]
                break
        digits = ""
    if zone in ("", "Z"):
        zone = "+00:00"
    base = datetime.fromisoformat(main + zone)
    nanos = int((digits + "000000000")[:9]) if digits else 0
    return int(base.timestamp()) * 1_000_000_000 + nanos


def since_param(unix_nano: int) -> str:
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


class DockerLogSource:
    """Container logs through the engine's `GET /containers/{name}/logs` (aiodocker's own
    `log()` drops which stream a line came from)."""

    def __init__(self, docker: Any) -> None:
        self._docker = docker

    async def logs(self, task: Task, options: LogOptions) -> AsyncIterator[LogLine]:
        from worker.executor.container_config import container_name

        name = container_name(task)
        info = await self._docker.containers.container(name).show()
        tty = bool(info.get("Config", {}).get("Tty"))
        params = {
            "stdout": "1",
            "stderr": "1",
            "timestamps": "1",
            "follow": "1" if options.follow else "0",
            "tail": str(options.tail) if options.tail >= 0 else "all",
        }
        if options.since_unix_nano:
            params["since"] = since_param(options.since_unix_nano)

        def line(stderr: bool, raw: bytes) -> LogLine:
            stamp, data = split_timestamp(raw)
            return LogLine(task.service_id, task.node_id, task.id, stamp, stderr, data)

        async with self._docker._query(
            f"containers/{name}/logs",
            method="GET",
            params=params,
            timeout=self._docker._resolve_long_running_timeout(None),
        ) as response:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                if tty:
                    *whole, buffer = buffer.split(b"\n")
                    for raw in whole:
                        yield line(False, raw + b"\n")
                    continue
                frames, buffer = demux(buffer)
                for stderr, payload in frames:
                    yield line(stderr, payload)
            if tty and buffer:
                yield line(False, buffer)


def docker_log_agent(
    *, node_id: str, engine_socket: str, tasks: Callable[[], Mapping[str, Task]], clock: Clock
) -> tuple[LogAgent, Callable[[], Awaitable[None]]]:
    """The production log agent (its own engine client) and the function that closes it.
    Call from a running event loop."""
    import aiodocker

    url = engine_socket if "://" in engine_socket else f"unix://{engine_socket}"
    docker = aiodocker.Docker(url=url)
    agent = LogAgent(node_id=node_id, source=DockerLogSource(docker), tasks=tasks, clock=clock)
    return agent, docker.close
