"""shoal-lab end to end: nodes, engines, registry, partitions, and nothing left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import LabCli

pytestmark = pytest.mark.e2e

NODES = ["n1", "n2", "n3"]


def leftovers(state_dir: Path) -> list[str]:
    """Anything of a lab still on the host: namespaces, links, processes, mounts, cgroups."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {line.split()[0]}" for line in netns.splitlines() if "shoal" in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [
        f"link {line.split(':')[1].strip()}" for line in links.splitlines() if "shoal" in line
    ]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(state_dir).encode() in (proc / "cmdline").read_bytes():
                    found.append(f"process {proc.name}")
            except OSError:
                pass
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(state_dir) in line]
    found += [f"cgroup {d}" for d in Path("/sys/fs/cgroup").glob("*/shoal-lab-*")]
    if state_dir.exists():
        found.append(f"dir {state_dir}")
    return found


def reaches(lab: LabCli, node: str, address: str) -> bool:
    return (
        lab.on(node, "busybox", "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0
    )


def test_lab_up_partition_heal_down(lab_cli: LabCli) -> None:
    lab = lab_cli
    up = lab.run("up", "--nodes", "3")
    assert "3 nodes" in up.stdout
    addresses = {n: lab.out("ip", n) for n in NODES}
    assert len(set(addresses.values())) == 3
    registry = lab.out("registry")

    # Distinct hostnames, each node's engine answers, pulls web:1 from the lab registry, runs it.
    for node in NODES:
        assert lab.on(node, "hostname").stdout.strip() == node
        assert lab.on(node, "docker", "info", "--format", "{{.Name}}").stdout.strip() == node
        lab.on(node, "docker", "pull", "-q", f"{registry}/web:1")
        lab.on(
            node, "docker", "run", "-d", "--name", "web", "--network", "host", f"{registry}/web:1"
        )
    for node in NODES:
        peer = NODES[(NODES.index(node) + 1) % 3]
        page = lab.on(node, "busybox", "wget", "-q", "-O", "-", f"http://{addresses[peer]}/")
        assert page.stdout.strip() == f"web v1 {peer}"

    # The web image stops promptly on SIGTERM (docker stop would wait 10 s, then kill).
    stop = lab.on("n3", "docker", "stop", "web")
    assert stop.returncode == 0
    state = lab.on("n3", "docker", "inspect", "-f", "{{.State.ExitCode}}", "web").stdout.strip()
    assert state == "0"

    for a in NODES:
        for b in NODES:
            if a != b:
                assert reaches(lab, a, addresses[b]), f"{a} cannot reach {b}"

    lab.run("partition", "n1")
    assert not reaches(lab, "n1", addresses["n2"])
    assert not reaches(lab, "n3", addresses["n1"])
    assert reaches(lab, "n2", addresses["n3"])
    assert "partition 1" in lab.out("status").splitlines()[2]

    lab.run("heal")
    assert reaches(lab, "n1", addresses["n2"])
    assert reaches(lab, "n3", addresses["n1"])

    lab.run("down")
    assert leftovers(lab.state_dir) == []


def test_bad_input_gets_one_line_errors(lab_cli: LabCli) -> None:
    lab = lab_cli
    lab.run("up", "--nodes", "2")
    again = lab.run("up", "--nodes", "2", check=False)
    assert again.returncode == 1
    assert again.stderr.startswith("Error: a lab of 2 nodes is already up")
    unknown = lab.run("ip", "n7", check=False)
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "Error: no node 'n7' in this lab; its nodes are n1, n2\n",
    )
    lab.run("down")
    assert leftovers(lab.state_dir) == []
    gone = lab.run("status", check=False)
    assert gone.returncode == 1 and "no lab is up" in gone.stderr


def test_up_after_a_crashed_lab_clears_leftovers(lab_cli: LabCli) -> None:
    lab = lab_cli
    lab.run("up", "--nodes", "2")
    lab.on("n2", "docker", "run", "-d", f"{lab.out('registry')}/tools")
    # A crash: every engine and the registry SIGKILLed, containers orphaned, lab.json left.
    pids = [
        p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _names(p, lab.state_dir)
    ]
    subprocess.run(["kill", "-9", *pids], check=True)
    lab.run("up", "--nodes", "3")
    assert lab.on("n3", "docker", "info", "--format", "{{.Name}}").stdout.strip() == "n3"
    lab.run("down")
    assert leftovers(lab.state_dir) == []


def _names(proc: Path, state_dir: Path) -> bool:
    try:
        return str(state_dir).encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False
