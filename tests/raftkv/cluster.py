"""Start, SIGKILL and restart key-value members as real processes on 127.0.0.1.

Every process is started by `ProcessCluster` and stopped by its pid in `close` (SIGTERM, then
SIGKILL if it does not exit); `process_cluster` removes the temporary directory holding the
members' data directories and logs (`member-N.log`, appended to across restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.raftkv.client import Answer, KvClient

REPO = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    """Ports the kernel picked as free (all bound at once so that they are distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Member:
    node_id: int
    raft_port: int
    client_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class ProcessCluster:
    size: int
    root: Path
    tick: float = 0.05
    election_tick: int = 10
    snapshot_interval: int = 10_000
    snapshot_keep: int = 500
    members: dict[int, Member] = field(init=False)

    def __post_init__(self) -> None:
        ports = free_ports(2 * self.size)
        self.members = {
            i: Member(
                i,
                ports[2 * (i - 1)],
                ports[2 * (i - 1) + 1],
                self.root / f"member-{i}",
                self.root / f"member-{i}.log",
            )
            for i in range(1, self.size + 1)
        }
        self.client = KvClient(self.client_addresses)  # for status polling only

    @property
    def client_addresses(self) -> dict[int, str]:
        return {i: f"127.0.0.1:{m.client_port}" for i, m in self.members.items()}

    @property
    def ids(self) -> list[int]:
        return list(self.members)

    # -- processes ---------------------------------------------------------------------------

    def start(self, node_id: int) -> None:
        m = self.members[node_id]
        assert not m.running, f"member {node_id} is already running"
        peers = ",".join(f"{i}=127.0.0.1:{p.raft_port}" for i, p in self.members.items())
        argv = [
            sys.executable,
            "-m",
            "tests.raftkv.member",
            f"--id={node_id}",
            f"--data-dir={m.data_dir}",
            f"--listen=127.0.0.1:{m.raft_port}",
            f"--peers={peers}",
            f"--client-listen=127.0.0.1:{m.client_port}",
            f"--tick={self.tick}",
            f"--election-tick={self.election_tick}",
            f"--snapshot-interval={self.snapshot_interval}",
            f"--snapshot-keep={self.snapshot_keep}",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with m.log_path.open("ab") as log:
            log.write(f"=== start {m.starts + 1}: {' '.join(argv)}\n".encode())
            log.flush()
            m.proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        m.starts += 1

    def start_all(self) -> None:
        for i in self.members:
            self.start(i)

    def kill(self, node_ids: Sequence[int]) -> None:
        """SIGKILL all of them first (so that they die together), then reap them."""
        procs = [self.members[i].proc for i in node_ids]
        for p in procs:
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            if p is not None:
                p.wait()

    def close(self) -> None:
        """Stop every member this cluster started, by pid: SIGTERM, then SIGKILL."""
        self.client.close()
        procs = [m.proc for m in self.members.values() if m.proc is not None]
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()

    def log_count(self, text: str) -> int:
        """Lines containing `text` in all members' logs (every start of each member)."""
        return sum(
            m.log_path.read_text(errors="replace").count(text)
            for m in self.members.values()
            if m.log_path.exists()
        )

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        path = self.members[node_id].log_path
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- observing ---------------------------------------------------------------------------

    async def status(self, node_id: int, *, digest: bool = False) -> Answer | None:
        if not self.members[node_id].running:
            return None
        try:
            return await self.client.status(node_id, digest=digest, within=1.0)
        except (OSError, TimeoutError, ValueError):
            return None

    async def statuses(self, *, digest: bool = False) -> dict[int, Answer | None]:
        answers = await asyncio.gather(*(self.status(i, digest=digest) for i in self.members))
        return dict(zip(self.members, answers, strict=True))

    async def wait_for_leader(
        self, *, above_term: int = 0, within: float = 30.0, poll: float = 0.005
    ) -> tuple[int, int]:
        """Poll until a member reports itself leader of a term above `above_term`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            leaders = [
                (int(str(s["term"])), node_id)
                for node_id, s in (await self.statuses()).items()
                if s is not None and s["role"] == "leader"
            ]
            if leaders and max(leaders)[0] > above_term:
                term, node_id = max(leaders)  # a deposed leader may not know it yet
                return node_id, term
            await asyncio.sleep(poll)
        raise AssertionError(f"no leader of a term above {above_term} within {within}s")

    async def wait_until_serving(self, node_id: int, *, within: float = 30.0) -> Answer:
        """Poll until the member answers and knows a leader."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            s = await self.status(node_id)
            if s is not None and s["leader"]:
                return s
            if not self.members[node_id].running:
                raise AssertionError(f"member {node_id} exited:\n{self.log_tail(node_id)}")
            await asyncio.sleep(0.01)
        raise AssertionError(f"member {node_id} did not join a leader within {within}s")

    async def wait_until_quiet(self, *, within: float = 30.0) -> dict[int, Answer]:
        """Poll until every member answers, agrees on one leader and has applied the leader's
        commit index, twice in a row with nothing new committed; returns the digests then."""
        deadline = time.monotonic() + within
        previous: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            st = await self.statuses()
            answers = [s for s in st.values() if s is not None]
            if len(answers) == len(st):
                leaders = {s["leader"] for s in answers}
                commits = {s["commit"] for s in answers} | {s["applied"] for s in answers}
                if len(leaders) == 1 and len(commits) == 1 and 0 not in leaders:
                    point = (int(str(leaders.pop())), int(str(commits.pop())))
                    if point == previous:
                        final = await self.statuses(digest=True)
                        if all(s is not None and s["applied"] == point[1] for s in final.values()):
                            return {i: s for i, s in final.items() if s is not None}
                    previous = point
            await asyncio.sleep(0.05)
        raise AssertionError(f"the cluster did not settle within {within}s: {st}")


@contextlib.contextmanager
def process_cluster(
    size: int,
    *,
    tick: float = 0.05,
    election_tick: int = 10,
    snapshot_interval: int = 10_000,
    snapshot_keep: int = 500,
) -> Iterator[ProcessCluster]:
    """A cluster of `size` members in a fresh temporary directory; started by the caller,
    stopped and removed here whatever happens."""
    root = Path(tempfile.mkdtemp(prefix=f"raftkv-{size}-"))
    cluster: ProcessCluster | None = None
    try:
        cluster = ProcessCluster(size, root, tick, election_tick, snapshot_interval, snapshot_keep)
        yield cluster
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)
