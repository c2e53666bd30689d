"""AES-GCM at rest for the Raft storage, and autolock's unlock key."""

from __future__ import annotations

import base64

import pytest

from manager.ca import (
    AESGCMCipher,
    DecryptionError,
    InvalidUnlockKey,
    WrongUnlockKey,
    format_unlock_key,
    generate_unlock_key,
    new_data_key,
    parse_unlock_key,
    unwrap_data_key,
    wrap_data_key,
)
from manager.raft.cipher import Cipher


def test_round_trip_and_layout() -> None:
    cipher: Cipher = AESGCMCipher(new_data_key())
    for plaintext in (b"", b"x", b"entry" * 1000):
        sealed = cipher.encrypt(plaintext)
        assert len(sealed) == 12 + len(plaintext) + 16
        assert cipher.decrypt(sealed) == plaintext


def test_nonces_are_fresh() -> None:
    cipher = AESGCMCipher(new_data_key())
    sealed = {cipher.encrypt(b"same") for _ in range(100)}
    assert len(sealed) == 100
    assert len({s[:12] for s in sealed}) == 100


def test_wrong_key_raises() -> None:
    sealed = AESGCMCipher(new_data_key()).encrypt(b"raft entry")
    with pytest.raises(DecryptionError, match="the key is wrong or the data was altered"):
        AESGCMCipher(new_data_key()).decrypt(sealed)


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_tampering_raises(position: int) -> None:
    cipher = AESGCMCipher(new_data_key())
    sealed = bytearray(cipher.encrypt(b"raft entry payload"))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(sealed))


@pytest.mark.parametrize("length", [0, 11, 27])
def test_truncated_raises(length: int) -> None:
    cipher = AESGCMCipher(new_data_key())
    with pytest.raises(DecryptionError, match="truncated"):
        cipher.decrypt(cipher.encrypt(b"payload")[:length])


def test_associated_data_binds_the_context() -> None:
    key = new_data_key()
    sealed = AESGCMCipher(key, associated_data=b"wal").encrypt(b"x")
    with pytest.raises(DecryptionError):
        AESGCMCipher(key, associated_data=b"snapshot").decrypt(sealed)


def test_key_length_is_checked() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        AESGCMCipher(b"short")


def test_unlock_key_format() -> None:
    key = generate_unlock_key()
    assert key.startswith("SWMKEY-1-")
    assert "=" not in key
    assert len(parse_unlock_key(key)) == 32
    assert parse_unlock_key(format_unlock_key(bytes(range(32)))) == bytes(range(32))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must start with SWMKEY-1-"),
        ("SWMTKN-1-abc", "must start with SWMKEY-1-"),
        ("SWMKEY-2-" + base64.b64encode(bytes(32)).decode(), "must start with SWMKEY-1-"),
        ("SWMKEY-1-not*base64!", "not base64"),
        ("SWMKEY-1-" + base64.b64encode(bytes(16)).decode(), "holds 16 bytes, expected 32"),
    ],
)
def test_malformed_unlock_keys(text: str, message: str) -> None:
    with pytest.raises(InvalidUnlockKey, match=message):
        parse_unlock_key(text)


def test_autolock_wrap_and_unwrap() -> None:
    data_key, unlock_key = new_data_key(), generate_unlock_key()
    wrapped = wrap_data_key(data_key, unlock_key)
    assert data_key not in wrapped
    assert unwrap_data_key(wrapped, unlock_key) == data_key
    assert unwrap_data_key(wrapped, f" {unlock_key}\n") == data_key


def test_wrong_unlock_key_is_refused_clearly() -> None:
    wrapped = wrap_data_key(new_data_key(), generate_unlock_key())
    with pytest.raises(WrongUnlockKey, match="unlock key is not correct for this manager"):
        unwrap_data_key(wrapped, generate_unlock_key())
    with pytest.raises(InvalidUnlockKey):
        unwrap_data_key(wrapped, "SWMKEY-1-")


def test_the_unwrapped_key_decrypts_what_the_data_key_encrypted() -> None:
    data_key, unlock_key = new_data_key(), generate_unlock_key()
    sealed = AESGCMCipher(data_key).encrypt(b"snapshot")
    restored = unwrap_data_key(wrap_data_key(data_key, unlock_key), unlock_key)
    assert AESGCMCipher(restored).decrypt(sealed) == b"snapshot"
