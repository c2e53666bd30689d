"""Object ids like Swarm's: 128 random bits written in base 36, padded to 25 characters."""

from __future__ import annotations

import secrets

ID_LENGTH = 25
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    n = secrets.randbits(128)
    out: list[str] = []
    while n:
        n, d = divmod(n, 36)
        out.append(_DIGITS[d])
    return "".join(reversed(out)).rjust(ID_LENGTH, "0")
