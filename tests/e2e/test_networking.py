"""Overlay networking in the lab, as a user sees it: names, VIPs and the routing mesh.

A 3-node lab (n1 manager, n2 and n3 workers). An overlay network `front`, a service `web`
(3 replicas of web:1, one per node) on it, and a `tools` service on `front` pinned to n1:
from inside the tools container `wget http://web/` is answered by every replica across nodes
(through the VIP), `tasks.web` lists the 3 addresses; a service on another network neither
resolves nor reaches `web`; `-p 8080:80` answers on every node's address, including a node
without a replica, spread over the replicas; scaling and a killed replica show in DNS, the
VIP's backends and the mesh; removing everything leaves no shoal namespace, link, address or
rule on any node. A host-mode port answers only on the node that runs the task; containers
reach the outside (the lab's registry) through the node's gateway bridge.

Tests run in file order and share the services created by the first ones.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LabCli, shoal, three_node_lab, wait_for

pytestmark = pytest.mark.e2e

NODES = ["n1", "n2", "n3"]
MANAGER = "n1"
# links in a node's namespace that shoal made (`ip -o link`: "12: shoal_gwbridge: <...")
SHOAL_LINK = re.compile(r"^\d+: (shoal\S*?)[@:]", re.MULTILINE)


@pytest.fixture(scope="module")
def lab(lab_cli: LabCli) -> Iterator[LabCli]:
    with three_node_lab(lab_cli):
        yield lab_cli


@pytest.fixture(scope="module")
def registry(lab: LabCli) -> str:
    return lab.out("registry")


def ps(lab: LabCli, service: str) -> list[dict[str, Any]]:
    done = shoal(lab, MANAGER, "service", "ps", "--no-trunc", "--format", "json", service)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def running(lab: LabCli, service: str) -> list[dict[str, Any]]:
    return [
        r
        for r in ps(lab, service)
        if r["DesiredState"] == "Running" and str(r["CurrentState"]).startswith("Running")
    ]


def containers_on(lab: LabCli, node: str, service: str) -> list[str]:
    """The ids of the running containers of `service` on `node`."""
    label = f"label=com.docker.swarm.service.name={service}"
    return lab.on(node, "docker", "ps", "-q", "--filter", label, check=False).stdout.split()


def container_on(lab: LabCli, node: str, service: str) -> str:
    """One running container of `service` on `node` ("" if none)."""
    return next(iter(containers_on(lab, node, service)), "")


def in_container(lab: LabCli, node: str, container: str, *cmd: str) -> str:
    done = lab.on(node, "docker", "exec", container, *cmd, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def fetch(lab: LabCli, node: str, container: str, url: str) -> str:
    """The body of `url` fetched inside the container ("" on failure); busybox's `wget -T`
    crashes in Debian's static build, so `timeout` bounds it."""
    return in_container(lab, node, container, "timeout", "5", "wget", "-q", "-O", "-", url)


def lookup(lab: LabCli, node: str, container: str, name: str) -> list[str]:
    """The IPv4 addresses `nslookup name` prints inside the container (after the server's)."""
    out = in_container(lab, node, container, "nslookup", name)
    addrs = re.findall(r"Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)", out)
    return sorted(a for a in addrs if a != "127.0.0.11")


def web_replies(lab: LabCli, node: str, container: str, url: str, count: int) -> Counter[str]:
    """`count` fetches of `url`; the replies ("web v1 <hostname>") counted by hostname."""
    replies: Counter[str] = Counter()
    for _ in range(count):
        body = fetch(lab, node, container, url)
        if body.startswith("web "):
            replies[body.split()[-1]] += 1
    return replies


def node_addrs(lab: LabCli) -> dict[str, str]:
    return {n: lab.out("ip", n) for n in NODES}


def mesh_replies(lab: LabCli, from_node: str, addr: str, count: int) -> Counter[str]:
    """Fetches of http://addr:8080/ from a node's own namespace (busybox wget there)."""
    replies: Counter[str] = Counter()
    for _ in range(count):
        done = lab.on(
            from_node,
            "timeout",
            "5",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            f"http://{addr}:8080/",
            check=False,
        )
        if done.returncode == 0 and done.stdout.startswith("web "):
            replies[done.stdout.split()[-1]] += 1
    return replies


def hostnames(lab: LabCli, service: str) -> set[str]:
    """The hostnames of the service's running containers, read from their engines."""
    return {
        in_container(lab, node, cid, "hostname")
        for node in NODES
        for cid in containers_on(lab, node, service)
    }


# ---- the scenario ---------------------------------------------------------------------------


def test_services_reach_each_other_by_name_across_nodes(lab: LabCli, registry: str) -> None:
    shoal(lab, MANAGER, "network", "create", "-d", "overlay", "front")
    shoal(lab, MANAGER, "network", "create", "-d", "overlay", "back")
    shoal(
        lab, MANAGER, "service", "create", "--detach", "--name", "web", "--replicas", "3",
        "--network", "front",
        "-p", "8080:80", f"{registry}/web:1",
    )  # fmt: skip
    shoal(
        lab, MANAGER, "service", "create", "--detach", "--name", "tools", "--network", "front",
        "--constraint", "node.hostname==n1", f"{registry}/tools",
    )  # fmt: skip
    shoal(
        lab, MANAGER, "service", "create", "--detach", "--name", "other", "--network", "back",
        "--constraint", "node.hostname==n1", f"{registry}/tools",
    )  # fmt: skip
    wait_for("3 web replicas running", lambda: len(running(lab, "web")) == 3, within=90)
    wait_for("tools running", lambda: bool(container_on(lab, "n1", "tools")), within=60)
    wait_for("other running", lambda: bool(container_on(lab, "n1", "other")), within=60)
    assert sorted(r["Node"] for r in running(lab, "web")) == NODES
    tools = container_on(lab, "n1", "tools")

    replicas = hostnames(lab, "web")
    assert len(replicas) == 3
    wait_for("web resolvable", lambda: bool(lookup(lab, "n1", tools, "web")), within=10)
    replies = web_replies(lab, "n1", tools, "http://web/", 30)
    assert set(replies) == replicas, replies  # each replica answered through the VIP

    inspect = json.loads(shoal(lab, MANAGER, "service", "inspect", "web").stdout)[0]
    vips = {v["Addr"].split("/")[0] for v in inspect["Endpoint"]["VirtualIPs"]}
    assert lookup(lab, "n1", tools, "web")[0] in vips
    assert len(lookup(lab, "n1", tools, "tasks.web")) == 3


def test_a_service_on_another_network_cannot_resolve_or_reach(lab: LabCli) -> None:
    other = container_on(lab, "n1", "other")
    tools = container_on(lab, "n1", "tools")
    assert lookup(lab, "n1", other, "web") == []
    vip = lookup(lab, "n1", tools, "web")[0]
    assert fetch(lab, "n1", other, f"http://{vip}/") == ""


def test_a_container_reaches_outside_the_cluster_through_the_gateway(
    lab: LabCli, registry: str
) -> None:
    # the lab's registry lives on the switch, outside every node: reached from the tools
    # container through shoal_gwbridge and the node's masquerade
    tools = container_on(lab, "n1", "tools")
    assert fetch(lab, "n1", tools, f"http://{registry}/v2/") == "{}"


def test_published_port_answers_on_every_node(lab: LabCli) -> None:
    replicas = hostnames(lab, "web")
    addrs = node_addrs(lab)
    for node, addr in addrs.items():
        replies = mesh_replies(lab, node, addr, 15)
        assert set(replies) == replicas, (node, replies)
    # and from another node: the mesh answers on an address that is not the client's own
    assert set(mesh_replies(lab, "n1", addrs["n3"], 15)) == replicas
    ls = shoal(lab, MANAGER, "service", "ls").stdout
    assert "*:8080->80/tcp" in ls


def test_scaling_and_failures_update_dns_vip_and_mesh(lab: LabCli) -> None:
    tools = container_on(lab, "n1", "tools")
    shoal(lab, MANAGER, "service", "scale", "--detach", "web=2")
    wait_for("2 web replicas", lambda: len(running(lab, "web")) == 2, within=60)
    took = wait_for(
        "tasks.web lists 2", lambda: len(lookup(lab, "n1", tools, "tasks.web")) == 2, within=10
    )
    print(f"\nscale 3->2 visible in DNS {took:.1f}s after the tasks stopped")
    replicas = hostnames(lab, "web")
    assert set(web_replies(lab, "n1", tools, "http://web/", 20)) == replicas
    addr = node_addrs(lab)["n2"]
    assert set(mesh_replies(lab, "n2", addr, 15)) == replicas

    # a replica's container killed: a new task replaces it; DNS, the VIP and the mesh follow
    before = {r["ID"] for r in running(lab, "web")}
    node = next(n for n in NODES if container_on(lab, n, "web"))
    lab.on(node, "docker", "kill", container_on(lab, node, "web"))

    def replaced() -> bool:
        now = {r["ID"] for r in running(lab, "web")}
        return len(now) == 2 and now != before

    wait_for("a new task running in place of the killed one", replaced, within=60)
    replicas = hostnames(lab, "web")
    assert len(replicas) == 2
    seen: list[object] = []

    def current() -> bool:
        seen[:] = [
            lookup(lab, "n1", tools, "tasks.web"),
            web_replies(lab, "n1", tools, "http://web/", 6),
            mesh_replies(lab, "n3", addr, 6),
        ]
        dns, vip, mesh = seen
        return len(dns) == 2 and set(vip) == replicas and set(mesh) == replicas  # type: ignore[arg-type,call-overload]

    try:
        took = wait_for("DNS, the VIP and the mesh on n2 spreading over them", current, 10)
    except AssertionError as e:
        raise AssertionError(f"{e}: replicas {replicas}, DNS, VIP, mesh: {seen}") from None
    print(f"DNS, VIP and mesh current {took:.1f}s after the new task ran")


def test_host_mode_publishes_only_where_a_task_runs(lab: LabCli, registry: str) -> None:
    shoal(
        lab, MANAGER, "service", "create", "--detach", "--name", "hostweb",
        "--publish", "published=8081,target=80,mode=host",
        "--constraint", "node.hostname==n2", f"{registry}/web:1",
    )  # fmt: skip
    wait_for("hostweb running", lambda: bool(container_on(lab, "n2", "hostweb")), within=60)
    addrs = node_addrs(lab)

    def answers(from_node: str, node: str) -> bool:
        done = lab.on(
            from_node, "timeout", "5", "busybox", "wget", "-q", "-O", "-",
            f"http://{addrs[node]}:8081/", check=False,
        )  # fmt: skip
        return done.returncode == 0 and done.stdout.startswith("web ")

    wait_for("n2:8081 answering", lambda: answers("n2", "n2"), within=10)
    assert answers("n1", "n2")  # from another node too
    assert not answers("n1", "n1")
    assert not answers("n3", "n3")
    shoal(lab, MANAGER, "service", "rm", "hostweb")


def test_removing_everything_leaves_no_trace(lab: LabCli) -> None:
    services = ("web", "tools", "other", "hostweb")
    for service in services[:3]:
        shoal(lab, MANAGER, "service", "rm", service)
    wait_for(
        "no containers", lambda: not any(container_on(lab, n, s) for n in NODES for s in services)
    )
    shoal(lab, MANAGER, "network", "rm", "front", "back")

    def clean(node: str) -> bool:
        links = SHOAL_LINK.findall(lab.on(node, "ip", "-o", "link").stdout)
        tables = lab.on(node, "nft", "list", "tables").stdout
        return not links and "shoal" not in tables

    # nothing is needed any more: no gateway bridge, no sandbox, no rule on any node
    wait_for("no overlay links or rules left", lambda: all(clean(n) for n in NODES), within=15)
    shoal(lab, "n3", "swarm", "leave")

    def left_clean() -> bool:
        links = SHOAL_LINK.findall(lab.on("n3", "ip", "-o", "link").stdout)
        tables = lab.on("n3", "nft", "list", "tables").stdout
        run_dir = str(lab.state_dir / "n3" / "shoald" / "run")
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if run_dir in line]
        return not links and "shoal" not in tables and not mounts

    wait_for("n3 clean after leave", left_clean, within=15)
