"""Failures: no daemon, daemon errors passed through, usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from shoal.cli import cli

from .conftest import Run
from .fake_daemon import FakeState

NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)


def test_no_daemon_says_it_cannot_connect(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    result = CliRunner().invoke(cli, ["--host", host, "node", "ls"])
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: Cannot connect to the shoal daemon at {host}. Is shoald running?\n"
    )


def test_shoal_host_environment_variable(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/env.sock"
    result = CliRunner().invoke(cli, ["secret", "ls"], env={"SHOAL_HOST": host})
    assert f"at {host}." in result.stderr


def test_the_console_script_prints_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "shoal"
    run = subprocess.run(
        [script, "--host", f"unix://{tmp_path}/none.sock", "swarm", "join-token", "worker"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("Error: Cannot connect to the shoal daemon at unix://")
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["node", "ls"],
        ["node", "inspect", "self"],
        ["swarm", "join-token", "worker"],
        ["secret", "ls"],
        ["config", "inspect", "x"],
    ],
)
def test_failed_precondition_message_is_passed_through(
    run: Run, state: FakeState, args: list[str]
) -> None:
    for method in ("ListNodes", "GetNode", "GetCluster", "ListSecrets", "GetConfig"):
        state.failures[method] = (grpc.StatusCode.FAILED_PRECONDITION, NOT_MANAGER)
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {NOT_MANAGER}\n"


def test_no_leader_unavailable_is_not_mistaken_for_no_daemon(run: Run, state: FakeState) -> None:
    message = "The swarm does not have a leader. It's possible that too few managers are online."
    state.failures["UpdateNode"] = (grpc.StatusCode.UNAVAILABLE, message)
    result = run("node", "update", "--availability", "drain", "node2")
    assert (result.exit_code, result.stderr) == (1, f"Error: {message}\n")


def test_not_found(run: Run) -> None:
    result = run("secret", "inspect", "nope")
    assert (result.exit_code, result.stderr) == (1, "Error: secret nope not found\n")


@pytest.mark.parametrize(
    "args",
    [
        ["node", "frobnicate"],
        ["node", "inspect"],
        ["node", "ls", "extra"],
        ["swarm", "join"],
        ["node", "update", "--label-add", "=x", "n"],
    ],
)
def test_usage_errors_exit_2(run: Run, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr


def test_only_unix_hosts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--host", "tcp://1.2.3.4:2375", "node", "ls"])
    assert result.exit_code == 2
    assert "only unix:///path is supported" in result.stderr
