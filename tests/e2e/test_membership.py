"""Membership in the lab, managed as a user would with the `shoal` CLI inside the nodes: joins
refused for a wrong, rotated or foreign-CA token (and no secret reaching a foreign "manager");
a worker kept out of the control API; secrets and configs replicated to every manager, a
secret's data never shown; drain, promote, demote, leave and rm as Docker does them, with
Docker's refusals. test_cluster.py covers forming the cluster, failover and restarts.

One lab for the module: n1-n3 managers, n4 a worker. Each test leaves it as it found it (n4
comes back under a new id after leaving), except the last, which demotes managers. Every
refusal is checked to be one `Error: ...` line (exit status 1) saying what Docker says.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LAB, LabCli, node_ls, shoal, wait_for

pytestmark = pytest.mark.e2e

MANAGERS = ["n1", "n2", "n3"]
WORKER = "n4"
NODES = [*MANAGERS, WORKER]
FOREIGN_MANAGER = Path(__file__).with_name("foreign_manager.py")

# Docker's own wording (moby daemon/cluster errors, swarmkit controlapi, docker/cli).
WORKER_REFUSAL = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a manager."
)
NOT_IN_SWARM = 'This node is not a swarm manager. Use "shoal swarm init" or "shoal swarm join"'
WRONG_TOKEN = "the join token is not valid for this cluster"
CA_MISMATCH = "the manager's CA does not match the token"


@pytest.fixture(scope="module")
def lab(lab_cli: LabCli) -> Iterator[LabCli]:
    lab_cli.run("up", "--nodes", "4", "--managers", "3")
    try:
        for m in MANAGERS:
            wait_for(f"the lab's cluster on {m}", partial(as_set_up, lab_cli, m))
        # A node that stops heartbeating is Down after 3 periods: 6 s rather than 15.
        shoal(lab_cli, "n1", "swarm", "update", "--dispatcher-heartbeat", "2s")
        yield lab_cli
    finally:
        lab_cli.run("down", check=False)


# ---- reading the cluster ----------------------------------------------------------------


def rows_by_host(lab: LabCli, node: str) -> dict[str, dict[str, Any]]:
    """`node ls` on `node`, keyed by hostname ({} when `node` cannot list nodes)."""
    return {r["Hostname"]: r for r in node_ls(lab, node) or []}


def field(lab: LabCli, on: str, host: str, key: str) -> str:
    row = rows_by_host(lab, on).get(host)
    return str(row[key]) if row else ""


def as_set_up(lab: LabCli, node: str) -> bool:
    """What the lab starts with, seen from `node`: 4 Ready, Active nodes; n1-n3 managers, one
    of them Leader; n4 a worker."""
    rows = rows_by_host(lab, node)
    statuses = sorted(rows[m]["ManagerStatus"] for m in MANAGERS if m in rows)
    return (
        sorted(rows) == NODES
        and all(r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows.values())
        and statuses == ["Leader", "Reachable", "Reachable"]
        and rows[WORKER]["ManagerStatus"] == ""
    )


def wait_everywhere(
    what: str, condition: Callable[[str], bool], nodes: list[str] = MANAGERS
) -> None:
    """Wait for `condition(node)` on each of `nodes`; prints how long it took."""
    for node in nodes:
        took = wait_for(f"{what} on {node}", partial(condition, node))
        print(f"{what} on {node}: {took:.1f}s")


def leader(lab: LabCli) -> str:
    leaders = [h for h, r in rows_by_host(lab, "n1").items() if r["ManagerStatus"] == "Leader"]
    assert len(leaders) == 1, leaders
    return leaders[0]


def refused(done: subprocess.CompletedProcess[str], message: str) -> str:
    """Check that a command failed the way the CLI promises: exit 1, one `Error:` line on
    stderr containing `message`, no traceback."""
    error = done.stderr.strip()
    assert done.returncode == 1, (done.returncode, done.stdout, error)
    assert error.startswith("Error: ") and "\n" not in error, error
    assert message in error, error
    return error


def not_in_swarm(lab: LabCli, node: str) -> bool:
    return NOT_IN_SWARM in shoal(lab, node, "node", "ls", check=False).stderr


def refuses_control_api(lab: LabCli, node: str) -> bool:
    return WORKER_REFUSAL in shoal(lab, node, "node", "ls", check=False).stderr


# ---- a worker and the control API -------------------------------------------------------


def test_a_worker_cannot_use_the_control_api(lab: LabCli) -> None:
    for args in (
        ["node", "ls"],
        ["node", "inspect", "self"],
        ["node", "demote", "n1"],
        ["node", "update", "--availability", "drain", "n1"],
        ["secret", "ls"],
        ["config", "ls"],
        ["swarm", "join-token", "worker"],
    ):
        refused(shoal(lab, WORKER, *args, check=False), WORKER_REFUSAL)
    assert as_set_up(lab, "n1")  # nothing was changed on the way
    # (a worker's certificate calling Control on a manager's cluster port directly is
    # PERMISSION_DENIED: tests/integration/controlplane/test_cluster.py)


# ---- secrets and configs ----------------------------------------------------------------


def test_secrets_and_configs_are_on_every_manager_and_secret_data_is_never_shown(
    lab: LabCli, tmp_path: Path
) -> None:
    secret_data, config_data = "pa55-e2e-membership", "listen 8080\nworkers 4\n"
    (tmp_path / "secret").write_text(secret_data)
    (tmp_path / "config").write_text(config_data)
    secret_id = shoal(
        lab, "n2", "secret", "create", "--label", "tier=db", "db_password", str(tmp_path / "secret")
    ).stdout.strip()
    config_id = shoal(
        lab, "n3", "config", "create", "app.conf", str(tmp_path / "config")
    ).stdout.strip()

    def listed(kind: str, object_id: str, node: str) -> bool:
        done = shoal(lab, node, kind, "ls", "-q", check=False)
        return done.returncode == 0 and object_id in done.stdout.split()

    wait_everywhere("the secret", partial(listed, "secret", secret_id))
    wait_everywhere("the config", partial(listed, "config", config_id))

    leaked = (secret_data, base64.b64encode(secret_data.encode()).decode())
    for m in MANAGERS:
        [secret] = json.loads(shoal(lab, m, "secret", "inspect", "db_password").stdout)
        assert secret["ID"] == secret_id
        assert secret["Spec"]["Name"] == "db_password"
        assert secret["Spec"]["Labels"] == {"tier": "db"}
        assert "Data" not in secret["Spec"], secret
        for args in (
            ["secret", "inspect", secret_id],
            ["secret", "inspect", "--pretty", "db_password"],
            ["secret", "ls", "--format", "json"],
        ):
            out = shoal(lab, m, *args).stdout
            assert not any(s in out for s in leaked), (args, out)

        [config] = json.loads(shoal(lab, m, "config", "inspect", "app.conf").stdout)
        assert config["ID"] == config_id
        assert base64.b64decode(config["Spec"]["Data"]).decode() == config_data
        assert config_data in shoal(lab, m, "config", "inspect", "--pretty", "app.conf").stdout

    # removed on one manager, gone from all of them
    shoal(lab, "n1", "secret", "rm", "db_password")
    shoal(lab, "n1", "config", "rm", "app.conf")
    wait_everywhere("the secret gone", lambda n: not listed("secret", secret_id, n))
    wait_everywhere("the config gone", lambda n: not listed("config", config_id, n))


# ---- drain, promote, demote -------------------------------------------------------------


def test_drain_promote_and_demote(lab: LabCli) -> None:
    assert shoal(lab, "n2", "node", "update", "--availability", "drain", WORKER).stdout == "n4\n"
    wait_everywhere("n4 drained", lambda m: field(lab, m, WORKER, "Availability") == "Drain")

    promoted = shoal(lab, "n1", "node", "promote", WORKER).stdout
    assert promoted == "Node n4 promoted to a manager in the swarm.\n"
    # the promoted node answers the control API itself and sees itself as a reachable manager
    wait_everywhere(
        "n4 a Reachable manager",
        lambda m: field(lab, m, WORKER, "ManagerStatus") == "Reachable",
        [*MANAGERS, WORKER],
    )
    me = [r for r in node_ls(lab, WORKER) or [] if r["Self"]]
    assert [r["Hostname"] for r in me] == [WORKER]
    assert "is already a manager" in shoal(lab, "n3", "node", "promote", WORKER).stdout

    assert shoal(lab, "n3", "node", "demote", WORKER).stdout == "Manager n4 demoted in the swarm.\n"
    wait_everywhere("n4 a worker again", lambda m: field(lab, m, WORKER, "ManagerStatus") == "")
    took = wait_for("n4 refusing the control API again", partial(refuses_control_api, lab, WORKER))
    print(f"n4 refuses the control API {took:.1f}s after it shows as a worker")
    assert "is already a worker" in shoal(lab, "n1", "node", "demote", WORKER).stdout

    shoal(lab, "n1", "node", "update", "--availability", "active", WORKER)
    wait_everywhere("the cluster as set up", partial(as_set_up, lab))


# ---- leave, rm, and joining with good and bad tokens ------------------------------------


def test_a_worker_leaves_is_removed_and_rejoins_only_with_the_current_token(
    lab: LabCli,
) -> None:
    old_id = field(lab, "n1", WORKER, "ID")
    refused(
        shoal(lab, "n1", "node", "rm", WORKER, check=False),
        f"node {old_id} is not down and can't be removed",
    )

    assert shoal(lab, WORKER, "swarm", "leave").stdout == "Node left the swarm.\n"
    assert not_in_swarm(lab, WORKER)
    wait_everywhere("n4 Down", lambda m: field(lab, m, WORKER, "Status") == "Down")
    assert shoal(lab, "n2", "node", "rm", WORKER).stdout == "n4\n"
    wait_everywhere("n4 removed", lambda m: sorted(rows_by_host(lab, m)) == MANAGERS)

    n1 = lab.out("ip", "n1")
    token = shoal(lab, "n1", "swarm", "join-token", "-q", "worker").stdout.strip()
    manager_token = shoal(lab, "n1", "swarm", "join-token", "-q", "manager").stdout.strip()
    prefix, digest, secret = token.rsplit("-", 2)

    def join(token: str, manager: str = f"{n1}:2377") -> subprocess.CompletedProcess[str]:
        return shoal(lab, WORKER, "swarm", "join", "--token", token, manager, check=False)

    def nothing_joined() -> None:
        assert not_in_swarm(lab, WORKER)
        assert sorted(rows_by_host(lab, "n1")) == MANAGERS

    # the right CA, a secret the cluster never issued
    refused(join(f"{prefix}-{digest}-{flip(secret)}"), WRONG_TOKEN)
    nothing_joined()

    # a token for another CA: the joining node stops at the TLS handshake
    refused(join(f"{prefix}-{flip(digest)}-{secret}"), CA_MISMATCH)
    nothing_joined()

    # ... so the secret never reaches a "manager" whose CA the token does not name
    foreign_digest, received = join_foreign_manager(lab, token, port=4377)
    assert f"sha256:{foreign_digest}" in refused(received.pop("join"), CA_MISMATCH)
    assert received["tokens"] == [], "the join token was sent to a manager of another CA"
    nothing_joined()

    # Rotated on the followers: the token each prints is the one now in force (a follower
    # forwards the rotation; it must not then print the old token from a lagging store).
    lead = leader(lab)
    previous = token
    for follower in (m for m in MANAGERS if m != lead):
        rotate = shoal(lab, follower, "swarm", "join-token", "--rotate", "-q", "worker")
        rotated = rotate.stdout.strip()
        assert rotated != previous and rotated.startswith(f"{prefix}-{digest}-")
        assert shoal(lab, lead, "swarm", "join-token", "-q", "worker").stdout.strip() == rotated
        previous = rotated
    assert shoal(lab, lead, "swarm", "join-token", "-q", "manager").stdout.strip() == manager_token
    refused(join(token), WRONG_TOKEN)
    nothing_joined()

    n3 = lab.out("ip", "n3")
    assert join(rotated, f"{n3}:2377").stdout == "This node joined a swarm as a worker.\n"
    wait_everywhere("n4 back as a worker", partial(as_set_up, lab))
    assert field(lab, "n1", WORKER, "ID") != old_id

    # --force removes a node that is still up; its certificate is refused from then on, so
    # its heartbeats do not bring it back. It can leave and join again.
    assert shoal(lab, "n1", "node", "rm", "--force", WORKER).stdout == "n4\n"
    wait_everywhere("n4 removed by force", lambda m: sorted(rows_by_host(lab, m)) == MANAGERS)
    stays_removed_for(lab, seconds=3 * 2.0)  # three heartbeat periods
    assert shoal(lab, WORKER, "swarm", "leave").stdout == "Node left the swarm.\n"
    assert join(rotated).stdout == "This node joined a swarm as a worker.\n"
    wait_everywhere("n4 back again", partial(as_set_up, lab))


def stays_removed_for(lab: LabCli, seconds: float) -> None:
    """An observation window, not a wait: n4 must not come back at any point within it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for m in MANAGERS:
            assert WORKER not in rows_by_host(lab, m), f"the removed n4 is back on {m}"
        time.sleep(0.5)


def flip(part: str) -> str:
    """`part` with its last character changed (still a well-formed token part)."""
    return part[:-1] + ("1" if part[-1] != "1" else "2")


def join_foreign_manager(lab: LabCli, token: str, port: int) -> tuple[str, dict[str, Any]]:
    """Run a NodeCA of another root CA on n1 at PORT+1, ask n4 to join it with `token`, and
    return that CA's digest with the join's outcome and the tokens the impostor received."""
    address = lab.out("ip", "n1")
    impostor = subprocess.Popen(
        [LAB, "exec", "n1", "--", sys.executable, str(FOREIGN_MANAGER), address, str(port)],
        env={**os.environ, "SHOAL_LAB_DIR": str(lab.state_dir)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert impostor.stdin is not None and impostor.stdout is not None
    joined = None
    try:
        ready = impostor.stdout.readline().split()  # "" if it failed to start
        if ready[:1] == ["ready"]:
            joined = shoal(
                lab, WORKER, "swarm", "join", "--token", token, f"{address}:{port}", check=False
            )
    finally:
        out, err = impostor.communicate(timeout=30)  # closes its stdin: it exits
    assert joined is not None and impostor.returncode == 0, f"the foreign manager failed: {err}"
    tokens = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("token ")]
    return ready[1], {"join": joined, "tokens": tokens}


# ---- managers: quorum and the last manager ----------------------------------------------


def test_managers_refuse_to_lose_quorum_or_the_last_manager(lab: LabCli) -> None:
    lead = leader(lab)
    stopped, other = [m for m in MANAGERS if m != lead]
    lab.run("kill", stopped)
    wait_everywhere(
        f"{stopped} Unreachable",
        lambda m: field(lab, m, stopped, "ManagerStatus") == "Unreachable",
        [lead, other],
    )
    refused(
        shoal(lab, other, "swarm", "leave", check=False),
        "You are attempting to leave the swarm on a node that is participating as a manager. "
        "Removing this node leaves 1 managers out of 3. Without a Raft quorum your swarm will "
        "be inaccessible.",
    )
    refused(
        shoal(lab, lead, "node", "demote", other, check=False),
        "can't remove member from the raft: this would result in a loss of quorum",
    )
    assert field(lab, lead, other, "ManagerStatus") == "Reachable"  # still a manager

    lab.run("start", stopped)
    wait_everywhere("the cluster whole again", partial(as_set_up, lab))
    refused(
        shoal(lab, lead, "node", "rm", "--force", other, check=False),
        f"node {field(lab, lead, other, 'ID')} is a cluster manager and is a member of the raft "
        "cluster. It must be demoted to worker before removal",
    )

    demoted = shoal(lab, lead, "node", "demote", stopped, other).stdout
    assert (
        demoted
        == f"Manager {stopped} demoted in the swarm.\nManager {other} demoted in the swarm.\n"
    )

    def one_manager(node: str) -> bool:
        rows = rows_by_host(lab, node)
        managers = {h: r["ManagerStatus"] for h, r in rows.items() if r["ManagerStatus"]}
        return managers == {lead: "Leader"} and all(r["Status"] == "Ready" for r in rows.values())

    took = wait_for(f"{lead} the only manager", partial(one_manager, lead))
    print(f"{stopped} and {other} demoted in {took:.1f}s")
    wait_everywhere("refusing the control API", partial(refuses_control_api, lab), [stopped, other])
    refused(
        shoal(lab, lead, "node", "demote", lead, check=False),
        "attempting to demote the last manager of the swarm",
    )
    refused(
        shoal(lab, lead, "swarm", "leave", check=False),
        "Removing the last manager erases all current state of the swarm. "
        "Use `--force` to ignore this message.",
    )
    assert one_manager(lead)
