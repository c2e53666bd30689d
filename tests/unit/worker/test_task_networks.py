"""The task manager and the node's network agent (FakeNetworks): views reach the agent before
the tasks of their batch start, COMPLETE replaces and INCREMENTAL edits them, resumed tasks
whose containers kept running are attached again once the views are known."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path

from manager.dispatcher import AssignmentBatch, AssignmentChange, ChangeAction, NetworkView
from manager.raft import FakeClock
from manager.store import Network, NetworkAttachment, NetworkSpec, Task, TaskState
from tests.unit.worker.test_tasks import T0, FakeStub, settle
from tests.unit.worker.test_tasks import task as plain_task
from worker.executor import FakeBehaviour, FakeExecutor, MemoryDependencies
from worker.networks import FakeNetworks
from worker.tasks import NETWORKS_RETRY_INITIAL, NETWORKS_RETRY_MAX, TaskDB, TaskManager

S = TaskState
UPDATE, REMOVE = ChangeAction.UPDATE, ChangeAction.REMOVE

INGRESS = NetworkView(Network(id="ing", spec=NetworkSpec(name="ingress", ingress=True)))
FRONT = NetworkView(Network(id="front", spec=NetworkSpec(name="front")))


def task(task_id: str = "t1", *networks: str, state: TaskState = S.ASSIGNED) -> Task:
    attachments = tuple(
        NetworkAttachment(n, ("10.0.1.5/24",), (), "02:42:0a:00:01:05") for n in networks
    )
    return dataclasses.replace(plain_task(task_id, state=state), networks=attachments)


Item = Task | NetworkView


def complete(*objs: Item, sequence: int = 1) -> AssignmentBatch:
    return AssignmentBatch(True, sequence, tuple(AssignmentChange(UPDATE, o) for o in objs))


def changes(sequence: int, *items: tuple[ChangeAction, Item]) -> AssignmentBatch:
    return AssignmentBatch(False, sequence, tuple(AssignmentChange(a, o) for a, o in items))


class GatedNetworks(FakeNetworks):
    """set_networks waits for `gate`, and notes what the executor had done by then."""

    def __init__(self, executor: FakeExecutor) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self._executor = executor
        self.executor_calls_at_set: list[list[tuple[str, str]]] = []

    async def set_networks(self, views: Mapping[str, NetworkView]) -> None:
        self.executor_calls_at_set.append(list(self._executor.calls))
        await self.gate.wait()
        await super().set_networks(views)


class Worker:
    def __init__(self, data: Path, executor: FakeExecutor | None = None) -> None:
        self.executor = executor or FakeExecutor()
        self.networks = GatedNetworks(self.executor)
        self.db = TaskDB(data / "tasks")
        self.clock = FakeClock()
        self.manager = TaskManager(
            node_id="n1",
            executor=self.executor,
            dependencies=MemoryDependencies(),
            db=self.db,
            clock=self.clock,
            now=lambda: T0,
            networks=self.networks,
        )
        self._runs: list[asyncio.Task[None]] = []

    def state(self, task_id: str) -> TaskState:
        return self.manager.tasks[task_id].status.state

    async def start(self, stub: FakeStub | None = None) -> None:
        self._runs.append(asyncio.create_task(self.manager.run()))
        await settle()
        if stub is not None:
            await self.connect(stub)

    async def connect(self, stub: FakeStub) -> None:
        self._runs.append(asyncio.create_task(self.manager.session(stub)))
        await settle()

    async def stop(self) -> None:
        for run in self._runs[1:]:
            run.cancel()
        await self.manager.stop()
        await asyncio.gather(*self._runs, return_exceptions=True)


async def test_views_are_set_before_the_tasks_of_their_batch_start(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.gate.clear()
    stub.send(complete(INGRESS, FRONT, task("t1", "front")))
    await settle()
    assert w.networks.executor_calls_at_set == [[]]  # set_networks is under way ...
    assert w.executor.ops("t1") == []  # ... and the task waits for it
    assert "t1" not in w.manager.tasks
    w.networks.gate.set()
    await settle()
    assert w.networks.calls == [("start", ""), ("set_networks", ("front", "ing"))]
    assert w.state("t1") == S.RUNNING
    assert w.executor.ops("t1") == ["prepare", "start", "wait"]
    await w.stop()
    assert w.networks.calls[-1] == ("close", "")


async def test_complete_replaces_and_incremental_edits_the_views(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    stub.send(complete(INGRESS))
    await settle()
    stub.send(changes(2, (UPDATE, FRONT), (UPDATE, task("t1", "front"))))
    await settle()
    assert sorted(w.manager.networks) == ["front", "ing"]
    stub.send(changes(3, (UPDATE, task("t2"))))  # no network change: the agent is not asked
    await settle()
    stub.send(changes(4, (REMOVE, Task(id="t1")), (REMOVE, NetworkView(Network(id="front")))))
    await settle()
    assert w.networks.ops("set_networks") == [("ing",), ("front", "ing"), ("ing",)]
    assert w.networks.views == {"ing": INGRESS}

    # A reconnect's COMPLETE set is the whole truth: what it lacks goes.
    stub.messages.put_nowait(None)
    await settle()
    stub2 = FakeStub()
    await w.connect(stub2)
    stub2.send(complete(FRONT))
    await settle()
    assert w.networks.ops("set_networks")[-1] == ("front",)
    assert w.networks.ops("start") == [""]  # started once
    await w.stop()


async def test_a_node_on_no_network_never_starts_the_agent(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    stub.send(complete(task("t1")))
    await settle()
    assert w.state("t1") == S.RUNNING
    await w.stop()
    assert w.networks.calls == []


async def test_a_failed_set_networks_is_tried_again_with_the_next_batch(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(complete(INGRESS))
    await settle()
    assert w.networks.views == {}
    stub.send(changes(2, (UPDATE, task("t1"))))
    await settle()
    assert w.networks.ops("set_networks") == [("ing",), ("ing",)]
    assert w.networks.views == {"ing": INGRESS}
    await w.stop()


async def advance(w: Worker, seconds: float) -> None:
    w.clock.advance(seconds)
    await settle()


async def test_a_failed_set_networks_is_tried_again_on_a_quiet_cluster(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(complete(INGRESS, task("t1", "ing")))
    await settle()
    assert w.networks.views == {}
    await advance(w, NETWORKS_RETRY_INITIAL - 0.1)
    assert w.networks.ops("set_networks") == [("ing",)]
    await advance(w, 0.1)  # no batch came: the timer tries again, and it works
    assert w.networks.ops("set_networks") == [("ing",), ("ing",)]
    assert w.networks.views == {"ing": INGRESS}
    await advance(w, 10 * NETWORKS_RETRY_MAX)  # and stops
    assert len(w.networks.ops("set_networks")) == 2
    await w.stop()


async def test_the_networks_retry_backs_off_up_to_a_limit(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(complete(INGRESS))
    await settle()
    gaps = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert gaps[0] == NETWORKS_RETRY_INITIAL and gaps[-1] == NETWORKS_RETRY_MAX
    for attempts, gap in enumerate(gaps, start=2):
        w.networks.fail["set_networks"] = OSError("nft: no such table")  # it fails again
        await advance(w, gap - 0.5)
        assert len(w.networks.ops("set_networks")) == attempts - 1, gap
        await advance(w, 0.5)
        assert len(w.networks.ops("set_networks")) == attempts, gap
    assert w.networks.views == {}
    await advance(w, NETWORKS_RETRY_MAX)  # the agent recovered: the next try works
    assert w.networks.views == {"ing": INGRESS}
    await w.stop()  # nothing waits on the clock any more to hold the stop up


async def test_a_batch_with_views_takes_over_from_the_retry(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(complete(INGRESS))
    await settle()
    await advance(w, 0.5)
    # the batch fails too: the retry starts over from the batch, with its views
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(changes(2, (UPDATE, FRONT)))
    await settle()
    assert w.networks.ops("set_networks") == [("ing",), ("front", "ing")]
    await advance(w, NETWORKS_RETRY_INITIAL - 0.1)  # 1.4 s after the first failure
    assert len(w.networks.ops("set_networks")) == 2
    await advance(w, 0.1)
    assert w.networks.ops("set_networks")[-1] == ("front", "ing")
    assert w.networks.views == {"front": FRONT, "ing": INGRESS}
    # a batch that works ends any retry
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(changes(3, (REMOVE, NetworkView(Network(id="front")))))
    await settle()
    stub.send(changes(4, (UPDATE, task("t1"))))  # it tries again, and it works
    await settle()
    assert w.networks.views == {"ing": INGRESS}
    calls = len(w.networks.ops("set_networks"))
    await advance(w, 10 * NETWORKS_RETRY_MAX)
    assert len(w.networks.ops("set_networks")) == calls
    await w.stop()


async def test_a_retry_waiting_on_the_clock_does_not_hold_up_stop(tmp_path: Path) -> None:
    w, stub = Worker(tmp_path), FakeStub()
    await w.start(stub)
    w.networks.fail["set_networks"] = OSError("nft: no such table")
    stub.send(complete(INGRESS))
    await settle()
    await asyncio.wait_for(w.stop(), 5)
    assert w.networks.calls[-1] == ("close", "")


async def test_resumed_running_tasks_are_attached_again_once_views_arrive(
    tmp_path: Path,
) -> None:
    first, stub = Worker(tmp_path), FakeStub()
    await first.start(stub)
    stub.send(complete(FRONT, task("t1", "front"), task("t2", "front"), task("t3")))
    await settle()
    assert first.state("t1") == S.RUNNING
    await first.stop()

    # The daemon restarts: t1's container still runs, t2's exited meanwhile; t3 is on no
    # network (it has the gateway bridge). Nothing is attached before the agent has views.
    executor = FakeExecutor()
    executor.behaviours["t1"] = FakeBehaviour(exists=True, running=True)
    executor.behaviours["t2"] = FakeBehaviour(exists=True, exit_code=0)
    executor.behaviours["t3"] = FakeBehaviour(exists=True, running=True)
    again = Worker(tmp_path, executor)
    await again.start()
    assert again.state("t1") == S.RUNNING
    assert again.networks.calls == []

    stub2 = FakeStub()
    await again.connect(stub2)
    stub2.send(complete(FRONT, task("t1", "front", state=S.RUNNING), task("t3", state=S.RUNNING)))
    await settle()
    assert again.networks.calls == [
        ("start", ""),
        ("set_networks", ("front",)),
        ("attach", "t1"),
        ("attach", "t3"),
    ]
    assert again.networks.attached == {"t1": 4242, "t3": 4242}

    # Later views do not attach them again.
    stub2.send(changes(2, (UPDATE, INGRESS)))
    await settle()
    assert again.networks.ops("attach") == ["t1", "t3"]
    await again.stop()


async def test_a_failed_reattach_is_tried_again_with_the_next_views(tmp_path: Path) -> None:
    first, stub = Worker(tmp_path), FakeStub()
    await first.start(stub)
    stub.send(complete(FRONT, task("t1", "front")))
    await settle()
    await first.stop()

    executor = FakeExecutor()
    executor.behaviours["t1"] = FakeBehaviour(exists=True, running=True)
    again = Worker(tmp_path, executor)
    again.networks.fail["attach"] = OSError("no such device")
    stub2 = FakeStub()
    await again.start(stub2)
    stub2.send(complete(FRONT, task("t1", "front", state=S.RUNNING)))
    await settle()
    assert again.networks.attached == {}
    stub2.send(changes(2, (UPDATE, INGRESS)))
    await settle()
    assert again.networks.ops("attach") == ["t1", "t1"]
    assert again.networks.attached == {"t1": 4242}
    await again.stop()
