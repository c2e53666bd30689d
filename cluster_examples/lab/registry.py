"""The lab's image registry: Debian's docker-registry, listening on the switch bridge."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cluster_examples.lab.sh import LabError, in_netns, succeeds
from cluster_examples.lab.spec import SWITCH_NETNS

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
"""


def start(state_dir: Path, addr: str) -> int:
    """Start the registry in the switch namespace and wait until it answers; return its pid."""
    root = state_dir / "registry"
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(CONFIG.format(root=root / "data", addr=addr))
    log_path = root / "registry.log"
    argv = in_netns(SWITCH_NETNS, ["docker-registry", "serve", str(config)])
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-2:]
            raise LabError(f"docker-registry exited with {proc.returncode}: {' | '.join(tail)}")
        if answers(addr):
            return proc.pid
        time.sleep(0.1)
    proc.kill()
    raise LabError(f"docker-registry did not answer on {addr} within 30s (log: {log_path})")


PROBE = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"


def answers(addr: str) -> bool:
    """GET /v2/ from inside the switch namespace (the registry is reachable only in the lab)."""
    get = [sys.executable, "-c", PROBE, f"http://{addr}/v2/"]
    return succeeds(in_netns(SWITCH_NETNS, get))
