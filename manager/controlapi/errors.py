"""The Control API's typed errors: one class per gRPC status code the servicer answers with.

The core functions raise these with a one-line message for the user (Docker's wording where
Docker has a well-known one); servicer.py maps the class to the status code. Raft errors
(NotLeader, ProposalLost) are not wrapped: the leader-forwarding wrapper handles them.
"""

from __future__ import annotations


class ControlError(Exception):
    """Base of every Control API error; str(error) is the message the user reads."""


class InvalidArgumentError(ControlError):
    """The request itself is wrong (a bad name, too much data, a malformed spec)."""


class NotFoundError(ControlError):
    """The object the request names does not exist."""


class AlreadyExistsError(ControlError):
    """An object with that name exists already."""


class FailedPreconditionError(ControlError):
    """The request is valid but the cluster's state refuses it now (a node still up, a secret
    still used, an update based on an old version)."""


class InternalError(ControlError):
    """The store holds something it should not (no root CA certificate, ...)."""
