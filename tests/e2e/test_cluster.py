"""The control plane in the lab: `shoal-lab up --nodes 5 --managers 3` forms a cluster; the
leader's shoald is SIGKILLed and restarted, then every manager at once, while a service runs on
the workers and must stay at its desired state throughout (the new leader's orchestrators take
over: a container killed after the failover is replaced). Driven with the `shoal` CLI inside
the nodes, as a user would."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.e2e.conftest import SHOAL, LabCli, node_ls, shoal, wait_for

pytestmark = pytest.mark.e2e

MANAGERS = ["n1", "n2", "n3"]
NODES = [*MANAGERS, "n4", "n5"]


def leader(lab: LabCli, node: str) -> str:
    rows = node_ls(lab, node) or []
    leaders = [r["Hostname"] for r in rows if r["ManagerStatus"] == "Leader"]
    return leaders[0] if len(leaders) == 1 else ""


def healthy(lab: LabCli, node: str) -> bool:
    rows = node_ls(lab, node)
    return (
        rows is not None
        and sorted(r["Hostname"] for r in rows) == NODES
        and all(r["Status"] == "Ready" for r in rows)
        and sum(r["ManagerStatus"] == "Leader" for r in rows) == 1
        and sum(r["ManagerStatus"] in ("Leader", "Reachable") for r in rows) == 3
    )


def secrets(lab: LabCli, node: str) -> set[str]:
    done = shoal(lab, node, "secret", "ls", "--format", "json", check=False)
    return {r["Name"] for r in json.loads(done.stdout)} if done.returncode == 0 else set()


def has_secrets(lab: LabCli, node: str, names: set[str]) -> bool:
    return names <= secrets(lab, node)


def web_running(lab: LabCli, manager: str) -> list[str]:
    """IDs of the `web` service's tasks desired and observed Running, as `service ps` says."""
    done = shoal(lab, manager, "service", "ps", "--no-trunc", "--format", "json", "web",
                 check=False)  # fmt: skip
    if done.returncode != 0:
        return []
    return [
        r["ID"]
        for r in json.loads(done.stdout)
        if r["DesiredState"] == "Running" and str(r["CurrentState"]).startswith("Running")
    ]


def web_containers(lab: LabCli, node: str) -> list[str]:
    label = "label=com.docker.swarm.service.name=web"
    return lab.on(node, "docker", "ps", "-q", "--filter", label).stdout.split()


def test_cluster_forms_survives_leader_loss_and_a_full_restart(lab_cli: LabCli) -> None:
    lab = lab_cli
    lab.run("up", "--nodes", "5", "--managers", "3")
    try:
        for m in MANAGERS:
            wait_for(f"5 ready nodes, 3 managers, one leader on {m}", partial(healthy, lab, m))
        assert (
            "This node is not a swarm manager" in shoal(lab, "n4", "node", "ls", check=False).stderr
        )

        lab.run("exec", "n2", "--", "sh", "-c", f"echo s3cr3t | {SHOAL} secret create before -")
        shoal(lab, "n2", "service", "create", "-d", "--name", "web", "--replicas", "4",
              "--constraint", "node.role==worker", f"{lab.out('registry')}/web:1")  # fmt: skip
        wait_for("4 web tasks running on the workers", lambda: len(web_running(lab, "n2")) == 4)
        old = leader(lab, "n2")
        assert old in MANAGERS
        survivors = [m for m in MANAGERS if m != old]

        lab.run("kill", old)
        took = wait_for(
            "a new leader", lambda: leader(lab, survivors[0]) not in ("", old), within=15
        )
        print(f"new leader {leader(lab, survivors[0])} {took:.1f}s after killing {old}")
        assert "before" in secrets(lab, survivors[1])
        lab.run("exec", survivors[1], "--", "sh", "-c", f"echo x | {SHOAL} secret create after -")
        assert len(web_running(lab, survivors[0])) == 4
        victim = web_containers(lab, "n4")[0]
        lab.on("n4", "docker", "kill", victim)
        wait_for(
            "the new leader to replace the killed container",
            lambda: (
                victim not in web_containers(lab, "n4") and len(web_running(lab, survivors[0])) == 4
            ),
        )

        lab.run("start", old)
        wait_for(f"{old} back with the newer secret", lambda: "after" in secrets(lab, old))
        for m in MANAGERS:
            wait_for(f"a healthy cluster on {m}", partial(healthy, lab, m))

        for m in MANAGERS:
            lab.run("kill", m)
        for m in MANAGERS:
            lab.run("start", m)
        for m in MANAGERS:
            wait_for(
                f"{m} back with every secret",
                partial(has_secrets, lab, m, {"before", "after"}),
            )
            wait_for(f"a healthy cluster on {m} after the full restart", partial(healthy, lab, m))
        wait_for("web still at 4 running after the full restart",
                 lambda: len(web_running(lab, "n1")) == 4)  # fmt: skip
        assert sum(len(web_containers(lab, w)) for w in ("n4", "n5")) == 4
    finally:
        lab.run("down", check=False)
