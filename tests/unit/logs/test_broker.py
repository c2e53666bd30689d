"""The leader's log broker: subscriptions, node answers, timeouts, leadership loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from manager.logbroker import (
    BrokerNotRunning,
    LogBatch,
    LogBroker,
    LogLine,
    LogOptions,
    LogSelector,
    SubscriptionInfo,
    UnknownSubscription,
    nodes_for,
)
from manager.raft.clock import FakeClock
from manager.store import Store, Task, TaskState, TaskStatus

WEB = LogSelector(service_ids=frozenset({"svc-web"}))


def line(node: str, task: str, text: str, *, stderr: bool = False) -> LogLine:
    return LogLine("svc-web", node, task, 1, stderr, text.encode())


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class Running:
    """A broker whose run() is in a task, stopped at the end."""

    def __init__(self, broker: LogBroker) -> None:
        self.broker = broker
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LogBroker:
        self.task = asyncio.create_task(self.broker.run())
        await settle()
        return self.broker

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()
        assert self.task is not None
        await self.task


async def collect(stream: AsyncIterator[LogBatch]) -> list[LogBatch]:
    return [batch async for batch in stream]


class Listener:
    """A node's subscription stream, read in the background."""

    def __init__(self, broker: LogBroker, node: str) -> None:
        self.seen: list[SubscriptionInfo] = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._read(broker, node))

    async def _read(self, broker: LogBroker, node: str) -> None:
        try:
            async for info in broker.listen(node):
                self.seen.append(info)
        except BrokerNotRunning as e:
            self.error = e


async def test_non_follow_ends_when_every_node_closed() -> None:
    async with Running(LogBroker(FakeClock())) as broker:
        n1, n2, n3 = Listener(broker, "n1"), Listener(broker, "n2"), Listener(broker, "n3")
        await settle()
        result = asyncio.create_task(collect(broker.subscribe(WEB, LogOptions(), {"n1", "n2"})))
        await settle()
        assert [s.id for s in n1.seen] == [s.id for s in n2.seen] == ["sub-1"]
        assert n3.seen == []  # holds no task of the service
        sub = n1.seen[0].id
        broker.publish("n1", sub, [line("n1", "t1", "hello\n")], close=True)
        await settle()
        assert not result.done()  # n2 has not answered yet
        broker.publish("n2", sub, [line("n2", "t2", "oops\n", stderr=True)], close=False)
        broker.publish("n2", sub, [], close=True)
        batches = await result
        assert [(ln.node_id, ln.data, ln.stderr) for b in batches for ln in b.lines] == [
            ("n1", b"hello\n", False),
            ("n2", b"oops\n", True),
        ]
        await settle()
        assert [(s.id, s.close) for s in n1.seen] == [("sub-1", False), ("sub-1", True)]
        assert broker.subscriptions == 0


async def test_non_follow_times_out_naming_the_silent_nodes() -> None:
    clock = FakeClock()
    async with Running(LogBroker(clock, timeout=10)) as broker:
        Listener(broker, "n1")
        await settle()
        result = asyncio.create_task(collect(broker.subscribe(WEB, LogOptions(), {"n1", "n9"})))
        await settle()
        broker.publish("n1", "sub-1", [line("n1", "t1", "a\n")], close=True)
        await settle()
        clock.advance(9.9)
        await settle()
        assert not result.done()
        clock.advance(0.2)
        batches = await result
    assert batches[-1].warnings == ("no logs from node(s) n9: they did not answer",)
    assert [ln.data for b in batches for ln in b.lines] == [b"a\n"]


async def test_no_node_holds_tasks_ends_at_once() -> None:
    async with Running(LogBroker(FakeClock())) as broker:
        assert await collect(broker.subscribe(WEB, LogOptions(), set())) == []


async def test_follow_goes_to_every_node_and_ends_when_the_subscriber_leaves() -> None:
    async with Running(LogBroker(FakeClock())) as broker:
        n1 = Listener(broker, "n1")
        await settle()
        stream = broker.subscribe(WEB, LogOptions(follow=True), set())
        first = asyncio.ensure_future(anext(stream))
        await settle()
        late = Listener(broker, "n2")  # joins after the subscription opened
        await settle()
        assert [s.id for s in late.seen] == ["sub-1"]
        broker.publish("n2", "sub-1", [line("n2", "t5", "x\n")], close=True)
        batch = await first
        assert [ln.data for ln in batch.lines] == [b"x\n"]
        await stream.aclose()  # the CLI's ^C
        await settle()
        assert n1.seen[-1].close and late.seen[-1].close
        broker.publish("n1", "sub-1", [line("n1", "t1", "y\n")], close=False)  # ignored


async def test_a_node_cannot_publish_to_a_subscription_it_was_not_given() -> None:
    async with Running(LogBroker(FakeClock())) as broker:
        Listener(broker, "n1")
        await settle()
        stream = broker.subscribe(WEB, LogOptions(), {"n1"})
        pending = asyncio.ensure_future(anext(stream))
        await settle()
        with pytest.raises(UnknownSubscription, match="node n7 publishes"):
            broker.publish("n7", "sub-1", [line("n7", "t1", "forged\n")], close=True)
        broker.publish("n1", "sub-1", [line("n9", "t1", "ok\n")], close=True)
        batch = await pending
        assert batch.lines[0].node_id == "n1"  # whatever the node claims
        await stream.aclose()


async def test_leadership_lost_ends_subscribers_and_listeners() -> None:
    broker = LogBroker(FakeClock())
    with pytest.raises(BrokerNotRunning):
        await anext(broker.subscribe(WEB, LogOptions(), {"n1"}))
    async with Running(broker):
        n1 = Listener(broker, "n1")
        await settle()
        result = asyncio.create_task(collect(broker.subscribe(WEB, LogOptions(), {"n1"})))
        await settle()
    with pytest.raises(BrokerNotRunning):
        await result
    await settle()
    assert isinstance(n1.error, BrokerNotRunning)


async def test_nodes_for_lists_nodes_with_assigned_tasks() -> None:
    store = Store()

    def task(tid: str, node: str, state: TaskState, service: str = "svc-web") -> Task:
        return Task(id=tid, service_id=service, node_id=node, status=TaskStatus(state=state))

    await store.update(
        lambda tx: [
            tx.create(t)
            for t in (
                task("t1", "n1", TaskState.RUNNING),
                task("t2", "n2", TaskState.FAILED),
                task("t3", "", TaskState.PENDING),
                task("t4", "n4", TaskState.RUNNING, service="svc-db"),
            )
        ]
    )
    assert nodes_for(store.view(), WEB) == {"n1", "n2"}
    assert nodes_for(store.view(), LogSelector(task_ids=frozenset({"t4"}))) == {"n4"}
