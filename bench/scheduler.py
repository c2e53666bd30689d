"""Scheduler benchmark: place 100,000 tasks on 1,000 simulated nodes through the real Store.

    .venv/bin/python -m bench.scheduler [--nodes 1000] [--tasks 100000] [--services 100]
                                        [--batch-size 1000] [--proposer local|codec]

Nodes are store objects only (Ready, Active, 16 CPUs, 64 GiB): no agents, no executors; this
measures the manager's side, pending to ASSIGNED. Tasks are created PENDING and desired
RUNNING (as the orchestrators create them), `--tasks / --services` per service, each
reserving 0.1 CPU and 64 MiB, in transactions of 1,000 (an orchestrator's reconcile pass).

The store runs without Raft: `local` is the LocalProposer (apply in-process); `codec` also
encodes every batch to protobuf and decodes it before applying, which is what a Raft entry
costs on top (no network, no fsync). Three figures:

  core      schedule() alone on a snapshot of the 100k pending tasks (no store writes)
  preloaded all tasks pending in the store, then the Scheduler starts (its full pass as a
            new leader): time to all ASSIGNED
  streaming the Scheduler runs while tasks are created, 1,000 per transaction back to back:
            time from the first create to all ASSIGNED

Plus the time of one store transaction assigning N tasks, for growing N, to show whether a
write transaction's cost is linear in its size.

For scale, a published figure: swarmkit's scheduler benchmark placed 100,000 tasks on 1,000
nodes in 22.6 s (quoted in shoal's issue 5; different machine, Go, its in-memory store without
Raft). Never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manager.raft.clock import LoopClock
from manager.scheduler import Scheduler, Snapshot, schedule
from manager.store import (
    BatchResult,
    LocalProposer,
    Node,
    NodeDescription,
    NodeSpec,
    NodeState,
    NodeStatus,
    ObjectEvent,
    ResourceRequirements,
    Resources,
    Store,
    StoreBatch,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    WriteTx,
    codec,
)

SWARMKIT_SECONDS = 22.6  # 100k tasks on 1k nodes, published
CREATE_BATCH = 1000


class CodecProposer:
    """LocalProposer plus the protobuf round trip a Raft entry takes."""

    def __init__(self, store: Store) -> None:
        self._local = LocalProposer(store)

    async def propose(self, batch: StoreBatch) -> BatchResult:
        return await self._local.propose(codec.decode_batch(codec.encode_batch(batch)))


def new_store(proposer: str) -> Store:
    store = Store()
    if proposer == "codec":
        store.attach(CodecProposer(store))
    return store


def nodes(count: int) -> list[Node]:
    resources = Resources(nano_cpus=16 * 10**9, memory_bytes=64 << 30)
    return [
        Node(
            id=f"node{i:05d}",
            spec=NodeSpec(name=f"node{i:05d}"),
            description=NodeDescription(hostname=f"node{i:05d}", resources=resources),
            status=NodeStatus(state=NodeState.READY),
        )
        for i in range(count)
    ]


def tasks(count: int, services: int) -> list[Task]:
    per_service = -(-count // services)
    out: list[Task] = []
    for s in range(services):
        spec = TaskSpec(
            resources=ResourceRequirements(
                reservations=Resources(nano_cpus=10**8, memory_bytes=64 << 20)
            )
        )
        for slot in range(1, per_service + 1):
            if len(out) == count:
                break
            out.append(
                Task(
                    id=f"task-s{s:04d}-{slot:06d}",
                    service_id=f"service{s:04d}",
                    slot=slot,
                    spec=spec,
                    spec_version=1,
                    desired_state=TaskState.RUNNING,
                    status=TaskStatus(state=TaskState.PENDING),
                )
            )
    return out


async def create(store: Store, objects: list[Node] | list[Task], *, yield_: bool = False) -> None:
    """In transactions of CREATE_BATCH; `yield_` lets other tasks run between them, as an
    orchestrator awaiting Raft commits would (LocalProposer itself never suspends)."""
    for start in range(0, len(objects), CREATE_BATCH):
        if yield_:
            await asyncio.sleep(0)
        chunk = objects[start : start + CREATE_BATCH]

        def fn(tx: WriteTx, chunk: list[Node] | list[Task] = chunk) -> None:
            for obj in chunk:
                tx.create(obj)

        await store.update(fn)


class AssignedCounter:
    """Counts PENDING -> ASSIGNED transitions seen in the store's events."""

    def __init__(self, store: Store, target: int) -> None:
        self.watch = store.watch(Task)
        self.target = target
        self.count = 0
        self.done_at = 0.0

    async def wait(self) -> float:
        async for event in self.watch:
            if (
                isinstance(event, ObjectEvent)
                and isinstance(event.new, Task)
                and event.new.status.state is TaskState.ASSIGNED
                and (event.old is None or event.old.status.state is TaskState.PENDING)  # type: ignore[union-attr]
            ):
                self.count += 1
                if self.count == self.target:
                    self.done_at = time.perf_counter()
                    self.watch.close()
        return self.done_at


async def run_scheduler(store: Store, batch_size: int, body: Callable[[], object]) -> Scheduler:
    scheduler = Scheduler(store, LoopClock(), batch_size=batch_size)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(scheduler.run())
        await body()  # type: ignore[misc]
        await scheduler.stop()
    return scheduler


async def bench_core(args: argparse.Namespace) -> None:
    all_nodes, pending = nodes(args.nodes), tasks(args.tasks, args.services)
    start = time.perf_counter()
    plan = schedule(Snapshot(all_nodes, pending), pending)
    seconds = time.perf_counter() - start
    print(
        f"core      {len(plan.decisions):>7} placed, {len(plan.refusals)} refused in "
        f"{seconds:7.2f} s  = {len(plan.decisions) / seconds:>9,.0f} tasks/s  (schedule() only)"
    )


async def bench_preloaded(args: argparse.Namespace) -> None:
    store = new_store(args.proposer)
    await create(store, nodes(args.nodes))
    await create(store, tasks(args.tasks, args.services))
    counter = AssignedCounter(store, args.tasks)
    start = time.perf_counter()

    async def body() -> None:
        await counter.wait()

    scheduler = await run_scheduler(store, args.batch_size, body)
    seconds = counter.done_at - start
    print(
        f"preloaded {counter.count:>7} ASSIGNED in {seconds:7.2f} s  = "
        f"{counter.count / seconds:>9,.0f} tasks/s  ({scheduler.passes} passes; "
        f"{SWARMKIT_SECONDS / seconds:.1f}x swarmkit's published {SWARMKIT_SECONDS} s)"
    )


async def bench_streaming(args: argparse.Namespace) -> None:
    store = new_store(args.proposer)
    await create(store, nodes(args.nodes))
    todo = tasks(args.tasks, args.services)
    counter = AssignedCounter(store, args.tasks)
    start = time.perf_counter()

    async def body() -> None:
        async with asyncio.TaskGroup() as tg:
            waiter = tg.create_task(counter.wait())
            await create(store, todo, yield_=True)
            await waiter

    scheduler = await run_scheduler(store, args.batch_size, body)
    seconds = counter.done_at - start
    print(
        f"streaming {counter.count:>7} ASSIGNED in {seconds:7.2f} s  = "
        f"{counter.count / seconds:>9,.0f} tasks/s  ({scheduler.passes} passes; creation "
        f"included; {SWARMKIT_SECONDS / seconds:.1f}x swarmkit's published {SWARMKIT_SECONDS} s)"
    )


async def bench_transaction_sizes(args: argparse.Namespace) -> None:
    sizes = [s for s in (1_000, 10_000, 100_000) if s <= args.tasks]
    line = []
    for size in sizes:
        store = new_store(args.proposer)
        await create(store, nodes(1))
        await create(store, tasks(size, 1))
        view = store.view()
        pending = view.all(Task)

        def assign(tx: WriteTx, pending: list[Task] = pending) -> None:
            for t in pending:
                current = tx.get(Task, t.id)
                assert current is not None
                status = TaskStatus(state=TaskState.ASSIGNED, message="bench")
                tx.update(dataclasses.replace(current, node_id="node00000", status=status))

        start = time.perf_counter()
        await store.update(assign)
        seconds = time.perf_counter() - start
        line.append(f"{size:,} tasks {seconds * 1000:.0f} ms ({seconds / size * 1e6:.1f} us/task)")
    print("one store transaction assigning N tasks: " + "; ".join(line))


def conditions(args: argparse.Namespace) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    proposer = {
        "local": "LocalProposer (no Raft)",
        "codec": "LocalProposer + protobuf encode/decode of every batch (no Raft I/O)",
    }[args.proposer]
    return (
        f"machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}; Python {platform.python_version()}\n"
        f"{args.nodes:,} nodes (Ready, Active, 16 CPUs, 64 GiB), {args.tasks:,} tasks in "
        f"{args.services} services (0.1 CPU, 64 MiB reserved each), created PENDING "
        f"{CREATE_BATCH} per transaction; scheduler batch {args.batch_size} tasks per "
        f"transaction, debounce 50 ms; store: {proposer}; one process, one core"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1000, help="tasks per scheduler write")
    p.add_argument("--proposer", choices=("local", "codec"), default="local")
    return p.parse_args(argv)


async def main_async(args: argparse.Namespace) -> None:
    print(conditions(args))
    await bench_core(args)
    await bench_preloaded(args)
    await bench_streaming(args)
    await bench_transaction_sizes(args)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
