"""The e2e tier drives shoal-lab, as root, on this host."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LAB = str(Path(sys.executable).parent / "shoal-lab")
SHOAL = str(Path(sys.executable).parent / "shoal")


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


def shoal(
    lab: LabCli, node: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`shoal ARGS...` inside `node`, talking to that node's shoald."""
    return lab.on(node, SHOAL, *args, check=check)


def node_ls(lab: LabCli, node: str) -> list[dict[str, Any]] | None:
    """`node ls --format json` on `node`; None when it fails (a worker, no leader)."""
    done = shoal(lab, node, "node", "ls", "--format", "json", check=False)
    if done.returncode != 0:
        return None
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def wait_for(what: str, condition: Callable[[], bool], within: float = 60.0) -> float:
    """Poll until `condition` holds; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


@contextlib.contextmanager
def three_node_lab(lab: LabCli) -> Iterator[None]:
    """`shoal-lab up --nodes 3` (n1 the manager) until every node is Ready and Active; down
    at the end."""
    lab.run("up", "--nodes", "3")
    try:
        wait_for("3 Ready, Active nodes", lambda: _all_ready(lab, ["n1", "n2", "n3"]))
        yield
    finally:
        lab.run("down", check=False)


def _all_ready(lab: LabCli, hostnames: list[str]) -> bool:
    rows = node_ls(lab, "n1") or []
    return sorted(r["Hostname"] for r in rows) == hostnames and all(
        r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows
    )


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
