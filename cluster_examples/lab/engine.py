"""One Docker Engine per lab node, in the node's network and UTS namespaces."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from cluster_examples.lab.sh import NETNS_DIR, LabError, run
from cluster_examples.lab.spec import NodePaths

START_TIMEOUT = 60.0


def make_uts(paths: NodePaths, hostname: str) -> None:
    """A UTS namespace pinned to a file, so the engine and later shoald share hostname `nK`."""
    paths.uts.touch()
    run(["unshare", f"--uts={paths.uts}", "hostname", hostname])


def start(node: str, paths: NodePaths, registry: str) -> int:
    """Start the node's dockerd and wait until it answers; return its pid."""
    for d in (paths.docker_root, paths.exec_root):
        d.mkdir(parents=True, exist_ok=True)
    # Left by an engine that was killed: the caller has checked that it is not running.
    paths.docker_sock.unlink(missing_ok=True)
    paths.docker_pid.unlink(missing_ok=True)
    argv = [
        "nsenter", f"--net={NETNS_DIR / ('shoal-' + node)}", f"--uts={paths.uts}",
        "dockerd",
        "--data-root", str(paths.docker_root),
        "--exec-root", str(paths.exec_root),
        "--pidfile", str(paths.docker_pid),
        "--host", f"unix://{paths.docker_sock}",
        "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
        # Each node's containers in a cgroup of its own, so a crashed lab's leftovers are findable.
        "--cgroup-parent", f"shoal-lab-{node}",
        "--insecure-registry", registry,
        "--shutdown-timeout", "5",
    ]  # fmt: skip
    with paths.docker_log.open("ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    wait_ready(node, paths, proc)
    return proc.pid


def wait_ready(node: str, paths: NodePaths, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"dockerd on {node} exited with {proc.returncode}: {log_tail(paths)}")
        if ping(paths.docker_sock):
            return
        time.sleep(0.1)
    proc.kill()
    raise LabError(
        f"dockerd on {node} did not answer within {START_TIMEOUT:.0f}s: {log_tail(paths)}"
    )


def ping(sock: Path) -> bool:
    """True when the engine behind `sock` answers GET /_ping with OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = s.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status_line.startswith(b"HTTP/1.") and b" 200 " in status_line + b" "


def log_tail(paths: NodePaths, lines: int = 3) -> str:
    try:
        tail = paths.docker_log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(tail) + f" (full log: {paths.docker_log})"


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our child that exited) is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def stop(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
