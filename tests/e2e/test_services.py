"""Services in the lab, driven as a user would with the `shoal` CLI inside the nodes and
`docker` against the nodes' engines: replicas spread evenly and scale; the pages the web
containers serve; a killed container replaced after the restart delay; a worker's daemon
killed (its tasks rescheduled) and started again (its stale tasks shut down); a global service
following drains and a node leaving and joining again; a job run to completion; a failing
image's exit code in `service ps`; `service logs` gathering every replica's output;
`service rm` leaving nothing behind.

One lab for the module: n1 a manager, n2 and n3 workers, default settings (heartbeat period
5 s, restart delay 5 s). Tests run in file order and each removes its services.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from tests.e2e.conftest import LabCli, node_ls, shoal, three_node_lab, wait_for

pytestmark = pytest.mark.e2e

NODES = ["n1", "n2", "n3"]
MANAGER = "n1"
# what `service ps` shows for a task whose container exited with 1 (swarmkit's wording)
BAD_EXIT = "task: non-zero exit (1)"


@pytest.fixture(scope="module")
def lab(lab_cli: LabCli) -> Iterator[LabCli]:
    with three_node_lab(lab_cli):
        yield lab_cli


@pytest.fixture(scope="module")
def registry(lab: LabCli) -> str:
    return lab.out("registry")


# ---- reading the cluster and the engines --------------------------------------------------


def nodes_by_host(lab: LabCli) -> dict[str, dict[str, Any]]:
    return {r["Hostname"]: r for r in node_ls(lab, MANAGER) or []}


def all_ready(lab: LabCli) -> bool:
    rows = nodes_by_host(lab)
    return sorted(rows) == NODES and all(
        r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows.values()
    )


def ps(lab: LabCli, service: str) -> list[dict[str, Any]]:
    """`service ps --format json SERVICE` on the manager: every task, history included."""
    done = shoal(lab, MANAGER, "service", "ps", "--no-trunc", "--format", "json", service)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def state(row: dict[str, Any]) -> str:
    """ "Running 5 seconds ago" -> "Running"."""
    return str(row["CurrentState"]).split(" ", 1)[0]


def running_per_node(lab: LabCli, service: str) -> Counter[str]:
    """Tasks observed and desired Running, by node hostname, as `service ps` shows them."""
    return Counter(
        r["Node"]
        for r in ps(lab, service)
        if r["DesiredState"] == "Running" and state(r) == "Running"
    )


def replicas(lab: LabCli, service: str) -> str:
    """REPLICAS of `service ls` for SERVICE."""
    rows = json.loads(shoal(lab, MANAGER, "service", "ls", "--format", "json").stdout)
    [row] = [r for r in rows if r["Name"] == service]
    return str(row["Replicas"])


def docker(lab: LabCli, node: str, *args: str) -> str:
    """`docker ARGS...` against NODE's engine."""
    return lab.on(node, "docker", *args).stdout.strip()


def containers(lab: LabCli, node: str, service: str, *, all_states: bool = False) -> list[str]:
    """IDs of SERVICE's containers on NODE's engine (running ones unless `all_states`)."""
    label = f"label=com.docker.swarm.service.name={service}"
    flags = ["-a"] if all_states else []
    return docker(lab, node, "ps", "-q", *flags, "--filter", label).split()


def containers_per_node(lab: LabCli, service: str) -> dict[str, int]:
    return {n: len(containers(lab, n, service)) for n in NODES}


def rm_service(lab: LabCli, *services: str) -> None:
    """`service rm`, then wait until no engine holds a container of those services."""
    shoal(lab, MANAGER, "service", "rm", *services)

    def gone() -> bool:
        return not any(containers(lab, n, s, all_states=True) for n in NODES for s in services)

    wait_for(f"{', '.join(services)}'s containers gone", gone)


def converged(lab: LabCli, service: str, expected: dict[str, int]) -> bool:
    """`service ps` shows exactly `expected` running tasks per node, and the engines run
    exactly those containers."""
    per_node = {n: c for n, c in running_per_node(lab, service).items() if c}
    want = {n: c for n, c in expected.items() if c}
    return per_node == want and containers_per_node(lab, service) == {
        n: expected.get(n, 0) for n in NODES
    }


# ---- replicated services ----------------------------------------------------------------


def test_replicas_spread_evenly_serve_pages_and_scale(lab: LabCli, registry: str) -> None:
    create = shoal(
        lab, MANAGER, "service", "create", "-d", "--name", "web", "--replicas", "6",
        f"{registry}/web:1",
    )  # fmt: skip
    assert len(create.stdout.strip()) == 25, create.stdout  # the new service's id
    took = wait_for("web at 2/2/2", partial(converged, lab, "web", dict.fromkeys(NODES, 2)))
    print(f"6 replicas running 2/2/2 {took:.1f}s after create")
    assert replicas(lab, "web") == "6/6"

    # every container answers with its own hostname (network mode none: from inside it)
    for node in NODES:
        for ctr in containers(lab, node, "web"):
            hostname = docker(lab, node, "inspect", "-f", "{{.Config.Hostname}}", ctr)
            page = docker(lab, node, "exec", ctr, "wget", "-q", "-O", "-", "http://127.0.0.1/")
            assert page == f"web v1 {hostname}", (node, ctr, page)

    shoal(lab, MANAGER, "service", "scale", "-d", "web=9")
    took = wait_for("web at 3/3/3", partial(converged, lab, "web", dict.fromkeys(NODES, 3)))
    print(f"scaled to 9 (3/3/3) in {took:.1f}s")
    assert replicas(lab, "web") == "9/9"

    shoal(lab, MANAGER, "service", "scale", "-d", "web=2")

    def two_left() -> bool:
        per_node = running_per_node(lab, "web")
        engines = containers_per_node(lab, "web")
        return sum(per_node.values()) == 2 and sum(engines.values()) == 2

    took = wait_for("web down to 2", two_left)
    print(f"scaled to 2 in {took:.1f}s: {dict(running_per_node(lab, 'web'))}")
    assert max(running_per_node(lab, "web").values()) == 1  # still spread
    assert replicas(lab, "web") == "2/2"


def test_a_killed_container_is_replaced_after_the_restart_delay(lab: LabCli) -> None:
    node = next(n for n in NODES if containers(lab, n, "web"))
    [victim, *_] = containers(lab, node, "web")
    [name] = docker(
        lab, node, "inspect", "-f", '{{index .Config.Labels "com.docker.swarm.task.name"}}', victim
    ).split()
    slot = name.rsplit(".", 1)[0]  # web.N.<task id> -> web.N
    docker(lab, node, "kill", victim)
    killed = time.monotonic()

    def replaced() -> bool:
        rows = ps(lab, "web")
        live = [r for r in rows if r["Name"] == slot and state(r) == "Running"]
        return len(live) == 1 and sum(len(containers(lab, n, "web")) for n in NODES) == 2

    wait_for(f"{slot} replaced", replaced)
    took = time.monotonic() - killed
    print(f"killed container replaced after {took:.1f}s (restart delay 5s)")
    assert took >= 4.5, "replaced before the restart delay (5 s) had passed"

    rows = [r for r in ps(lab, "web") if r["Name"] in (slot, f" \\_ {slot}")]
    assert [(r["DesiredState"], state(r)) for r in rows] == [
        ("Running", "Running"),
        ("Shutdown", "Failed"),
    ], rows
    assert rows[1]["Error"] == '"task: non-zero exit (137)"', rows[1]
    assert victim not in containers(lab, node, "web")


def test_a_lost_worker_has_its_tasks_rescheduled_and_stale_ones_shut_down_on_return(
    lab: LabCli,
) -> None:
    shoal(lab, MANAGER, "service", "scale", "-d", "web=6")
    wait_for("web at 2/2/2", partial(converged, lab, "web", dict.fromkeys(NODES, 2)))
    stale = containers(lab, "n3", "web")

    lab.run("kill", "n3")
    killed = time.monotonic()
    wait_for("n3 Down", lambda: nodes_by_host(lab)["n3"]["Status"] == "Down", within=60)
    down = time.monotonic() - killed
    took = wait_for(
        "web's 6 tasks on n1 and n2",
        lambda: running_per_node(lab, "web") == Counter({"n1": 3, "n2": 3}),
        within=60 - down,
    )
    print(
        f"n3 Down after {down:.1f}s, its tasks running elsewhere {down + took:.1f}s after the kill"
    )
    # the engine outlived the daemon: its containers still run, unknown to the cluster
    assert sorted(containers(lab, "n3", "web")) == sorted(stale)

    lab.run("start", "n3")
    took = wait_for("n3 Ready", lambda: nodes_by_host(lab)["n3"]["Status"] == "Ready")
    took += wait_for("n3's stale tasks shut down", lambda: not containers(lab, "n3", "web"))
    print(f"n3 back, its stale containers stopped {took:.1f}s after start")
    assert converged(lab, "web", {"n1": 3, "n2": 3})  # nothing moves back on its own
    rm_service(lab, "web")


# ---- global services --------------------------------------------------------------------


def test_a_global_service_follows_drains_and_a_node_joining(lab: LabCli, registry: str) -> None:
    shoal(lab, MANAGER, "service", "create", "-d", "--name", "agent", "--mode", "global",
          f"{registry}/tools")  # fmt: skip
    everywhere = dict.fromkeys(NODES, 1)
    took = wait_for("agent on every node", partial(converged, lab, "agent", everywhere))
    print(f"global service on 3 nodes in {took:.1f}s")
    assert replicas(lab, "agent") == "3/3"

    shoal(lab, MANAGER, "node", "update", "--availability", "drain", "n2")
    took = wait_for("agent off n2", partial(converged, lab, "agent", {"n1": 1, "n3": 1}))
    print(f"drained n2 emptied in {took:.1f}s")
    assert replicas(lab, "agent") == "2/2"
    shoal(lab, MANAGER, "node", "update", "--availability", "active", "n2")
    took = wait_for("agent back on n2", partial(converged, lab, "agent", everywhere))
    print(f"n2 active again, its task back in {took:.1f}s")

    # n3 leaves: removed by force (no waiting for Down), leaves, joins again as a new node
    old_id = nodes_by_host(lab)["n3"]["ID"]
    assert shoal(lab, MANAGER, "node", "rm", "--force", "n3").stdout == "n3\n"
    took = wait_for("agent off the removed n3", lambda: running_per_node(lab, "agent") == Counter(
        {"n1": 1, "n2": 1}))  # fmt: skip
    print(f"removed n3's task gone from service ps in {took:.1f}s")
    assert shoal(lab, "n3", "swarm", "leave").stdout == "Node left the swarm.\n"
    wait_for("n3's container gone after leaving", lambda: not containers(lab, "n3", "agent"))
    token = shoal(lab, MANAGER, "swarm", "join-token", "-q", "worker").stdout.strip()
    joined = shoal(lab, "n3", "swarm", "join", "--token", token, f"{lab.out('ip', MANAGER)}:2377")
    assert joined.stdout == "This node joined a swarm as a worker.\n"
    took = wait_for("agent on the rejoined n3", partial(converged, lab, "agent", everywhere))
    print(f"n3 rejoined, its task running in {took:.1f}s")
    assert nodes_by_host(lab)["n3"]["ID"] != old_id
    assert all_ready(lab)
    rm_service(lab, "agent")


# ---- jobs and failures ------------------------------------------------------------------


def test_a_replicated_job_runs_to_completion_and_is_never_restarted(
    lab: LabCli, registry: str
) -> None:
    shoal(lab, MANAGER, "service", "create", "-d", "--name", "job", "--mode", "replicated-job",
          "--replicas", "3", f"{registry}/tools", "sh", "-c", "sleep 1")  # fmt: skip

    def complete() -> bool:
        rows = ps(lab, "job")
        return len(rows) == 3 and all(state(r) == "Complete" for r in rows)

    took = wait_for("3 tasks Complete", complete)
    print(f"job of 3 complete in {took:.1f}s")
    # an observation window, not a wait: nothing runs again
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        rows = ps(lab, "job")
        assert [(r["Name"], r["DesiredState"], state(r)) for r in rows] == [
            (f"job.{i}", "Complete", "Complete") for i in (1, 2, 3)
        ], rows
        time.sleep(1)
    assert replicas(lab, "job") == "0/3 (3/3 completed)"
    assert not any(containers(lab, n, "job") for n in NODES)  # none running
    rm_service(lab, "job")


def test_a_failing_image_shows_its_exit_code_and_is_not_restarted(
    lab: LabCli, registry: str
) -> None:
    shoal(lab, MANAGER, "service", "create", "-d", "--name", "bad", "--restart-condition",
          "none", f"{registry}/web:bad")  # fmt: skip

    def failed() -> bool:
        return [state(r) for r in ps(lab, "bad")] == ["Failed"]

    took = wait_for("bad's task Failed", failed)
    print(f"web:bad failed after {took:.1f}s")
    deadline = time.monotonic() + 7  # longer than the restart delay: no new task
    while time.monotonic() < deadline:
        [row] = ps(lab, "bad")
        assert (row["Name"], row["DesiredState"], state(row)) == ("bad.1", "Shutdown", "Failed")
        assert row["Error"] == f'"{BAD_EXIT}"', row
        time.sleep(1)
    table = shoal(lab, MANAGER, "service", "ps", "bad").stdout
    assert f'"{BAD_EXIT}"' in table, table
    assert replicas(lab, "bad") == "0/1"
    rm_service(lab, "bad")


def test_service_logs_shows_every_replicas_output(lab: LabCli, registry: str) -> None:
    shoal(lab, MANAGER, "service", "create", "-d", "--name", "talk", "--replicas", "3",
          f"{registry}/tools", "sh", "-c",
          'echo "hello from $(hostname)"; echo "oops from $(hostname)" >&2; sleep 600',
          )  # fmt: skip
    wait_for("3 talkers running", lambda: sum(running_per_node(lab, "talk").values()) == 3)
    containers_by_task = {r["ID"]: r for r in ps(lab, "talk")}
    hostnames = {
        docker(lab, n, "inspect", "-f", "{{.Config.Hostname}}", c)
        for n in NODES
        for c in containers(lab, n, "talk")
    }
    assert len(hostnames) == 3

    def every_line() -> bool:
        # asked on the manager; the lines come from all three nodes' engines
        done = shoal(lab, MANAGER, "service", "logs", "--no-trunc", "talk", check=False)
        out = done.stdout + done.stderr
        return all(f"hello from {h}" in out and f"oops from {h}" in out for h in hostnames)

    took = wait_for("every replica's stdout and stderr in service logs", every_line)
    print(f"service logs had every replica's output after {took:.1f}s")
    out = shoal(lab, MANAGER, "service", "logs", "--no-trunc", "talk").stdout
    for line in out.splitlines():
        context, _, text = line.partition("|")
        name, _, node = context.strip().partition("@")
        assert name.rsplit(".", 1)[1] in containers_by_task, line  # talk.<slot>.<task id>
        assert node in NODES, line
        assert text.strip().startswith("hello from "), line
    rm_service(lab, "talk")


def test_service_rm_leaves_no_container_on_any_node(lab: LabCli, registry: str) -> None:
    for name, mode in (("gone", "replicated"), ("gone-global", "global")):
        shoal(lab, MANAGER, "service", "create", "-d", "--name", name, "--mode", mode,
              f"{registry}/web:1")  # fmt: skip
    wait_for("both services running", lambda: (
        sum(running_per_node(lab, "gone").values()) == 1
        and sum(running_per_node(lab, "gone-global").values()) == 3
    ))  # fmt: skip
    shoal(lab, MANAGER, "service", "rm", "gone", "gone-global")

    def no_containers() -> bool:
        return all(not docker(lab, n, "ps", "-aq") for n in NODES)

    took = wait_for("no containers on any node", no_containers)
    print(f"service rm: every container gone in {took:.1f}s")
    assert shoal(lab, MANAGER, "service", "ls", "-q").stdout == ""
