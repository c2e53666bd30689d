"""Join tokens: `SWMTKN-1-<root CA digest, base36, 50 chars>-<secret, base36, 25 chars>`.

The digest half lets a joining node check the manager it reached (see join.py); the secret half
lets the manager admit it, with the role of the token it matches. Same format as Swarm's.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from manager.ca.errors import InvalidJoinToken, JoinTokenRejected
from manager.ca.roles import MANAGER_ROLE, WORKER_ROLE, Role

TOKEN_PREFIX = "SWMTKN"
TOKEN_VERSION = "1"
DIGEST_LEN = 50  # ceil(log36(2**256))
SECRET_LEN = 25  # ceil(log36(2**128))
SECRET_BYTES = 16
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_HOW_TO_FIX = (
    "copy the whole token printed by `shoal swarm join-token worker` "
    "(or `manager`) on a manager of the cluster"
)

Entropy = Callable[[int], bytes]


@dataclass(frozen=True)
class JoinToken:
    ca_digest: bytes  # sha256 of the root CA certificate (DER)
    secret: str  # 25 base36 characters

    def __str__(self) -> str:
        digest = _base36(int.from_bytes(self.ca_digest, "big"), DIGEST_LEN)
        return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{digest}-{self.secret}"

    @property
    def ca_digest_hex(self) -> str:
        return "sha256:" + self.ca_digest.hex()


def generate_join_token(ca_digest: bytes, entropy: Entropy = secrets.token_bytes) -> str:
    """A new token for the root CA with this digest, with a secret from 128 random bits."""
    if len(ca_digest) != 32:
        raise ValueError("a join token needs the sha256 digest (32 bytes) of the root CA")
    secret = _base36(int.from_bytes(entropy(SECRET_BYTES), "big"), SECRET_LEN)
    return str(JoinToken(ca_digest=ca_digest, secret=secret))


def parse_join_token(text: str) -> JoinToken:
    """Split a token into its digest and secret; InvalidJoinToken says what is wrong."""
    token = text.strip()
    if not token:
        raise InvalidJoinToken(f"the join token is empty: {_HOW_TO_FIX}")
    parts = token.split("-")
    if parts[0] != TOKEN_PREFIX:
        raise InvalidJoinToken(
            f"invalid join token: it must start with {TOKEN_PREFIX}-{TOKEN_VERSION}-; {_HOW_TO_FIX}"
        )
    if len(parts) > 1 and parts[1] != TOKEN_VERSION:
        raise InvalidJoinToken(
            f"invalid join token: version {parts[1]!r} is not supported (this node understands "
            f"version {TOKEN_VERSION}); {_HOW_TO_FIX}"
        )
    if len(parts) != 4:
        raise InvalidJoinToken(
            f"invalid join token: expected 4 parts separated by '-' ({TOKEN_PREFIX}-"
            f"{TOKEN_VERSION}-<CA digest>-<secret>), got {len(parts)}; {_HOW_TO_FIX}"
        )
    _, _, digest_text, secret = parts
    _check_part("CA digest", digest_text, DIGEST_LEN)
    _check_part("secret", secret, SECRET_LEN)
    value = int(digest_text, 36)
    if value >= 1 << 256:
        raise InvalidJoinToken(
            f"invalid join token: the CA digest is not a sha256 digest; {_HOW_TO_FIX}"
        )
    return JoinToken(ca_digest=value.to_bytes(32, "big"), secret=secret)


def _check_part(what: str, text: str, length: int) -> None:
    if len(text) != length:
        raise InvalidJoinToken(
            f"invalid join token: the {what} must be {length} characters, got {len(text)}; "
            f"{_HOW_TO_FIX}"
        )
    bad = sorted({c for c in text if c not in _ALPHABET})
    if bad:
        raise InvalidJoinToken(
            f"invalid join token: the {what} may contain only 0-9 and a-z, found "
            f"{''.join(bad)!r}; {_HOW_TO_FIX}"
        )


@dataclass(frozen=True)
class JoinTokens:
    """The cluster's current tokens, one per role (kept in the cluster object)."""

    worker: str
    manager: str

    @classmethod
    def generate(cls, ca_digest: bytes, entropy: Entropy = secrets.token_bytes) -> JoinTokens:
        return cls(
            worker=generate_join_token(ca_digest, entropy),
            manager=generate_join_token(ca_digest, entropy),
        )

    def for_role(self, role: Role) -> str:
        return self.manager if role == MANAGER_ROLE else self.worker

    def rotate(
        self, role: Role, ca_digest: bytes, entropy: Entropy = secrets.token_bytes
    ) -> JoinTokens:
        """New tokens with only `role`'s token replaced (`join-token --rotate ROLE`)."""
        fresh = generate_join_token(ca_digest, entropy)
        if role == MANAGER_ROLE:
            return replace(self, manager=fresh)
        return replace(self, worker=fresh)

    def check(self, token: str) -> Role:
        """The role `token` grants; JoinTokenRejected unless it is one of the current tokens.

        Both comparisons always run and are constant-time, so timing does not reveal how much
        of a guessed secret was right or which role it was close to.
        """
        parsed = parse_join_token(token)
        presented = str(parsed).encode()
        is_worker = hmac.compare_digest(presented, self.worker.encode())
        is_manager = hmac.compare_digest(presented, self.manager.encode())
        if is_manager:
            return MANAGER_ROLE
        if is_worker:
            return WORKER_ROLE
        if parsed.ca_digest != parse_join_token(self.worker).ca_digest:
            raise JoinTokenRejected(
                "the join token was made for a different root CA (another cluster, or before a "
                "CA rotation); get the current one with `shoal swarm join-token worker` "
                "(or `manager`) on a manager"
            )
        raise JoinTokenRejected(
            "the join token is not valid for this cluster (it may have been rotated); "
            "get the current one with `shoal swarm join-token worker` (or `manager`) on a manager"
        )


def _base36(value: int, width: int) -> str:
    digits = []
    while value:
        value, rem = divmod(value, 36)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits)).rjust(width, "0")
