"""Running the host tools the lab is made of (ip, nft, nsenter, docker), with one-line errors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")


class LabError(Exception):
    """What went wrong and what to do, in one line; the CLI prints it as `Error: ...`."""


def run(
    args: Sequence[str | Path],
    *,
    input: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command and return its stdout; raise LabError with its stderr when it fails."""
    argv = [str(a) for a in args]
    full_env = {**os.environ, **env} if env else None
    try:
        done = subprocess.run(
            argv, input=input, capture_output=True, text=True, check=False, env=full_env
        )
    except FileNotFoundError:
        raise LabError(f"{argv[0]} not found; run scripts/setup to install it") from None
    if check and done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(
            f"`{' '.join(argv)}` failed: {why[-1] if why else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def in_netns(netns: str, args: Sequence[str | Path]) -> list[str | Path]:
    """Prefix a command so it runs in a named network namespace without remounting /sys."""
    return ["nsenter", f"--net={NETNS_DIR / netns}", *args]


def netns_exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def succeeds(args: Sequence[str | Path]) -> bool:
    """True when the command exits 0 (its output is discarded)."""
    argv = [str(a) for a in args]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0
