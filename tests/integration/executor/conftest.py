"""The Docker engine for the executor's integration tests, and a tiny test image.

The engine is the one at $DOCKER_HOST (scripts/test starts an isolated dockerd for the
integration tier and exports it); the tests are skipped, saying why, only if no engine answers.
The image is built locally FROM scratch with busybox (the lab's rootfs): nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiodocker
import pytest

VOLUME = "shoal-exec-vol"  # the named volume the flags test mounts


@pytest.fixture(scope="session")
def test_image(busybox_image: str) -> str:
    return busybox_image


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
