"""Real shoald processes on 127.0.0.1 for the control-plane tests.

Each daemon has its own data dir, local socket and cluster port (the join port is the next
one); every process is started here and stopped by its pid (SIGTERM, then SIGKILL) in
`close`. Waits poll a condition until a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc

from proto import control_pb2, control_pb2_grpc, objects_pb2
from tests.raftkv.cluster import REPO, free_ports

T = TypeVar("T")
TICK = 0.1


@dataclass
class Daemon:
    name: str
    root: Path
    port: int  # cluster port; the join port is port + 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    @property
    def socket(self) -> Path:
        return self.root / f"{self.name}.sock"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.running
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shoal.daemon",
                    "--data-dir",
                    str(self.data_dir),
                    "--socket",
                    str(self.socket),
                    "--listen-addr",
                    self.addr,
                    "--raft-tick",
                    str(TICK),
                    "--engine-socket",
                    str(self.root / "no-engine.sock"),
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 10) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(f"unix:{self.socket}")

    async def swarm(self, call: Callable[[control_pb2_grpc.SwarmStub], Awaitable[T]]) -> T:
        async with self.channel() as ch:
            return await call(control_pb2_grpc.SwarmStub(ch))  # type: ignore[no-untyped-call]

    async def control(self, call: Callable[[control_pb2_grpc.ControlStub], Awaitable[T]]) -> T:
        async with self.channel() as ch:
            return await call(control_pb2_grpc.ControlStub(ch))  # type: ignore[no-untyped-call]

    async def nodes(self) -> list[objects_pb2.Node]:
        reply = await self.control(lambda c: c.ListNodes(control_pb2.ListRequest(), timeout=10))
        return list(reply.nodes)

    async def secrets(self) -> set[str]:
        reply = await self.control(lambda c: c.ListSecrets(control_pb2.ListRequest(), timeout=10))
        return {s.spec.name for s in reply.secrets}

    async def create_secret(self, name: str) -> str:
        spec = objects_pb2.SecretSpec(name=name, data=name.encode())
        reply = await self.control(
            lambda c: c.CreateSecret(control_pb2.CreateSecretRequest(spec=spec), timeout=15)
        )
        return str(reply.id)

    async def info(self) -> control_pb2.InfoResponse:
        return await self.swarm(lambda s: s.Info(control_pb2.InfoRequest(), timeout=5))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    root: Path
    daemons: dict[str, Daemon] = field(default_factory=dict)
    worker_token: str = ""
    manager_token: str = ""

    def add(self, name: str) -> Daemon:
        (port,) = _pair_ports()
        daemon = Daemon(name, self.root, port)
        self.daemons[name] = daemon
        daemon.start()
        return daemon

    async def init(self, daemon: Daemon) -> None:
        await wait_for(f"{daemon.name}'s socket", lambda: _answers(daemon))
        await daemon.swarm(
            lambda s: s.Init(
                control_pb2.InitRequest(listen_addr=daemon.addr, advertise_addr=daemon.addr),
                timeout=30,
            )
        )
        cluster = await daemon.control(lambda c: c.GetCluster(control_pb2.Empty(), timeout=10))
        self.worker_token = cluster.root_ca.join_tokens.worker
        self.manager_token = cluster.root_ca.join_tokens.manager

    async def join(self, daemon: Daemon, via: Daemon, token: str) -> control_pb2.JoinResponse:
        await wait_for(f"{daemon.name}'s socket", lambda: _answers(daemon))
        request = control_pb2.JoinRequest(
            remote_addrs=[via.addr],
            token=token,
            listen_addr=daemon.addr,
            advertise_addr=daemon.addr,
        )
        return await daemon.swarm(lambda s: s.Join(request, timeout=90))

    def close(self) -> None:
        for daemon in self.daemons.values():
            if daemon.running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.terminate()

    def logs(self) -> str:
        return "\n".join(f"== {d.name}\n{d.log_text()[-4000:]}" for d in self.daemons.values())


def _pair_ports() -> tuple[int]:
    # A cluster port whose successor (the join port) is free too.
    for _ in range(100):
        (port,) = free_ports(1)
        if port < 65535 and free_ports_include(port + 1):
            return (port,)
    raise RuntimeError("no two consecutive free ports")


def free_ports_include(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _answers(daemon: Daemon) -> bool:
    if not daemon.socket.exists():
        return False
    try:
        await daemon.info()
    except grpc.aio.AioRpcError:
        return False
    return True


async def wait_for(
    what: str, condition: Callable[[], Awaitable[bool]], within: float = 30.0
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: BaseException | None = None
    while loop.time() < deadline:
        try:
            if await condition():
                return
        except (grpc.aio.AioRpcError, OSError) as e:
            last = e
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what} (last error: {last})")


async def leader_of(daemon: Daemon) -> str:
    """The id of the node the store marks as the Raft leader ("" if none)."""
    for node in await daemon.nodes():
        if node.manager_status.leader:
            return str(node.id)
    return ""
