"""The store's typed errors. Each says what is wrong and what to do about it.

Errors found while applying a batch are raised the same way on every manager (apply is
deterministic); the proposer gets the error, the other managers just move on.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store error."""


class NotFound(StoreError):
    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"{kind} {id} not found; it may have been removed, list {kind}s to check")


class AlreadyExists(StoreError):
    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"{kind} {id} already exists; create it with another id")


class NameConflict(StoreError):
    """Names are unique per table (compared case-insensitively, like Swarm)."""

    def __init__(self, kind: str, name: str, existing_id: str) -> None:
        self.kind = kind
        self.name = name
        self.existing_id = existing_id
        super().__init__(
            f"{kind} name {name!r} is already taken by {kind} {existing_id}; "
            f"choose another name or remove the existing {kind}"
        )


class SequenceError(StoreError):
    """The object changed since the transaction read it (optimistic concurrency)."""

    def __init__(self, kind: str, id: str, read_version: int, current_version: int) -> None:
        self.kind = kind
        self.id = id
        self.read_version = read_version
        self.current_version = current_version
        super().__init__(
            f"update out of sequence: {kind} {id} is at version {current_version} but the "
            f"update was based on version {read_version}; read it again and retry"
        )


class InvalidObject(StoreError):
    """An object the store cannot take as it is (e.g. no id)."""


class CodecError(StoreError):
    """Bytes that are not a valid store batch or snapshot."""


class TransactionClosed(StoreError):
    def __init__(self) -> None:
        super().__init__(
            "this transaction is over: write only inside the function given to store.update()"
        )


class StaleView(StoreError):
    def __init__(self, opened_at: int, now: int) -> None:
        super().__init__(
            f"read view opened at store index {opened_at} used after the store moved to "
            f"{now}: views are valid until the next await; take a new store.view()"
        )
