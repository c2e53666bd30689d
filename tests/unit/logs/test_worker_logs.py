"""The agent's log side: readers per matching task, batches, close; and the whole loop
agent -> in-memory stub -> broker -> subscriber, without gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from manager.logbroker import (
    LogBroker,
    LogLine,
    LogOptions,
    LogSelector,
    SubscriptionInfo,
)
from manager.logbroker_wire import (
    decode_subscription,
    message_line,
    publish_logs,
    subscription_message,
)
from manager.raft.clock import FakeClock
from manager.store import Task, TaskState, TaskStatus
from proto import dispatcher_pb2
from worker.logs import LogAgent, WithLogs, demux, parse_timestamp, split_timestamp

from .test_broker import Running, collect, settle


def task(tid: str, service: str = "svc-web", state: TaskState = TaskState.RUNNING) -> Task:
    return Task(id=tid, service_id=service, node_id="n1", status=TaskStatus(state=state))


class FakeSource:
    """Canned lines per task; `follow` streams stay open until `finish(task_id)`."""

    def __init__(self, lines: dict[str, list[str]]) -> None:
        self.lines = lines
        self.asked: list[tuple[str, LogOptions]] = []
        self.open: dict[str, asyncio.Event] = {}

    async def logs(self, t: Task, options: LogOptions) -> AsyncIterator[LogLine]:
        self.asked.append((t.id, options))
        if t.id not in self.lines:
            raise LookupError(f"no such container: {t.id}")
        for i, text in enumerate(self.lines[t.id]):
            yield LogLine(t.service_id, t.node_id, t.id, i, text.startswith("E"), text.encode())
        if options.follow:
            await self.open.setdefault(t.id, asyncio.Event()).wait()

    def finish(self, task_id: str) -> None:
        self.open.setdefault(task_id, asyncio.Event()).set()


def info(follow: bool = False, **selector: frozenset[str]) -> SubscriptionInfo:
    return SubscriptionInfo("sub-1", LogSelector(**selector), LogOptions(follow=follow, tail=5))


async def test_produce_reads_matching_started_tasks_then_closes() -> None:
    tasks = {
        t.id: t
        for t in (
            task("t1"),
            task("t2", state=TaskState.FAILED),
            task("t3", service="svc-db"),
            task("t4", state=TaskState.PREPARING),  # no output yet
            task("t5"),  # its container is gone
        )
    }
    source = FakeSource({"t1": ["a\n", "Eb\n"], "t2": ["c\n"], "t3": ["no\n"]})
    agent = LogAgent(node_id="n1", source=source, tasks=lambda: tasks, clock=FakeClock())
    sent: list[dispatcher_pb2.PublishLogsMessage] = []

    async def send(m: dispatcher_pb2.PublishLogsMessage) -> None:
        sent.append(m)

    await agent.produce(info(service_ids=frozenset({"svc-web"})), send)
    assert sorted(task_id for task_id, _ in source.asked) == ["t1", "t2", "t5"]
    assert all(options.tail == 5 for _, options in source.asked)
    lines = sorted((message_line(m).task_id, m.data, m.stream) for s in sent for m in s.messages)
    assert lines == [("t1", b"Eb\n", 1), ("t1", b"a\n", 0), ("t2", b"c\n", 0)]
    assert sent[-1].close and not sent[-1].messages
    assert all(s.subscription_id == "sub-1" for s in sent)


async def test_follow_picks_up_tasks_that_start_later() -> None:
    clock = FakeClock()
    tasks = {"t1": task("t1")}
    source = FakeSource({"t1": ["a\n"], "t2": ["b\n"]})
    agent = LogAgent(node_id="n1", source=source, tasks=lambda: tasks, clock=clock, rescan=2)
    sent: list[bytes] = []

    async def send(m: dispatcher_pb2.PublishLogsMessage) -> None:
        sent.extend(x.data for x in m.messages)

    run = asyncio.create_task(agent.produce(info(True, task_ids=frozenset({"t1", "t2"})), send))
    await settle()
    assert sent == [b"a\n"]
    tasks["t2"] = task("t2")
    clock.advance(2)
    await settle()
    assert sent == [b"a\n", b"b\n"]
    run.cancel()  # the subscriber left
    with pytest.raises(asyncio.CancelledError):
        await run


class BrokerStub:
    """The DispatcherStub's log calls, served in memory by a broker (as the servicer does)."""

    def __init__(self, broker: LogBroker, node: str) -> None:
        self.broker = broker
        self.node = node

    async def LogSubscriptions(
        self, request: dispatcher_pb2.LogSubscriptionsRequest
    ) -> AsyncIterator[dispatcher_pb2.LogSubscription]:
        async for i in self.broker.listen(self.node):
            yield subscription_message(i)

    async def PublishLogs(
        self, request_iterator: AsyncIterator[dispatcher_pb2.PublishLogsMessage]
    ) -> dispatcher_pb2.PublishLogsResponse:
        return await publish_logs(self.broker, self.node, request_iterator, context=None)


async def test_subscriber_gets_lines_from_two_agents() -> None:
    clock = FakeClock()
    async with Running(LogBroker(clock)) as broker:
        agents = []
        for node, lines in (("n1", {"t1": ["one\n"]}), ("n2", {"t2": ["two\n", "Ethree\n"]})):
            running = TaskStatus(state=TaskState.RUNNING)
            tasks = {
                t: Task(id=t, service_id="svc-web", node_id=node, status=running) for t in lines
            }
            agent = LogAgent(node_id=node, source=FakeSource(lines), tasks=tasks.copy, clock=clock)
            agents.append(asyncio.create_task(agent.session(BrokerStub(broker, node))))
        await settle()
        selector = LogSelector(service_ids=frozenset({"svc-web"}))
        batches = await collect(broker.subscribe(selector, LogOptions(), {"n1", "n2"}))
        got = sorted((ln.node_id, ln.data, ln.stderr) for b in batches for ln in b.lines)
        assert got == [("n1", b"one\n", False), ("n2", b"Ethree\n", True), ("n2", b"two\n", False)]
        for a in agents:
            a.cancel()
        await asyncio.gather(*agents, return_exceptions=True)


async def test_with_logs_runs_both_sessions() -> None:
    calls: list[str] = []

    class Tasks:
        async def run(self) -> None:
            calls.append("run")

        async def stop(self) -> None:
            calls.append("stop")

        async def session(self, stub: object) -> None:
            calls.append("tasks")

    class Logs(LogAgent):
        async def session(self, stub: object) -> None:
            calls.append("logs")

    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    both = WithLogs(
        Tasks(), Logs(node_id="n", source=FakeSource({}), tasks=dict, clock=FakeClock()), close
    )
    await both.run()
    await both.session(object())
    await both.stop()
    assert sorted(calls) == ["logs", "run", "stop", "tasks"] and closed == [True]


def test_subscription_round_trip() -> None:
    i = SubscriptionInfo(
        "sub-3",
        LogSelector(frozenset({"s"}), frozenset({"t"})),
        LogOptions(follow=True, tail=-1, since_unix_nano=7),
        close=True,
    )
    assert decode_subscription(subscription_message(i)) == i


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_demux_splits_frames_and_keeps_the_incomplete_rest() -> None:
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"partial")[:10]
    frames, rest = demux(data)
    assert frames == [(False, b"out\n"), (True, b"err\n")]
    assert rest == frame(1, b"partial")[:10]
    assert demux(rest + frame(1, b"partial")[10:]) == ([(False, b"partial")], b"")


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2014-09-16T06:17:46.000000000Z", 1410848266_000000000),
        ("2014-09-16T06:17:46.123456789Z", 1410848266_123456789),
        ("2014-09-16T06:17:46.5Z", 1410848266_500000000),
        ("2014-09-16T06:17:46Z", 1410848266_000000000),
        ("2014-09-16T08:17:46.25+02:00", 1410848266_250000000),
    ],
)
def test_parse_timestamp(text: str, nanos: int) -> None:
    assert parse_timestamp(text) == nanos


def test_split_timestamp() -> None:
    assert split_timestamp(b"2014-09-16T06:17:46.000000001Z hello world\n") == (
        1410848266_000000001,
        b"hello world\n",
    )
    assert split_timestamp(b"no timestamp here\n") == (0, b"no timestamp here\n")
