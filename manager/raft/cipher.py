"""Encryption at rest for the Raft storage.

The storage encrypts entry payloads and snapshot data with a `Cipher` when one is given; the
security issue supplies an AES-GCM implementation (the key comes from the cluster's unlock key).
Term, index and hard state stay in the clear: replay needs them before any key is checked.
"""

from __future__ import annotations

from typing import Protocol


class Cipher(Protocol):
    """Authenticated encryption. `decrypt` must raise on a wrong key or altered ciphertext."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class NullCipher:
    """No encryption: what the storage uses when no cipher is given."""

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, ciphertext: bytes) -> bytes:
        return ciphertext
