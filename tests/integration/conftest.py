"""What several integration suites share: the engine at $DOCKER_HOST and a tiny test image.

scripts/test starts an isolated dockerd for the integration tier and exports DOCKER_HOST; a
test that needs the engine is skipped, saying why, only when none answers. The image is built
locally FROM scratch with busybox (the lab's rootfs): nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_examples.lab.images import make_rootfs

BUSYBOX_IMAGE = "shoal-test-busybox:1"
DOCKERFILE = 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n'


def engine_answers() -> str:
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
def busybox_image() -> Iterator[str]:
    """A busybox image on the engine at DOCKER_HOST (root only: the tests using it mount)."""
    why = engine_answers()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("these integration tests need root (tmpfs, bind mounts, namespaces)")
    with tempfile.TemporaryDirectory(prefix="shoal-test-image-") as tmp:
        make_rootfs(Path(tmp) / "rootfs")
        (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
        subprocess.run(
            ["docker", "build", "-q", "-t", BUSYBOX_IMAGE, tmp],
            check=True,
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    yield BUSYBOX_IMAGE
