"""Applying nft scripts: `nft -f -` in a namespace, one transaction, one-line errors.

    script (overlay_net.nft) --stdin--> ns_run: nsenter --net=<ns> nft -f -
                                        (ns None: the calling thread's namespace)

nft applies a file as one transaction: either every statement takes effect or none does, so
a rejected script leaves the previous rules in place. Its message (file position, the
offending line, a caret line) is folded into one line for NftError.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from overlay_net.netns import NetnsError, ns_run

_TIMEOUT = 30.0  # nft answers in milliseconds; this only bounds a wedged netlink socket
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class NftError(Exception):
    """nft refused a script or could not run; the message is one line."""


def apply(script: str, ns: Path | None = None) -> None:
    """Run `script` with `nft -f -` in namespace `ns` (None: this one), atomically."""
    _nft(ns, ["-f", "-"], script)


def delete_table(ns: Path | None = None, name: str = "shoal") -> None:
    """Remove table `ip <name>` from `ns`; a missing table (or namespace content) is fine."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not an nftables table name")
    # Declaring the table first makes the delete succeed whether or not it existed.
    apply(f"table ip {name} {{}}\ndelete table ip {name}\n", ns)


def _nft(ns: Path | None, args: Sequence[str], script: str) -> None:
    nft = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin") or "nft"
    where = f"namespace {ns}" if ns is not None else "this namespace"
    try:
        done = ns_run(ns, [nft, *args], script.encode(), timeout=_TIMEOUT, check=False)
    except NetnsError as exc:  # not installed, or no answer within the timeout
        raise NftError(f"cannot apply nftables rules in {where}: {exc}") from exc
    if done.returncode != 0:
        message = _one_line(done.stderr.decode(errors="replace")) or f"exit {done.returncode}"
        raise NftError(f"nft refused the rules in {where}: {message}")


def _one_line(stderr: str) -> str:
    """nft's error lines without the echoed script line and the ^^^ marker under it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error:" in line or "error:" in line]
    return "; ".join(errors or lines)
