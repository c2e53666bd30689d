"""Assignment streams and task status intake on the leader: a store without Raft, no sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import NoReturn

import grpc
import pytest

from manager.ca import WORKER_ROLE, NodeIdentity
from manager.dispatcher import (
    AssignmentBatch,
    AssignmentChange,
    AssignmentDispatcher,
    ChangeAction,
    Dispatcher,
    DispatcherNotLeader,
    DispatcherServicer,
    ForeignTask,
    StatusUpdate,
    TaskStatusIntake,
    UnknownNode,
    node_assignments,
    wire,
)
from manager.raft import FakeClock
from manager.store import (
    Config,
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    Secret,
    SecretReference,
    SecretSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
)
from proto import dispatcher_pb2
from tests.unit.dispatcher.helpers import GatedProposer, add_node, node, running, settle

S = TaskState
UPDATE, REMOVE = ChangeAction.UPDATE, ChangeAction.REMOVE


def task(
    task_id: str,
    node_id: str = "n1",
    state: TaskState = S.ASSIGNED,
    desired: TaskState = S.RUNNING,
    secrets: tuple[str, ...] = (),
    configs: tuple[str, ...] = (),
) -> Task:
    spec = ContainerSpec(
        image="busybox",
        secrets=tuple(SecretReference(secret_id=s, secret_name=s) for s in secrets),
        configs=tuple(ConfigReference(config_id=c, config_name=c) for c in configs),
    )
    return Task(
        id=task_id,
        node_id=node_id,
        spec=TaskSpec(container=spec),
        desired_state=desired,
        status=TaskStatus(state=state),
    )


async def setup(*objs: Task | Secret | Config) -> Store:
    store = Store()
    await add_node(store, node("n1"))
    await add_node(store, node("n2"))

    def create(tx: object) -> None:
        for obj in objs:
            tx.create(obj)  # type: ignore[attr-defined]

    await store.update(create)
    return store


def summary(batch: AssignmentBatch) -> list[tuple[str, str, str]]:
    return [(c.action.value, type(c.obj).__name__, c.obj.id) for c in batch.changes]


async def set_task(store: Store, task_id: str, **changes: object) -> None:
    def apply(tx: object) -> None:
        current = tx.get(Task, task_id)  # type: ignore[attr-defined]
        tx.update(dataclasses.replace(current, **changes))  # type: ignore[attr-defined]

    await store.update(apply)


class Stream:
    """A stream read in the background; `batches` fills as messages arrive."""

    def __init__(self, source: AsyncIterator[AssignmentBatch]) -> None:
        self.batches: list[AssignmentBatch] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._read(source))

    async def _read(self, source: AsyncIterator[AssignmentBatch]) -> None:
        try:
            async for batch in source:
                self.batches.append(batch)
        except Exception as e:
            self.error = e

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


# -- what a node gets --------------------------------------------------------------------------


async def test_a_node_gets_only_its_own_scheduled_tasks_and_their_dependencies() -> None:
    store = await setup(
        Secret(id="s1", spec=SecretSpec(name="s1", data=b"pw")),
        Secret(id="s2", spec=SecretSpec(name="s2", data=b"other")),
        Config(id="c1", spec=ConfigSpec(name="c1", data=b"conf")),
        task("t1", secrets=("s1",), configs=("c1",)),
        task("t2", node_id="n2", secrets=("s2",)),
        task("t3", state=S.PENDING, secrets=("s2",)),  # not scheduled yet: may not fit n1
        task("t4", state=S.FAILED, secrets=("s2",)),  # terminal: needs no secret any more
    )
    got = node_assignments(store.view(), "n1")
    assert sorted(got.tasks) == ["t1", "t4"]
    assert list(got.secrets) == ["s1"]
    assert list(got.configs) == ["c1"]


async def test_the_stream_starts_complete_then_sends_changes() -> None:
    store = await setup(Secret(id="s1", spec=SecretSpec(name="s1")), task("t1", secrets=("s1",)))
    assignments = AssignmentDispatcher(store)
    async with running(assignments):
        stream = Stream(assignments.stream("n1"))
        await settle()
        first = stream.batches[0]
        assert (first.complete, first.sequence) == (True, 1)
        assert summary(first) == [("update", "Secret", "s1"), ("update", "Task", "t1")]

        # The node's own status report is not echoed back.
        await set_task(store, "t1", status=TaskStatus(state=S.RUNNING))
        await settle()
        assert len(stream.batches) == 1

        # A desired state change is sent; so is a new task of this node (and nothing of n2's).
        await set_task(store, "t1", desired_state=S.SHUTDOWN)
        await settle()
        await store.update(lambda tx: tx.create(task("t9", node_id="n2")))
        await settle()
        await store.update(lambda tx: tx.create(task("t2")))
        await settle()
        assert [(b.complete, b.sequence) for b in stream.batches[1:]] == [(False, 2), (False, 3)]
        assert summary(stream.batches[1]) == [("update", "Task", "t1")]
        assert stream.batches[1].changes[0].obj.desired_state == S.SHUTDOWN  # type: ignore[union-attr]
        assert summary(stream.batches[2]) == [("update", "Task", "t2")]

        # Terminal: the secret goes; moved to another node: the task goes.
        await set_task(store, "t1", status=TaskStatus(state=S.SHUTDOWN))
        await settle()
        await set_task(store, "t2", node_id="n2")
        await settle()
        assert summary(stream.batches[3]) == [("remove", "Secret", "s1")]
        assert summary(stream.batches[4]) == [("remove", "Task", "t2")]
        await stream.close()


async def test_a_deleted_task_is_removed_from_the_node() -> None:
    store = await setup(task("t1"))
    assignments = AssignmentDispatcher(store)
    async with running(assignments):
        stream = Stream(assignments.stream("n1"))
        await settle()
        await store.update(lambda tx: tx.delete(Task, "t1"))
        await settle()
        assert summary(stream.batches[-1]) == [("remove", "Task", "t1")]
        await stream.close()


async def test_a_follower_has_no_streams_and_stopping_ends_them() -> None:
    store = await setup(task("t1"))
    assignments = AssignmentDispatcher(store)
    with pytest.raises(DispatcherNotLeader):
        await anext(assignments.stream("n1"))
    async with running(assignments):
        stream = Stream(assignments.stream("n1"))
        await settle()
        with pytest.raises(UnknownNode):
            await anext(assignments.stream("gone"))
    await settle()
    assert isinstance(stream.error, DispatcherNotLeader)
    assert len(stream.batches) == 1


def test_assignments_survive_the_wire() -> None:
    batch = AssignmentBatch(
        False,
        7,
        (
            AssignmentChange(UPDATE, Secret(id="s1", spec=SecretSpec(name="s1", data=b"pw"))),
            AssignmentChange(UPDATE, task("t1", secrets=("s1",))),
            AssignmentChange(REMOVE, Task(id="t0")),
            AssignmentChange(REMOVE, Config(id="c0")),
        ),
    )
    message = wire.assignments_message(batch)
    assert (message.type, message.applies_to) == (message.INCREMENTAL, 6)
    again = dispatcher_pb2.AssignmentsMessage.FromString(message.SerializeToString())
    assert wire.decode_assignments(again) == batch


# -- status intake -----------------------------------------------------------------------------


def status(state: TaskState, message: str = "") -> TaskStatus:
    return TaskStatus(state=state, message=message, applied_by="n1")


def state_of(store: Store, task_id: str) -> TaskState:
    found = store.view().get(Task, task_id)
    assert found is not None
    return found.status.state


async def test_a_node_reports_its_tasks_and_status_never_goes_back() -> None:
    store = await setup(task("t1"), task("t2"))
    intake = TaskStatusIntake(store)
    async with running(intake):
        await intake.update("n1", [StatusUpdate("t1", status(S.RUNNING, "started"))])
        await intake.update("n1", [StatusUpdate("t1", status(S.STARTING, "late"))])
        await intake.update("n1", [StatusUpdate("gone", status(S.RUNNING))])  # deleted: skipped
    assert state_of(store, "t1") == S.RUNNING
    stored = store.view().get(Task, "t1")
    assert stored is not None and stored.status.message == "started"
    assert state_of(store, "t2") == S.ASSIGNED


async def test_a_node_cannot_report_on_another_nodes_task() -> None:
    store = await setup(task("t1"), task("t9", node_id="n2"))
    intake = TaskStatusIntake(store)
    async with running(intake):
        with pytest.raises(ForeignTask, match="node n1 cannot report on task t9"):
            await intake.update(
                "n1", [StatusUpdate("t1", status(S.RUNNING)), StatusUpdate("t9", status(S.FAILED))]
            )
    assert (state_of(store, "t1"), state_of(store, "t9")) == (S.ASSIGNED, S.ASSIGNED)


async def test_reports_that_arrive_during_a_write_go_into_one_next_write() -> None:
    store = await setup(*(task(f"t{i}") for i in range(10)))
    proposer = GatedProposer(store)
    store.attach(proposer)
    intake = TaskStatusIntake(store)
    async with running(intake):
        proposer.gate.clear()
        first = asyncio.create_task(intake.update("n1", [StatusUpdate("t0", status(S.ACCEPTED))]))
        await settle()
        rest = [
            asyncio.create_task(intake.update("n1", [StatusUpdate(f"t{i}", status(S.RUNNING))]))
            for i in range(1, 10)
        ]
        await settle()
        assert len(proposer.batches) == 1  # the first write is in flight, the rest wait
        proposer.gate.set()
        await asyncio.gather(first, *rest)
    assert len(proposer.batches) == 2
    assert len(proposer.batches[1].actions) == 9
    assert all(state_of(store, f"t{i}") == S.RUNNING for i in range(1, 10))


async def test_a_follower_takes_no_reports() -> None:
    store = await setup(task("t1"))
    with pytest.raises(DispatcherNotLeader):
        await TaskStatusIntake(store).update("n1", [StatusUpdate("t1", status(S.RUNNING))])


# -- the servicer ------------------------------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code


class FakeContext:
    def peer(self) -> str:
        return "ipv4:10.0.0.9:40000"

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(code, details)


def servicer(store: Store, caller: str = "n1") -> tuple[DispatcherServicer, TaskStatusIntake]:
    intake = TaskStatusIntake(store)
    identity = NodeIdentity(caller, WORKER_ROLE, "cluster")
    return (
        DispatcherServicer(
            Dispatcher(store, FakeClock(), is_leader=lambda: True),
            leader_addr=lambda: "10.0.0.1:2377",
            managers=lambda: ["10.0.0.1:2377"],
            identify=lambda: identity,
            assignments=AssignmentDispatcher(store),
            task_status=intake,
        ),
        intake,
    )


async def test_the_servicer_writes_reports_and_refuses_foreign_ones() -> None:
    store = await setup(task("t1"), task("t9", node_id="n2"))
    svc, intake = servicer(store)
    async with running(intake):
        ok = wire.status_request("n1", [StatusUpdate("t1", status(S.RUNNING))])
        await svc.UpdateTaskStatus(ok, FakeContext())
        foreign = wire.status_request("", [StatusUpdate("t9", status(S.RUNNING))])
        with pytest.raises(Aborted) as denied:
            await svc.UpdateTaskStatus(foreign, FakeContext())
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
        as_other = wire.status_request("n2", [StatusUpdate("t9", status(S.RUNNING))])
        with pytest.raises(Aborted) as impersonating:
            await svc.UpdateTaskStatus(as_other, FakeContext())
        assert impersonating.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert (state_of(store, "t1"), state_of(store, "t9")) == (S.RUNNING, S.ASSIGNED)


async def test_the_servicer_streams_only_while_leading() -> None:
    store = await setup(task("t1"))
    svc, _ = servicer(store)
    with pytest.raises(Aborted) as refused:
        await anext(svc.Assignments(dispatcher_pb2.AssignmentsRequest(), FakeContext()))
    assert refused.value.code == grpc.StatusCode.UNAVAILABLE
