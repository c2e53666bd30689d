"""The Docker engine for the executor's integration tests, and a tiny test image.

The engine is the one at $DOCKER_HOST (scripts/test starts an isolated dockerd for the
integration tier and exports it); the tests are skipped, saying why, only if no engine answers.
The image is built locally FROM scratch with busybox (the lab's rootfs): nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiodocker
import pytest

from cluster_examples.lab.images import make_rootfs

IMAGE = "shoal-exec-test:1"
VOLUME = "shoal-exec-vol"  # the named volume the flags test mounts
DOCKERFILE = 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n'


def _engine_answers() -> str:
    """'' if the engine at DOCKER_HOST answers, else why not."""
    if not os.environ.get("DOCKER_HOST"):
        return "DOCKER_HOST is not set (scripts/test exports it for the integration tier)"
    try:
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no docker CLI to reach the engine: {exc}"
    if out.returncode != 0:
        return f"no engine answers at {os.environ['DOCKER_HOST']}: {out.stderr.strip()}"
    return ""


@pytest.fixture(scope="session")
def test_image() -> Iterator[str]:
    why = _engine_answers()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("the executor's integration tests need root (tmpfs for secrets, binds)")
    with tempfile.TemporaryDirectory(prefix="shoal-exec-image-") as tmp:
        make_rootfs(Path(tmp) / "rootfs")
        (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
        subprocess.run(
            ["docker", "build", "-q", "-t", IMAGE, tmp],
            check=True,
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    yield IMAGE


@pytest.fixture
async def engine(test_image: str) -> AsyncIterator[aiodocker.Docker]:
    """An aiodocker client for the engine at DOCKER_HOST; removes what the test left behind."""
    docker = aiodocker.Docker()
    try:
        yield docker
    finally:
        for c in await docker.containers.list(
            all=True, filters='{"label": ["com.docker.swarm.task.id"]}'
        ):
            await c.delete(force=True, v=True)
        with contextlib.suppress(aiodocker.DockerError):
            volume = await docker.volumes.get(VOLUME)  # type: ignore[no-untyped-call]
            await volume.delete()
        await docker.close()


@pytest.fixture
def secrets_root() -> Iterator[Path]:
    """Where the agent keeps its secrets tmpfs; unmounted afterwards."""
    base = Path(tempfile.mkdtemp(prefix="shoal-exec-data-"))
    root = base / "secrets"
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


async def sh(*argv: str) -> tuple[int, str]:
    """Run a command (the docker CLI, mostly); its exit status and output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()
