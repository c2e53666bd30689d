"""Errors of the Raft core, storage and driver: each message says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class RaftError(Exception):
    """Base of every Raft error."""


# --- core (manager/raft/core.py) ---


class ProposalDropped(RaftError):
    """The core did not take a proposal (or a read or a transfer): this member cannot take it now.

    `leader` is the member to retry on, or 0 when none is known.
    """

    def __init__(self, leader: int, reason: str = "this member is not the leader") -> None:
        self.leader = leader
        self.reason = reason
        where = f"retry on node {leader}" if leader else "retry once a leader is elected"
        super().__init__(f"Raft proposal dropped: {reason}; {where}")


class ConfChangeInProgress(RaftError):
    """Raft changes its membership one member at a time."""

    def __init__(self, pending_index: int = 0) -> None:
        self.pending_index = pending_index
        super().__init__(
            f"a Raft membership change (log index {pending_index}) is not applied yet and only "
            "one change can be in progress; wait until it is applied, then retry"
        )


# --- storage (manager/raft/storage.py, wal.py, snapshotter.py) ---


class StorageError(RaftError):
    """The Raft data directory could not be read or written. After a failed save the storage
    refuses every later save: the node must not acknowledge what it could not persist."""


class CorruptLogError(StorageError):
    """A WAL record that is not at the tail is damaged: the log cannot be trusted."""

    def __init__(self, path: Path | str, offset: int, why: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.why = why
        super().__init__(
            f"corrupt Raft WAL {self.path} at byte offset {offset}: {why}. This member's log "
            "cannot be trusted; restore it from a healthy member: stop this node, remove its "
            "Raft data directory and rejoin it to the cluster"
        )


class ClusterMismatchError(StorageError):
    """The data directory was written for another cluster or another node id."""


class WrongKeyError(StorageError):
    """The data directory is encrypted with another key, or no key was given for it."""


# --- driver (manager/raft/driver.py) ---


class NotLeader(RaftError):
    """This member cannot take the request because it is not the leader."""

    def __init__(self, leader: int) -> None:
        self.leader = leader
        where = f"send it to node {leader}" if leader else "retry once a leader is elected"
        super().__init__(f"this Raft member is not the leader; {where}")


class ProposalLost(RaftError):
    """A proposal will not be acknowledged: its leader lost leadership (it may still be
    applied), its entry was overwritten by another leader's (it was not), or the driver stopped."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"Raft proposal lost ({reason}); read the current state and retry the change "
            "if it is missing"
        )
