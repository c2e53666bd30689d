"""Errors the scheduler's core raises: things a user wrote that cannot be placed by design."""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of the scheduler's errors."""


class ConstraintError(SchedulerError, ValueError):
    """A placement constraint that cannot be parsed: `service create` reports it up front."""

    def __init__(self, constraint: str, reason: str) -> None:
        super().__init__(f"invalid constraint {constraint!r}: {reason}")
        self.constraint = constraint
        self.reason = reason


class PreferenceError(SchedulerError, ValueError):
    """A placement preference that cannot be used (only `spread=<label>` exists)."""

    def __init__(self, preference: str, reason: str) -> None:
        super().__init__(f"invalid placement preference {preference!r}: {reason}")
        self.preference = preference
        self.reason = reason
