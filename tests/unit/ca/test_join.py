"""The joining node trusts a manager's root CA only when it matches the token's digest."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from manager.ca import (
    CAMismatch,
    InvalidJoinToken,
    RootCA,
    cert_digest,
    generate_join_token,
    verify_presented_root,
)
from tests.unit.ca.pki import Issuer


def test_matching_root_is_trusted(root: RootCA) -> None:
    token = generate_join_token(root.digest)
    trusted = verify_presented_root(token, root.cert_der)
    assert trusted.cert == root.cert
    assert not trusted.can_sign


def test_mismatched_root_is_refused_with_both_digests(root: RootCA, other_root: RootCA) -> None:
    token = generate_join_token(root.digest)
    with pytest.raises(CAMismatch) as err:
        verify_presented_root(token, other_root.cert_der)
    message = str(err.value)
    assert message.startswith("the manager's CA does not match the token")
    assert root.digest.hex() in message and other_root.digest.hex() in message
    assert "check the token and the address" in message


def test_a_node_certificate_is_not_a_root_even_if_the_digest_matches(issuer: Issuer) -> None:
    leaf = issuer.node("node1", "swarm-manager")
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    with pytest.raises(CAMismatch, match="not usable"):
        verify_presented_root(generate_join_token(cert_digest(leaf.cert)), der)


def test_garbage_is_refused(root: RootCA) -> None:
    with pytest.raises(CAMismatch, match="readable root CA"):
        verify_presented_root(generate_join_token(root.digest), b"\x30\x00junk")


def test_a_malformed_token_fails_before_looking_at_the_manager(root: RootCA) -> None:
    with pytest.raises(InvalidJoinToken):
        verify_presented_root("SWMTKN-1-short-x", root.cert_der)
