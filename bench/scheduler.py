"""Scheduler benchmark: place 100,000 tasks on 1,000 simulated nodes through the real Store.

    .venv/bin/python -m bench.scheduler [--nodes 1000] [--tasks 100000] [--services 100]
                                        [--batch-size 1000] [--proposer local,raft]

Nodes are store objects only (Ready, Active, 16 CPUs, 64 GiB): no agents, no executors; this
measures the manager's side, pending to ASSIGNED. Tasks are created PENDING and desired
RUNNING (as the orchestrators create them), `--tasks / --services` per service, each
reserving 0.1 CPU and 64 MiB, in transactions of 1,000 (an orchestrator's reconcile pass).

Each mode named in `--proposer` (comma-separated; default `local,raft`, run in that order)
gets its own store:

  local     the LocalProposer: no Raft, every batch applied in-process at once
  codec     the LocalProposer plus a protobuf encode/decode of every batch (no Raft I/O)
  raft      real Raft on one manager, as a one-manager cluster runs it: a RaftDriver (tick
            0.1 s) around the RaftNode core, the real Storage (WAL encrypted with AES-GCM as
            the manager's is, fsync on) in a temporary directory under `--data-dir`, the
            in-memory transport, one member (the leader); the store attached through a
            RaftProposer and applying committed entries, exactly as manager/manager.py wires it

Three figures per mode:

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
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manager.ca.encryption import AESGCMCipher
from manager.raft.clock import LoopClock
from manager.raft.core import Config, RaftNode
from manager.raft.driver import DriverOptions, RaftDriver
from manager.raft.storage import Storage
from manager.raft.transport import InMemoryNetwork
from manager.raft.types import ConfState
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
    RaftProposer,
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
RAFT_TICK = 0.1  # seconds, as the lab runs its managers
MODES = {
    "local": "LocalProposer (no Raft)",
    "codec": "LocalProposer + protobuf encode/decode of every batch (no Raft I/O)",
    "raft": "Raft on one manager (RaftDriver, tick 0.1 s; Storage with fsync and AES-GCM, "
    "in-memory transport, one member)",
}


class CodecProposer:
    """LocalProposer plus the protobuf round trip a Raft entry takes."""

    def __init__(self, store: Store) -> None:
        self._local = LocalProposer(store)

    async def propose(self, batch: StoreBatch) -> BatchResult:
        return await self._local.propose(codec.decode_batch(codec.encode_batch(batch)))


@dataclasses.dataclass
class RaftStats:
    """What the Raft modes' WALs took, summed over the stores a run made."""

    entries: int = 0  # store batches committed through Raft
    wal_bytes: int = 0  # WAL segment bytes on disk when the store was closed

    def line(self) -> str:
        return f"raft: {self.entries:,} entries committed, {self.wal_bytes / 2**20:,.1f} MiB of WAL"


@contextlib.asynccontextmanager
async def raft_store(data_dir: Path, stats: RaftStats) -> AsyncIterator[Store]:
    """A store behind real Raft with one member, wired as manager/manager.py wires it."""
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-raft-", dir=data_dir) as tmp:
        raft_dir = Path(tmp) / "raft"
        storage, _ = Storage.open(
            raft_dir, cluster_id="bench", node_id=1, cipher=AESGCMCipher(os.urandom(32))
        )
        core = RaftNode(Config(id=1), bootstrap=ConfState(voters=frozenset({1})))
        core.campaign()  # the only voter: lead at once, as the manager does
        store = Store()
        driver = RaftDriver(
            core,
            storage,
            InMemoryNetwork(roundtrip=False).transport(1),
            store,
            peers={1: "bench:2377"},
            options=DriverOptions(tick_interval=RAFT_TICK),
        )
        store.attach(RaftProposer(driver))
        runner = asyncio.create_task(driver.run())
        try:
            assert driver.leader == 1, "a lone voter that campaigned leads at once"
            start_index = store.index
            yield store
            stats.entries += store.index - start_index
        finally:
            await driver.stop()
            with contextlib.suppress(Exception):
                await runner
            storage.close()
            stats.wal_bytes += sum(f.stat().st_size for f in raft_dir.rglob("*") if f.is_file())


@contextlib.asynccontextmanager
async def new_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    if args.mode == "raft":
        async with raft_store(args.data_dir, args.raft_stats) as store:
            yield store
        return
    store = Store()
    if args.mode == "codec":
        store.attach(CodecProposer(store))
    yield store


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


async def bench_preloaded(args: argparse.Namespace) -> float:
    async with new_store(args) as store:
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
    return seconds


async def bench_streaming(args: argparse.Namespace) -> float:
    async with new_store(args) as store:
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
    return seconds


async def bench_transaction_sizes(args: argparse.Namespace) -> None:
    sizes = [s for s in (1_000, 10_000, 100_000) if s <= args.tasks]
    line = []
    for size in sizes:
        async with new_store(args) as store:
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
    modes = "; ".join(f"{m}: {MODES[m]}" for m in args.proposer)
    return (
        f"machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}; Python {platform.python_version()}\n"
        f"{args.nodes:,} nodes (Ready, Active, 16 CPUs, 64 GiB), {args.tasks:,} tasks in "
        f"{args.services} services (0.1 CPU, 64 MiB reserved each), created PENDING "
        f"{CREATE_BATCH} per transaction; scheduler batch {args.batch_size} tasks per "
        f"transaction, debounce 50 ms; one process, one core; Raft data under {args.data_dir} "
        f"({filesystem(args.data_dir)}); {loadavg()}\nstores: {modes}"
    )


def loadavg() -> str:
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return "load average unknown"
    return f"load average {one}, {five}, {fifteen} (1, 5, 15 min)"


def filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (fsync on tmpfs would cost nothing)."""
    best, kind = "", "unknown filesystem"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    return kind


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1000, help="tasks per scheduler write")
    p.add_argument(
        "--proposer",
        type=modes,
        default=["local", "raft"],
        help="comma-separated store modes, run in order: " + ", ".join(MODES),
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the raft mode's temporary WAL directory goes",
    )
    return p.parse_args(argv)


def modes(text: str) -> list[str]:
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown mode {', '.join(unknown) or '(none)'}; choose from {', '.join(MODES)}"
        )
    return chosen


async def main_async(args: argparse.Namespace) -> None:
    print(conditions(args), flush=True)
    await bench_core(args)
    figures: dict[str, tuple[float, float]] = {}
    for mode in args.proposer:
        args.mode, args.raft_stats = mode, RaftStats()
        print(f"-- store: {mode}", flush=True)
        preloaded = await bench_preloaded(args)
        streaming = await bench_streaming(args)
        await bench_transaction_sizes(args)
        if mode == "raft":
            print(args.raft_stats.line(), flush=True)
        figures[mode] = (preloaded, streaming)
    if "local" in figures and len(figures) > 1:
        base_pre, base_stream = figures["local"]
        for mode, (pre, stream) in figures.items():
            if mode != "local":
                print(
                    f"{mode} / local time to all ASSIGNED: preloaded {pre / base_pre:.2f}x, "
                    f"streaming {stream / base_stream:.2f}x"
                )
    print(f"at the end: {loadavg()}")


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
