"""Encryption at rest: AES-GCM for the Raft WAL and snapshots, and autolock's unlock key.

    data key (DEK, 32 random bytes) ── AESGCMCipher ──▶ Raft storage (manager.raft.cipher.Cipher)
        │
        └─ with --autolock: wrapped by the unlock key (KEK) ──▶ kept on disk; a restarted manager
           needs `shoal swarm unlock` (the SWMKEY-1-... key) to unwrap it.

Without autolock the DEK is kept in the clear next to the node key (as Swarm keeps it in the
node key's PEM headers); the manager restarts unattended.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from manager.ca.errors import DecryptionError, InvalidUnlockKey, WrongUnlockKey

NONCE_BYTES = 12
TAG_BYTES = 16
DATA_KEY_BYTES = 32
UNLOCK_KEY_PREFIX = "SWMKEY-1-"
UNLOCK_KEY_BYTES = 32
_WRAP_INFO = b"shoal autolock: data key wrapping v1"
_WRAP_AAD = b"shoal data key"


class AESGCMCipher:
    """Authenticated encryption satisfying manager.raft.cipher.Cipher.

    Output is nonce (12 random bytes) || ciphertext || tag. A random nonce per message is safe
    far beyond the number of records a WAL holds with one key (the birthday bound is ~2**48).
    """

    def __init__(self, key: bytes, *, associated_data: bytes = b"") -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError(f"an AES key is 16, 24 or 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._aad = associated_data

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(
                f"cannot decrypt: {len(ciphertext)} bytes is shorter than a nonce and a tag "
                "(the data is truncated)"
            )
        nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, self._aad)
        except InvalidTag:
            raise DecryptionError(
                "cannot decrypt: the key is wrong or the data was altered; a manager's data is "
                "readable only with its own data key"
            ) from None


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def generate_unlock_key() -> str:
    """A new unlock key in Swarm's human-readable form, `SWMKEY-1-<base64>`."""
    return format_unlock_key(secrets.token_bytes(UNLOCK_KEY_BYTES))


def format_unlock_key(raw: bytes) -> str:
    return UNLOCK_KEY_PREFIX + base64.b64encode(raw).decode().rstrip("=")


def parse_unlock_key(text: str) -> bytes:
    """The raw key in `SWMKEY-1-<base64>`; InvalidUnlockKey says what is wrong."""
    how = "use the key printed by `shoal swarm unlock-key` on an unlocked manager"
    key = text.strip()
    if not key.startswith(UNLOCK_KEY_PREFIX):
        raise InvalidUnlockKey(f"invalid unlock key: it must start with {UNLOCK_KEY_PREFIX}; {how}")
    body = key[len(UNLOCK_KEY_PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidUnlockKey(
            f"invalid unlock key: the part after the prefix is not base64; {how}"
        ) from None
    if len(raw) != UNLOCK_KEY_BYTES:
        raise InvalidUnlockKey(
            f"invalid unlock key: it holds {len(raw)} bytes, expected {UNLOCK_KEY_BYTES} "
            f"(is it complete?); {how}"
        )
    return raw


def wrap_data_key(data_key: bytes, unlock_key: str) -> bytes:
    """The data key encrypted with a key derived from the unlock key (autolock)."""
    return _kek_cipher(unlock_key).encrypt(data_key)


def unwrap_data_key(wrapped: bytes, unlock_key: str) -> bytes:
    """The data key; WrongUnlockKey when `unlock_key` is not the one it was wrapped with."""
    try:
        return _kek_cipher(unlock_key).decrypt(wrapped)
    except DecryptionError:
        raise WrongUnlockKey(
            "the unlock key is not correct for this manager; use the current key from "
            "`shoal swarm unlock-key` on another manager (or the one shown before the last "
            "rotation, if this manager was down when it happened)"
        ) from None


def _kek_cipher(unlock_key: str) -> AESGCMCipher:
    # HKDF separates the wrapping key from the raw unlock key, so the same bytes are never used
    # as an AES key for two purposes.
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_WRAP_INFO).derive(
        parse_unlock_key(unlock_key)
    )
    return AESGCMCipher(kek, associated_data=_WRAP_AAD)
