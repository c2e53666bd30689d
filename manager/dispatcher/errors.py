"""Errors of the dispatcher core; the servicer maps each to a gRPC answer."""

from __future__ import annotations


class DispatcherError(Exception):
    """Base of the dispatcher's errors."""


class DispatcherNotLeader(DispatcherError):
    """This manager does not record heartbeats: it is not the leader (or its dispatcher is not
    running yet). The servicer answers with the leader's address instead."""

    def __init__(self) -> None:
        super().__init__("this manager is not the leader; send heartbeats to the leader's address")


class UnknownNode(DispatcherError):
    """A certificate names a node the store does not hold (removed, or not registered yet)."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        super().__init__(
            f"node {node_id} is not part of this cluster (was it removed?); to come back it must "
            "leave the swarm and join again with a join token"
        )
