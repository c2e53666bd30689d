"""Raft benchmark: shoal's Raft and etcd, 3 members each on loopback, fsync on.

    .venv/bin/python -m bench.raft [--seconds 10] [--proposers 1,64] [--skip-etcd]

shoal: three `tests.raftkv.member` processes (real gRPC transport, real Storage with fsync);
each proposer is an asyncio task in this process with its own connection to the leader,
putting one key at a time (JSON lines) and waiting until the leader has applied it. The Raft
entry is exactly `--entry-bytes` bytes.

etcd (Debian's `etcd`): three members with data directories in a temporary directory; each
proposer is an asyncio task POSTing /v3/kv/put to the leader's HTTP gateway over its own
keep-alive connection; key + value are `--entry-bytes` minus 16 bytes (the rest of the raft
entry is etcd's request header).

A commit is a put answered successfully; its latency is measured from sending the request to
reading the answer. Prints commits/s, p50/p99 latency, the CPU time each process used, and
the conditions. Never fails on time; stops every process it started by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from tests.raftkv.client import KvClient
from tests.raftkv.cluster import free_ports, process_cluster
from tests.raftkv.kv import encode_put

Put = Callable[[int, int], Awaitable[None]]  # (proposer, sequence number) -> committed


@dataclass
class Result:
    system: str
    proposers: int
    commits: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float]  # process name -> CPU seconds used during the run

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
        cpu = ", ".join(f"{k} {v / self.seconds:.0%}" for k, v in self.cpu.items())
        return (
            f"{self.system:6} {self.proposers:3} proposers: {self.rate:8.0f} commits/s  "
            f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({self.commits} commits in "
            f"{self.seconds:.1f}s; CPU of a core: {cpu})"
        )

    @property
    def rate(self) -> float:
        return self.commits / self.seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_load(
    system: str, proposers: int, seconds: float, put: Put, pids: dict[str, int]
) -> Result:
    """`proposers` tasks putting as fast as they can for `seconds`."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    async def proposer(n: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            t = time.monotonic()
            await put(n, i)
            latencies.append(time.monotonic() - t)
            i += 1

    pids = {"bench": os.getpid(), **pids}
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    started = time.monotonic()
    async with asyncio.TaskGroup() as tg:
        for n in range(proposers):
            tg.create_task(proposer(n))
    elapsed = time.monotonic() - started
    cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
    return Result(system, proposers, len(latencies), elapsed, latencies, cpu)


# -- shoal -----------------------------------------------------------------------------------


async def bench_shoal(args: argparse.Namespace) -> list[Result]:
    results = []
    with process_cluster(
        3, tick=args.tick, election_tick=args.election_tick, snapshot_interval=10_000
    ) as c:
        c.start_all()
        leader, _ = await c.wait_for_leader()
        pids = {f"member-{i}": m.proc.pid for i, m in c.members.items() if m.proc is not None}
        pids = {(k + "*" if k == f"member-{leader}" else k): p for k, p in pids.items()}
        width = args.entry_bytes - len(encode_put(f"p00-{0:010d}", ""))
        value = "x" * width
        assert len(encode_put(f"p00-{0:010d}", value)) == args.entry_bytes
        for proposers in args.proposers:
            clients = [KvClient(c.client_addresses) for _ in range(proposers)]
            for client in clients:
                client.leader_hint = leader

            async def put(n: int, i: int, clients: list[KvClient] = clients) -> None:
                await clients[n].put(f"p{n:02d}-{i:010d}", value)

            await run_load("shoal", proposers, min(1.0, args.seconds), put, {})  # warm up
            results.append(await run_load("shoal", proposers, args.seconds, put, pids))
            print(results[-1].line(), flush=True)
            for client in clients:
                client.close()
    return results


# -- etcd ------------------------------------------------------------------------------------


@contextlib.contextmanager
def etcd_cluster(root: Path) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    ports = free_ports(6)
    names = [f"e{i}" for i in range(1, 4)]
    peer = {n: f"http://127.0.0.1:{ports[i]}" for i, n in enumerate(names)}
    client = {n: f"http://127.0.0.1:{ports[3 + i]}" for i, n in enumerate(names)}
    initial = ",".join(f"{n}={peer[n]}" for n in names)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in names:
            argv = [
                "etcd",
                f"--name={n}",
                f"--data-dir={root / n}",
                f"--listen-peer-urls={peer[n]}",
                f"--initial-advertise-peer-urls={peer[n]}",
                f"--listen-client-urls={client[n]}",
                f"--advertise-client-urls={client[n]}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=bench",
                "--log-level=warn",
            ]
            log = (root / f"{n}.log").open("wb")
            procs.append(subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        yield [client[n] for n in names], procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


async def etcd_leader(session: aiohttp.ClientSession, urls: Sequence[str]) -> str:
    """Poll /v3/maintenance/status until a member reports itself the leader."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for url in urls:
            try:
                async with session.post(f"{url}/v3/maintenance/status", json={}) as r:
                    s = await r.json()
                if s.get("leader") and s["leader"] == s["header"]["member_id"]:
                    return url
            except (aiohttp.ClientError, KeyError, ValueError):
                pass
        await asyncio.sleep(0.1)
    raise RuntimeError("etcd elected no leader within 30s")


async def bench_etcd(args: argparse.Namespace) -> list[Result]:
    results = []
    root = Path(tempfile.mkdtemp(prefix="bench-etcd-"))
    try:
        with etcd_cluster(root) as (urls, procs):
            pids = {f"etcd-{i}": p.pid for i, p in enumerate(procs, 1)}
            async with aiohttp.ClientSession() as probe:
                leader = await etcd_leader(probe, urls)
            pids = {(k + "*" if urls[int(k[-1]) - 1] == leader else k): p for k, p in pids.items()}
            value = base64.b64encode(b"x" * (args.entry_bytes - 16 - 14)).decode()
            for proposers in args.proposers:
                sessions = [
                    aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
                    for _ in range(proposers)
                ]

                async def put(
                    n: int, i: int, sessions: list[aiohttp.ClientSession] = sessions
                ) -> None:
                    key = base64.b64encode(f"p{n:02d}-{i:010d}".encode()).decode()
                    async with sessions[n].post(
                        f"{leader}/v3/kv/put", json={"key": key, "value": value}
                    ) as r:
                        r.raise_for_status()
                        await r.read()

                await run_load("etcd", proposers, min(1.0, args.seconds), put, {})
                results.append(await run_load("etcd", proposers, args.seconds, put, pids))
                print(results[-1].line(), flush=True)
                for s in sessions:
                    await s.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


# -- main --------------------------------------------------------------------------------------


def conditions(args: argparse.Namespace) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    etcd = "etcd not run"
    if not args.skip_etcd:
        out = subprocess.run(["etcd", "--version"], capture_output=True, text=True, check=False)
        etcd = out.stdout.splitlines()[0] if out.stdout else "etcd (version unknown)"
    return (
        f"machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}; Python {platform.python_version()}; {etcd}\n"
        f"3 members on 127.0.0.1, fsync on, data in {tempfile.gettempdir()}; "
        f"{args.entry_bytes}-byte entries; shoal tick {args.tick}s, election_tick "
        f"{args.election_tick}; {args.seconds}s per run after a 1s warm-up; proposers are "
        f"asyncio tasks in this one process (its CPU use is shown as 'bench'); * marks the leader"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.raft", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    p.add_argument(
        "--proposers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 64],
        help="comma-separated concurrency levels",
    )
    p.add_argument("--entry-bytes", type=int, default=256)
    p.add_argument("--tick", type=float, default=0.1, help="shoal's Raft tick in seconds")
    p.add_argument("--election-tick", type=int, default=10)
    p.add_argument("--skip-etcd", action="store_true")
    p.add_argument("--skip-shoal", action="store_true")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> None:
    print(conditions(args), flush=True)
    shoal = [] if args.skip_shoal else await bench_shoal(args)
    etcd = [] if args.skip_etcd or not shutil.which("etcd") else await bench_etcd(args)
    if shoal and etcd:
        print(
            "shoal / etcd commits/s: "
            + ", ".join(
                f"{s.proposers} proposers {s.rate / e.rate:.2f}"
                for s, e in zip(shoal, etcd, strict=True)
            )
        )


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
