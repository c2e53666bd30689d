"""The Docker executor against a real dockerd: every flag observable in `docker inspect` or
inside the container, secrets on tmpfs, stop grace, exit codes, health, missing images,
resuming after an agent restart, removal."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiodocker
import pytest

from manager.raft.clock import LoopClock
from manager.store import ServiceAnnotations, Task, TaskSpec, TaskState, TaskStatus
from manager.store.specs import (
    ConfigReference,
    ContainerSpec,
    FileTarget,
    HealthConfig,
    Mount,
    MountType,
    ResourceRequirements,
    Resources,
    SecretReference,
    Ulimit,
)
from tests.integration.executor.conftest import VOLUME, sh
from worker.controller import TaskController, TaskReport
from worker.executor import ContainerState, ExitError, MemoryDependencies
from worker.executor.docker import DockerExecutor
from worker.secrets import SecretFiles, is_tmpfs

S = TaskState
IDLE = ("/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")
_seq = iter(range(1, 1_000_000))


def make_task(spec: ContainerSpec, **task_spec: Any) -> Task:
    n = next(_seq)
    return Task(
        id=f"task{os.getpid()}x{n}",
        service_id="svc1",
        slot=n,
        node_id="node1",
        service_annotations=ServiceAnnotations(name="exectest"),
        desired_state=S.RUNNING,
        status=TaskStatus(state=S.ASSIGNED),
        spec=TaskSpec(container=spec, **task_spec),
    )


@dataclass
class Node:
    docker: aiodocker.Docker
    executor: DockerExecutor
    deps: MemoryDependencies
    attached: list[tuple[str, int]] = field(default_factory=list)
    reports: list[TaskReport] = field(default_factory=list)

    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def report(self, r: TaskReport) -> None:
        self.reports.append(r)
        self.changed.set()

    def states(self, task: Task) -> list[TaskState]:
        return [r.status.state for r in self.reports if r.task_id == task.id]

    def controller(self, task: Task) -> TaskController:
        return TaskController(
            task, self.executor.controller(task), report=self.report, clock=LoopClock()
        )

    async def run_until(self, ctlr: TaskController, *states: TaskState) -> None:
        """Until the task reaches one of `states` (30 s at most)."""
        async with asyncio.timeout(30):
            while True:
                self.changed.clear()
                if ctlr.status.state in states:
                    return
                await self.changed.wait()

    async def inspect(self, task: Task) -> dict[str, Any]:
        info: dict[str, Any] = await self.docker.containers.container(
            self.executor.controller(task).name
        ).show()
        return info

    async def exec(self, task: Task, command: str) -> tuple[int, str]:
        name = self.executor.controller(task).name
        return await sh("docker", "exec", name, "/bin/sh", "-c", command)


def host_dir(path: Path) -> None:
    (path / "hello.txt").write_text("from the host\n")
    path.chmod(0o755)  # readable by the container user 1000


def same_filesystem(root: Path, *files: str) -> bool:
    return all(os.stat(f).st_dev == root.stat().st_dev for f in files)


def read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture
async def node(engine: aiodocker.Docker, secrets_root: Path) -> AsyncIterator[Node]:
    deps = MemoryDependencies()
    attached: list[tuple[str, int]] = []

    async def attach(task: Task, container: ContainerState) -> None:
        attached.append((task.id, container.pid))

    executor = DockerExecutor(
        engine,
        node_id="node1",
        secrets=SecretFiles(secrets_root, deps),
        attach_networks=attach,
        node_hostname="worker-a",
        health_poll=0.2,
    )
    yield Node(engine, executor, deps, attached)


@pytest.fixture
async def started(node: Node) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Background controller runs, cancelled at the end of the test."""
    runs: list[asyncio.Task[None]] = []
    yield runs
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)


async def test_every_flag_is_applied(
    node: Node, started: list[asyncio.Task[None]], test_image: str, tmp_path: Path
) -> None:
    host_dir(tmp_path)
    spec = ContainerSpec(
        image=test_image,
        labels={"team": "infra"},
        command=IDLE[:2],
        args=IDLE[2:],
        hostname="{{.Node.Hostname}}-{{.Service.Name}}",
        env=("GREETING=hello world", "SLOT={{.Task.Slot}}"),
        dir="/work",
        user="1000:1000",
        read_only=True,
        init=True,
        stop_signal="SIGINT",
        stop_grace_period=timedelta(seconds=3),
        mounts=(
            Mount(MountType.VOLUME, VOLUME, "/data"),
            Mount(MountType.BIND, str(tmp_path), "/host", read_only=True),
            Mount(MountType.TMPFS, "", "/scratch", tmpfs_size_bytes=1 << 20, tmpfs_mode=0o1777),
        ),
        healthcheck=HealthConfig(
            test=("CMD", "true"),
            interval=timedelta(milliseconds=300),
            timeout=timedelta(seconds=2),
            retries=2,
            start_period=timedelta(seconds=5),
        ),
        capability_add=("NET_ADMIN",),
        capability_drop=("CHOWN",),
        sysctls={"net.ipv4.ip_forward": "1"},
        ulimits=(Ulimit("nofile", 1024, 2048),),
    )
    resources = ResourceRequirements(
        limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20, pids=64),
        reservations=Resources(nano_cpus=250_000_000, memory_bytes=32 << 20),
    )
    task = make_task(spec, resources=resources)
    ctlr = node.controller(task)
    started.append(asyncio.create_task(ctlr.run()))
    await node.run_until(ctlr, S.RUNNING, S.FAILED, S.REJECTED)
    assert ctlr.status.state is S.RUNNING, ctlr.status
    assert node.states(task) == [S.ACCEPTED, S.PREPARING, S.STARTING, S.RUNNING]
    assert node.reports[-1].healthy is True  # RUNNING only once healthy

    info = await node.inspect(task)
    config, host = info["Config"], info["HostConfig"]
    assert info["Name"] == f"/exectest.{task.slot}.{task.id}"
    assert config["Labels"] == {
        "team": "infra",
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": task.id,
        "com.docker.swarm.task.name": f"exectest.{task.slot}.{task.id}",
        "com.docker.swarm.node.id": "node1",
        "com.docker.swarm.service.id": "svc1",
        "com.docker.swarm.service.name": "exectest",
    }
    assert config["StopSignal"] == "SIGINT" and config["StopTimeout"] == 3
    assert config["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 300_000_000,
        "Timeout": 2_000_000_000,
        "Retries": 2,
        "StartPeriod": 5_000_000_000,
    }
    assert info["State"]["Health"]["Status"] == "healthy"
    assert host["NetworkMode"] == "none"
    assert (host["NanoCpus"], host["Memory"], host["PidsLimit"]) == (500_000_000, 64 << 20, 64)
    assert (host["CpuShares"], host["MemoryReservation"]) == (256, 32 << 20)
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["CHOWN"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert {(m["Type"], m["Destination"]) for m in info["Mounts"]} == {
        ("volume", "/data"),
        ("bind", "/host"),
        ("tmpfs", "/scratch"),
    }

    async def inside(command: str) -> str:
        rc, out = await node.exec(task, command)
        assert rc == 0, out
        return out.strip()

    assert await inside("echo $GREETING/$SLOT") == f"hello world/{task.slot}"
    assert await inside("id -u; id -g") == "1000\n1000"
    assert await inside("pwd") == "/work"
    assert await inside("hostname") == "worker-a-exectest"
    assert await inside("cat /proc/1/comm") in ("docker-init", "tini")  # --init
    assert await inside("cat /proc/sys/net/ipv4/ip_forward") == "1"
    assert await inside("ulimit -n; ulimit -Hn") == "1024\n2048"
    assert await inside("cat /host/hello.txt") == "from the host"
    assert "tmpfs" in await inside("grep ' /scratch ' /proc/mounts")
    rc, out = await node.exec(task, "touch /rootfs-write")
    assert rc != 0 and "Read-only file system" in out
    rc, _ = await node.exec(task, "touch /host/x")
    assert rc != 0  # the bind is read-only
    assert await inside("touch /scratch/x && test -d /data && echo ok") == "ok"
    # Capabilities: NET_ADMIN (bit 12) added, CHOWN (bit 0) dropped, in the bounding set.
    cap_bnd = int((await inside("grep CapBnd /proc/self/status")).split()[1], 16)
    assert cap_bnd & (1 << 12) and not cap_bnd & 1
    assert await inside("ip link show lo >/dev/null && ls /sys/class/net") == "lo"  # net none
    assert node.attached == [(task.id, info["State"]["Pid"])]  # the overlay's hook ran


async def test_secrets_and_configs_on_tmpfs(
    node: Node, started: list[asyncio.Task[None]], test_image: str, secrets_root: Path
) -> None:
    node.deps.secrets["sec1"] = b"hunter2"
    node.deps.configs["cfg1"] = b"port=80\n"
    spec = ContainerSpec(
        image=test_image,
        command=IDLE,
        user="1000",
        secrets=(SecretReference("sec1", "db_pw", FileTarget("", "1000", "1001", 0o400)),),
        configs=(
            ConfigReference("cfg1", "app.conf", FileTarget("", "0", "0", 0o444)),
            ConfigReference("cfg1", "app.conf", FileTarget("/etc/app/app.conf", "0", "0", 0o440)),
        ),
    )
    task = make_task(spec)
    ctlr = node.controller(task)
    started.append(asyncio.create_task(ctlr.run()))
    await node.run_until(ctlr, S.RUNNING, S.FAILED, S.REJECTED)
    assert ctlr.status.state is S.RUNNING, ctlr.status

    rc, out = await node.exec(
        task, "cat /run/secrets/db_pw; echo; stat -c '%a %u %g' /run/secrets/*"
    )
    assert (rc, out) == (0, "hunter2\n400 1000 1001\n")
    rc, out = await node.exec(task, "cat /app.conf; stat -c '%a %u' /app.conf /etc/app/app.conf")
    assert rc == 0 and out == "port=80\n444 0\n440 0\n"
    rc, out = await node.exec(task, "echo x > /run/secrets/db_pw")
    assert rc != 0  # read-only

    # On the host: only under the tmpfs, nowhere on disk.
    assert is_tmpfs(secrets_root)
    task_dir = secrets_root / task.id
    info = await node.inspect(task)
    sources = {m["Destination"]: m["Source"] for m in info["Mounts"]}
    files = [sources[t] for t in ("/run/secrets/db_pw", "/app.conf", "/etc/app/app.conf")]
    assert all(f.startswith(f"{task_dir}/") for f in files)
    assert same_filesystem(secrets_root, *files)
    assert read_bytes(sources["/run/secrets/db_pw"]) == b"hunter2"

    await ctlr.remove()
    assert not task_dir.exists()  # cleaned up with the task
    assert await node.executor.controller(task).inspect() is None


async def test_stop_grace_period_then_kill(node: Node, test_image: str) -> None:
    # PID 1 ignores SIGTERM (no handler): only the SIGKILL after the grace period stops it.
    spec = ContainerSpec(
        image=test_image,
        command=("/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"),
        stop_grace_period=timedelta(seconds=2),
    )
    ctlr = node.executor.controller(make_task(spec))
    await ctlr.prepare()
    await ctlr.start()
    began = time.monotonic()
    await ctlr.shutdown()
    took = time.monotonic() - began
    state = await ctlr.inspect()
    assert state is not None and state.status == "exited"
    assert state.exit_code == 137  # killed
    assert 1.8 <= took < 8, took


async def test_stop_signal_reaches_the_process(node: Node, test_image: str) -> None:
    spec = ContainerSpec(
        image=test_image,
        command=("/bin/sh", "-c", "trap 'exit 42' INT; while :; do sleep 1 & wait $!; done"),
        stop_signal="SIGINT",
        stop_grace_period=timedelta(seconds=20),
    )
    ctlr = node.executor.controller(make_task(spec))
    await ctlr.prepare()
    await ctlr.start()
    began = time.monotonic()
    await ctlr.shutdown()
    state = await ctlr.inspect()
    assert state is not None and state.exit_code == 42
    assert time.monotonic() - began < 10


async def test_shutdown_requested_through_the_controller(
    node: Node, started: list[asyncio.Task[None]], test_image: str
) -> None:
    task = make_task(ContainerSpec(image=test_image, command=IDLE))
    ctlr = node.controller(task)
    run = asyncio.create_task(ctlr.run())
    started.append(run)
    await node.run_until(ctlr, S.RUNNING)
    ctlr.update(replace(task, desired_state=S.SHUTDOWN))
    async with asyncio.timeout(20):
        await run
    assert node.states(task)[-1] is S.SHUTDOWN
    state = await node.executor.controller(task).inspect()
    assert state is not None and state.status == "exited" and state.exit_code == 0


@pytest.mark.parametrize(("code", "final"), [(0, S.COMPLETE), (3, S.FAILED)])
async def test_exit_code_is_reported(
    node: Node, test_image: str, code: int, final: TaskState
) -> None:
    task = make_task(ContainerSpec(image=test_image, command=("/bin/sh", "-c", f"exit {code}")))
    ctlr = node.controller(task)
    async with asyncio.timeout(30):
        await ctlr.run()
    assert ctlr.status.state is final
    assert ctlr.status.err == ("" if code == 0 else f"task: non-zero exit ({code})")
    assert ctlr.status.container is not None and ctlr.status.container.exit_code == code


async def test_missing_image_rejects_the_task(node: Node) -> None:
    # A registry on a closed local port: the pull fails at once, no traffic leaves the host.
    task = make_task(ContainerSpec(image="127.0.0.1:9/shoal/missing:nope"))
    ctlr = node.controller(task)
    async with asyncio.timeout(60):
        await ctlr.run()
    assert node.states(task) == [S.ACCEPTED, S.PREPARING, S.REJECTED]
    assert ctlr.status.err == "No such image: 127.0.0.1:9/shoal/missing:nope"


async def test_failing_health_check_fails_the_task_before_running(
    node: Node, test_image: str
) -> None:
    spec = ContainerSpec(
        image=test_image,
        command=IDLE,
        stop_grace_period=timedelta(seconds=2),
        healthcheck=HealthConfig(
            test=("CMD", "false"), interval=timedelta(milliseconds=200), retries=1
        ),
    )
    task = make_task(spec)
    ctlr = node.controller(task)
    async with asyncio.timeout(30):
        await ctlr.run()
    assert node.states(task) == [S.ACCEPTED, S.PREPARING, S.STARTING, S.FAILED]
    assert ctlr.status.err == "task: unhealthy container"
    state = await node.executor.controller(task).inspect()
    assert state is not None and not state.running  # stopped


async def test_container_turning_unhealthy_fails_the_running_task(
    node: Node, test_image: str
) -> None:
    spec = ContainerSpec(
        image=test_image,
        command=IDLE,
        healthcheck=HealthConfig(
            test=("CMD-SHELL", "test ! -f /tmp/sick"),
            interval=timedelta(milliseconds=200),
            retries=1,
        ),
    )
    task = make_task(spec)
    ctlr = node.controller(task)
    run = asyncio.create_task(ctlr.run())
    try:
        await node.run_until(ctlr, S.RUNNING)
        rc, out = await node.exec(task, "touch /tmp/sick")
        assert rc == 0, out
        async with asyncio.timeout(30):
            await run
    finally:
        run.cancel()
    assert node.states(task)[-2:] == [S.RUNNING, S.FAILED]
    assert ctlr.status.err == "task: unhealthy container"
    assert node.reports[-1].healthy is False


async def test_a_restarted_agent_resumes_the_running_container(node: Node, test_image: str) -> None:
    task = make_task(ContainerSpec(image=test_image, command=IDLE))
    first = node.controller(task)
    run = asyncio.create_task(first.run())
    await node.run_until(first, S.RUNNING)
    run.cancel()  # the agent goes away; the container keeps running
    await asyncio.gather(run, return_exceptions=True)
    before = await node.inspect(task)

    # The new agent's stored copy of the task says PREPARING (it crashed mid-way).
    again = node.controller(replace(task, status=TaskStatus(state=S.PREPARING)))
    run = asyncio.create_task(again.run())
    try:
        await node.run_until(again, S.RUNNING)
        after = await node.inspect(task)
        assert after["Id"] == before["Id"]
        assert after["State"]["StartedAt"] == before["State"]["StartedAt"]  # not restarted
        await node.exec(task, "kill 1")
        async with asyncio.timeout(20):
            await run
    finally:
        run.cancel()
    assert again.status.state is S.COMPLETE


async def test_task_containers_are_found_by_label(node: Node, test_image: str) -> None:
    task = make_task(ContainerSpec(image=test_image, command=IDLE))
    ctlr = node.executor.controller(task)
    await ctlr.prepare()
    found = await node.executor.task_containers()
    assert task.id in found and found[task.id].status == "created"
    await ctlr.remove()
    assert task.id not in await node.executor.task_containers()
    await ctlr.remove()  # removing again is fine


async def test_wait_raises_the_exit_error(node: Node, test_image: str) -> None:
    ctlr = node.executor.controller(
        make_task(ContainerSpec(image=test_image, command=("/bin/sh", "-c", "exit 7")))
    )
    await ctlr.prepare()
    await ctlr.start()
    with pytest.raises(ExitError) as err:
        await ctlr.wait()
    assert err.value.exit_code == 7
