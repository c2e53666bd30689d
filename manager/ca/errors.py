"""Typed errors of the cluster PKI. Each message says what is wrong and what to do."""

from __future__ import annotations


class CAError(Exception):
    """Base of every error raised by manager.ca."""


class InvalidJoinToken(CAError, ValueError):
    """A join token that is not well formed (wrong prefix, version, length or characters)."""


class JoinTokenRejected(CAError):
    """A well-formed join token that is not one of the cluster's current tokens."""


class CAMismatch(CAError):
    """The manager presented a root CA whose digest is not the one in the join token."""


class CertificateRequestError(CAError):
    """A certificate signing request the CA refuses to sign."""


class PermissionDenied(CAError):
    """A peer that may not call a method; `reason` is what the caller is told."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecryptionError(CAError):
    """Ciphertext that does not decrypt: wrong key, or the data was altered or truncated."""


class InvalidUnlockKey(CAError, ValueError):
    """An unlock key that is not well formed."""


class WrongUnlockKey(CAError):
    """A well-formed unlock key that does not open this manager's data key."""


class CredentialsError(CAError):
    """Node credentials on disk that are missing, unreadable or inconsistent."""


class CredentialsNotFound(CredentialsError):
    """No node credentials in the directory: the node has not joined a cluster yet."""
