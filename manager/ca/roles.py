"""Swarm's role names, as they appear in certificates (OU) and in the authorization table."""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["swarm-manager", "swarm-worker"]

MANAGER_ROLE: Final = "swarm-manager"
WORKER_ROLE: Final = "swarm-worker"
# Every manager also answers as the CA: a joining node connects with this target name to get its
# first certificate, so manager certificates carry it as a DNS name.
CA_ROLE: Final = "swarm-ca"
ROLES: Final[tuple[Role, ...]] = (MANAGER_ROLE, WORKER_ROLE)


def parse_role(text: str) -> Role:
    """Accept Swarm's OU names and the CLI's short names ("manager", "worker")."""
    if text in (MANAGER_ROLE, "manager"):
        return MANAGER_ROLE
    if text in (WORKER_ROLE, "worker"):
        return WORKER_ROLE
    raise ValueError(f"unknown role {text!r}: use manager or worker")


def short_name(role: Role) -> str:
    """ "manager" or "worker", the word the CLI uses."""
    return "manager" if role == MANAGER_ROLE else "worker"
