"""Docker's rules for secret and config specs (swarmkit manager/controlapi), shared by both."""

from __future__ import annotations

import re

from manager.controlapi.errors import InvalidArgumentError

MAX_NAME_LENGTH = 64
MAX_DATA_SIZE = 500 * 1024  # bytes, for secrets and configs alike

# Docker's isValidConfigOrSecretName: alphanumerics, with - _ . inside
_NAME = re.compile(r"[a-zA-Z0-9]+(?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?")


def validate_name(name: str) -> None:
    """A secret or config name: Docker's rule and Docker's messages."""
    if not name:
        raise InvalidArgumentError("name must be provided")
    if len(name) > MAX_NAME_LENGTH or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
            "character must be [a-zA-Z0-9]"
        )


def validate_data(kind: str, data: bytes) -> None:
    """Between 1 byte and 500KB (500*1024 bytes) included."""
    if not 0 < len(data) <= MAX_DATA_SIZE:
        raise InvalidArgumentError(
            f"{kind} data must be larger than 0 and no more than 500KB ({MAX_DATA_SIZE} bytes), "
            f"got {len(data)} bytes"
        )
