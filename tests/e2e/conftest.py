"""The e2e tier drives shoal-lab, as root, on this host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LAB = str(Path(sys.executable).parent / "shoal-lab")


@dataclass
class LabCli:
    """Runs `shoal-lab` as a user would, against the test's own state dir."""

    state_dir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SHOAL_LAB_DIR": str(self.state_dir)}
        done = subprocess.run([LAB, *args], capture_output=True, text=True, env=env, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"shoal-lab {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def on(self, node: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("exec", node, "--", *cmd, check=check)


@pytest.fixture(scope="session")
def lab_cli() -> Iterator[LabCli]:
    if os.geteuid() != 0:
        pytest.fail("the e2e tier needs root (namespaces, engines); run scripts/test as root")
    if Path("/run/netns/shoal-switch").exists():
        pytest.fail("a shoal lab is already up on this host; run 'shoal-lab down' first")
    # Short path: engine sockets live under it and unix socket paths are limited to 108 bytes.
    state_dir = Path(tempfile.mkdtemp(prefix="shoal-e2e-", dir="/var/tmp"))
    cli = LabCli(state_dir / "lab")
    try:
        yield cli
    finally:
        cli.run("down", check=False)
        shutil.rmtree(state_dir, ignore_errors=True)
