"""Removing what a lab created, including what a crashed lab left behind.

Ownership is decided by place, never by guessing: processes whose command line names the lab's
state dir (engines, their containerd and shims, the registry), processes in the lab engines'
cgroups (`shoal-lab-nK`, containers), mounts under the state dir, and the namespaces named
`shoal-switch` and `shoal-nK`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from cluster_examples.lab.network import delete_netns, lab_netns
from cluster_examples.lab.sh import run

CGROUP_ROOT = Path("/sys/fs/cgroup")


def lab_processes(state_dir: Path) -> list[int]:
    """Pids of processes started for the lab at `state_dir`, or inside its containers."""
    marker = str(state_dir).encode()
    pids = set()
    mine = _ancestors()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in mine:
            continue
        try:
            if marker in (proc / "cmdline").read_bytes():
                pids.add(int(proc.name))
        except OSError:
            continue
    pids.update(cgroup_processes())
    return sorted(pids)


def _ancestors() -> set[int]:
    """This process and its parents: they may name the state dir too, and are not the lab's."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def lab_cgroups() -> list[Path]:
    """The cgroup directories of lab containers, deepest first."""
    found = [
        d
        for controller in CGROUP_ROOT.iterdir()
        if controller.is_dir()
        for top in controller.glob("shoal-lab-n*")
        for d in [*top.rglob("*"), top]
        if d.is_dir()
    ]
    return sorted(found, key=lambda d: len(d.parts), reverse=True)


def cgroup_processes() -> set[int]:
    pids: set[int] = set()
    for d in lab_cgroups():
        try:
            pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def kill_all(pids: list[int], grace: float) -> None:
    """SIGTERM every pid, then SIGKILL whatever is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def lab_mounts(state_dir: Path) -> list[str]:
    """Mount points at or under the state dir, deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(state_dir) or point.startswith(f"{state_dir}/"):
            points.append(point)
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def remove_everything(state_dir: Path) -> list[str]:
    """Tear down the lab at `state_dir`, whatever state it is in; say what was removed."""
    removed = []
    pids = lab_processes(state_dir)
    if pids:
        kill_all(pids, grace=10.0)
        removed.append(f"{len(pids)} processes")
    mounts = lab_mounts(state_dir)
    for point in mounts:
        run(["umount", "--lazy", point], check=False)
    if mounts:
        removed.append(f"{len(mounts)} mounts")
    for d in lab_cgroups():
        with contextlib.suppress(OSError):
            d.rmdir()
    namespaces = lab_netns()
    for netns in namespaces:
        delete_netns(netns)
    if namespaces:
        removed.append(f"namespaces {', '.join(namespaces)}")
    if state_dir.exists():
        run(["rm", "-rf", "--one-file-system", state_dir])
        removed.append(str(state_dir))
    return removed
