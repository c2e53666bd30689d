"""`shoal swarm ...` and `shoal info` against the fake daemon."""

from __future__ import annotations

import json

from .conftest import Run
from .fake_daemon import NODE1, FakeState

INIT = (
    f"Swarm initialized: current node ({NODE1}) is now a manager.\n"
    "\n"
    "To add a worker to this swarm, run the following command:\n"
    "\n"
    "    shoal swarm join --token SWMTKN-1-abc-worker 10.0.0.1:2377\n"
    "\n"
    "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the "
    "instructions.\n"
)


def test_init_prints_dockers_text_with_the_worker_join_command(run: Run, state: FakeState) -> None:
    result = run("swarm", "init", "--advertise-addr", "10.0.0.1")
    assert (result.exit_code, result.stdout) == (0, INIT)
    (request,) = state.calls("Init")
    assert (request.listen_addr, request.advertise_addr) == ("0.0.0.0:2377", "10.0.0.1")
    # flags not given travel as 0: the daemon applies Docker's defaults
    assert (request.dispatcher_heartbeat_seconds, request.cert_expiry_seconds) == (0, 0)
    assert request.subnet_size == 24


def test_init_passes_spec_flags(run: Run, state: FakeState) -> None:
    result = run(
        "swarm", "init", "--listen-addr", "10.0.0.1", "--cert-expiry", "2160h0m0s",
        "--dispatcher-heartbeat", "10s", "--task-history-limit", "2", "--snapshot-interval", "500",
        "--default-addr-pool", "10.20.0.0/16,10.30.1.0/16", "--data-path-port", "7789",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (request,) = state.calls("Init")
    assert request.listen_addr == "10.0.0.1:2377"
    assert request.cert_expiry_seconds == 90 * 24 * 3600
    assert request.dispatcher_heartbeat_seconds == 10
    assert (request.task_history_limit, request.snapshot_interval) == (2, 500)
    assert list(request.default_addr_pool) == ["10.20.0.0/16", "10.30.0.0/16"]
    assert request.data_path_port == 7789


def test_init_rejects_a_duration_go_does_not_parse(run: Run, state: FakeState) -> None:
    result = run("swarm", "init", "--cert-expiry", "90d")
    assert result.exit_code == 2
    assert 'time: unknown unit "d" in duration "90d"' in result.stderr
    assert state.calls("Init") == []


def test_join_token_prints_the_join_command(run: Run) -> None:
    result = run("swarm", "join-token", "worker")
    assert result.stdout == (
        "To add a worker to this swarm, run the following command:\n\n"
        "    shoal swarm join --token SWMTKN-1-abc-worker 10.0.0.1:2377\n\n"
    )
    manager = run("swarm", "join-token", "-q", "manager")
    assert manager.stdout == "SWMTKN-1-abc-manager\n"


def test_join_token_rotate_updates_the_cluster_with_its_version(run: Run, state: FakeState) -> None:
    result = run("swarm", "join-token", "--rotate", "worker")
    assert result.stdout.startswith(
        "Successfully rotated worker join token.\n\n"
        "To add a worker to this swarm, run the following command:\n\n"
        "    shoal swarm join --token SWMTKN-1-abc-worker2 10.0.0.1:2377\n"
    )
    (request,) = state.calls("UpdateCluster")
    assert (request.version, request.rotate_worker_token, request.rotate_manager_token) == (
        11,
        True,
        False,
    )


def test_join_token_unknown_role(run: Run) -> None:
    result = run("swarm", "join-token", "boss")
    assert (result.exit_code, result.stderr) == (1, "Error: unknown role boss\n")


def test_join_reports_the_role(run: Run, state: FakeState) -> None:
    result = run("swarm", "join", "--token", "SWMTKN-1-x", "10.0.0.1:2377")
    assert result.stdout == "This node joined a swarm as a worker.\n"
    (request,) = state.calls("Join")
    assert (list(request.remote_addrs), request.token) == (["10.0.0.1:2377"], "SWMTKN-1-x")
    assert request.listen_addr == "0.0.0.0:2377"
    state.join_role = "manager"
    again = run("swarm", "join", "--token", "SWMTKN-1-y", "10.0.0.1:2377")
    assert again.stdout == "This node joined a swarm as a manager.\n"


def test_leave(run: Run, state: FakeState) -> None:
    assert run("swarm", "leave", "--force").stdout == "Node left the swarm.\n"
    assert [r.force for r in state.calls("Leave")] == [True]


def test_update_changes_only_the_given_fields(run: Run, state: FakeState) -> None:
    result = run("swarm", "update", "--dispatcher-heartbeat", "1m30s", "--task-history-limit", "9")
    assert (result.exit_code, result.stdout) == (0, "Swarm updated.\n")
    (request,) = state.calls("UpdateCluster")
    assert request.version == 11
    assert request.spec.dispatcher.heartbeat_period.seconds == 90
    assert request.spec.orchestration.task_history_retention_limit == 9
    assert request.spec.raft.snapshot_interval == 10000
    assert request.spec.ca_config.node_cert_expiry.seconds == 90 * 24 * 3600


def test_update_without_flags_shows_help(run: Run, state: FakeState) -> None:
    result = run("swarm", "update")
    assert "Usage:" in result.stdout
    assert state.calls("UpdateCluster") == []


def test_info_text_and_json(run: Run) -> None:
    text = run("info").stdout
    assert text.startswith(f"Server:\n Swarm: active\n  NodeID: {NODE1}\n  Is Manager: true\n")
    assert "   Heartbeat Period: 5 seconds\n" in text
    assert "   Expiry Duration: 3 months\n" in text
    assert text.endswith("  Node Address: 10.0.0.1\n  Manager Addresses:\n   10.0.0.1:2377\n")
    swarm = json.loads(run("info", "--format", "json").stdout)["Swarm"]
    assert (swarm["NodeID"], swarm["LocalNodeState"], swarm["ControlAvailable"]) == (
        NODE1,
        "active",
        True,
    )
    assert swarm["Cluster"]["Spec"]["Dispatcher"] == {"HeartbeatPeriod": 5_000_000_000}


def test_info_of_an_inactive_node(run: Run, state: FakeState) -> None:
    state.info.Clear()
    state.info.local_node_state = "inactive"
    assert run("info").stdout == "Server:\n Swarm: inactive\n"
