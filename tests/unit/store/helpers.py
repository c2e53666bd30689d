"""Shared helpers for the store tests: a fake wall clock and predictable ids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from manager.store import Store

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def new_store(clock: FakeClock | None = None, prefix: str = "id") -> Store:
    """A local store with a fake clock and readable ids (prefix + counter, 25 chars)."""
    counter = itertools.count(1)
    width = 25 - len(prefix)
    return Store(clock=clock or FakeClock(), id_source=lambda: f"{prefix}{next(counter):0{width}d}")
