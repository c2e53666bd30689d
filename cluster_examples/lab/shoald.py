"""One shoald per lab node, in the node's network and UTS namespaces, and forming the cluster.

    start:  nsenter --net=shoal-nK --uts=nK/uts  shoald --data-dir nK/shoald
            --socket nK/shoal.sock --listen-addr/--advertise-addr <node ip>:2377
            --engine-socket nK/docker.sock --raft-tick 0.1        (log: nK/shoald.log)
    form:   n1: Swarm.Init ─▶ tokens from Control.GetCluster
            n2..nM: Swarm.Join(manager token, n1), one at a time (Raft adds one member at once)
            the rest: Swarm.Join(worker token, n1), all at once

The lab talks to each daemon through its local socket (a file in the state dir) with the
generated gRPC stubs: the same Swarm API `shoal swarm init|join` uses.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc

from cluster_examples.lab.sh import NETNS_DIR, LabError
from cluster_examples.lab.spec import NodePaths
from proto import control_pb2, control_pb2_grpc

T = TypeVar("T")
CLUSTER_PORT = 2377
RAFT_TICK = 0.1  # seconds: failover in about 1-2 s
START_TIMEOUT = 30.0
JOIN_TIMEOUT = 90.0


def data_dir(paths: NodePaths) -> Path:
    return paths.root / "shoald"


def log_path(paths: NodePaths) -> Path:
    return paths.root / "shoald.log"


def argv(node: str, paths: NodePaths, address: str) -> list[str]:
    addr = f"{address}:{CLUSTER_PORT}"
    return [
        "nsenter", f"--net={NETNS_DIR / ('shoal-' + node)}", f"--uts={paths.uts}",
        sys.executable, "-m", "shoal.daemon",
        "--data-dir", str(data_dir(paths)),
        "--socket", str(paths.shoald_sock),
        "--listen-addr", addr,
        "--advertise-addr", addr,
        "--engine-socket", str(paths.docker_sock),
        "--raft-tick", str(RAFT_TICK),
    ]  # fmt: skip


def start(node: str, paths: NodePaths, address: str) -> int:
    """Start the node's shoald and wait until its socket answers; return its pid."""
    with log_path(paths).open("ab") as log:
        proc = subprocess.Popen(
            argv(node, paths, address),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"shoald on {node} exited with {proc.returncode}: {log_tail(paths)}")
        if paths.shoald_sock.exists() and asyncio.run(_answers(paths.shoald_sock)):
            return proc.pid
        time.sleep(0.1)
    proc.kill()
    raise LabError(
        f"shoald on {node} did not answer within {START_TIMEOUT:.0f}s: {log_tail(paths)}"
    )


def log_tail(paths: NodePaths, lines: int = 3) -> str:
    try:
        tail = log_path(paths).read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(tail) + f" (full log: {log_path(paths)})"


async def _answers(sock: Path) -> bool:
    try:
        await _swarm(sock, lambda s: s.Info(control_pb2.InfoRequest(), timeout=2))
    except grpc.aio.AioRpcError:
        return False
    return True


async def _swarm(sock: Path, call: Callable[[control_pb2_grpc.SwarmStub], Awaitable[T]]) -> T:
    async with grpc.aio.insecure_channel(f"unix:{sock}") as channel:
        return await call(control_pb2_grpc.SwarmStub(channel))  # type: ignore[no-untyped-call]


async def _control(sock: Path, call: Callable[[control_pb2_grpc.ControlStub], Awaitable[T]]) -> T:
    async with grpc.aio.insecure_channel(f"unix:{sock}") as channel:
        return await call(control_pb2_grpc.ControlStub(channel))  # type: ignore[no-untyped-call]


def form_cluster(
    nodes: list[str], managers: int, sockets: dict[str, Path], addresses: dict[str, str]
) -> None:
    """Init on the first node, join managers one by one, then the workers together."""
    try:
        asyncio.run(_form(nodes, managers, sockets, addresses))
    except grpc.aio.AioRpcError as e:
        raise LabError(f"forming the cluster failed: {e.details()}") from None


async def _form(
    nodes: list[str], managers: int, sockets: dict[str, Path], addresses: dict[str, str]
) -> None:
    first = nodes[0]
    addr = f"{addresses[first]}:{CLUSTER_PORT}"
    await _swarm(sockets[first], lambda s: s.Init(control_pb2.InitRequest(), timeout=60))
    cluster = await _control(sockets[first], lambda c: c.GetCluster(control_pb2.Empty()))
    tokens = cluster.root_ca.join_tokens

    async def join(node: str, token: str) -> None:
        request = control_pb2.JoinRequest(remote_addrs=[addr], token=token)
        await _swarm(sockets[node], lambda s: s.Join(request, timeout=JOIN_TIMEOUT))

    for node in nodes[1:managers]:
        await join(node, tokens.manager)
    async with asyncio.TaskGroup() as tg:
        for node in nodes[managers:]:
            tg.create_task(join(node, tokens.worker))
