"""Join tokens: Swarm's format, every malformed shape refused with a reason, rotation per role."""

from __future__ import annotations

import itertools
import re

import pytest

from manager.ca import (
    MANAGER_ROLE,
    WORKER_ROLE,
    InvalidJoinToken,
    JoinTokenRejected,
    JoinTokens,
    Role,
    RootCA,
    generate_join_token,
    parse_join_token,
)

TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")


def test_token_has_swarms_shape_and_round_trips(root: RootCA) -> None:
    token = generate_join_token(root.digest)
    assert TOKEN_RE.match(token), token
    parsed = parse_join_token(token)
    assert parsed.ca_digest == root.digest
    assert str(parsed) == token
    assert parsed.ca_digest_hex == "sha256:" + root.digest.hex()


def test_digest_and_secret_are_zero_padded() -> None:
    token = generate_join_token(bytes(31) + b"\x01", lambda n: bytes(n))
    assert token == "SWMTKN-1-" + "0" * 49 + "1-" + "0" * 25
    assert parse_join_token(token).ca_digest == bytes(31) + b"\x01"


def test_largest_digest_fits_in_50_characters() -> None:
    token = generate_join_token(b"\xff" * 32)
    assert TOKEN_RE.match(token)
    assert parse_join_token(token).ca_digest == b"\xff" * 32


def test_surrounding_whitespace_is_ignored(root: RootCA) -> None:
    token = generate_join_token(root.digest)
    assert parse_join_token(f"  {token}\n") == parse_join_token(token)


GOOD_DIGEST = "1" * 50
GOOD_SECRET = "a" * 25


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "the join token is empty"),
        ("   ", "the join token is empty"),
        ("SWMKEY-1-abc", "must start with SWMTKN-1-"),
        (f"swmtkn-1-{GOOD_DIGEST}-{GOOD_SECRET}", "must start with SWMTKN-1-"),
        (f"XSWMTKN-1-{GOOD_DIGEST}-{GOOD_SECRET}", "must start with SWMTKN-1-"),
        (f"SWMTKN-2-{GOOD_DIGEST}-{GOOD_SECRET}", "version '2' is not supported"),
        ("SWMTKN", "expected 4 parts separated by '-'"),
        (f"SWMTKN-1-{GOOD_DIGEST}", "expected 4 parts separated by '-'.*got 3"),
        (f"SWMTKN-1-{GOOD_DIGEST}-{GOOD_SECRET}-extra", "got 5"),
        (f"SWMTKN-1-{GOOD_DIGEST[:-1]}-{GOOD_SECRET}", "CA digest must be 50 characters, got 49"),
        (f"SWMTKN-1-{GOOD_DIGEST}0-{GOOD_SECRET}", "CA digest must be 50 characters, got 51"),
        (f"SWMTKN-1-{GOOD_DIGEST}-{GOOD_SECRET[:-1]}", "secret must be 25 characters, got 24"),
        (f"SWMTKN-1-{GOOD_DIGEST}-{GOOD_SECRET}a", "secret must be 25 characters, got 26"),
        (f"SWMTKN-1-{'A' * 50}-{GOOD_SECRET}", "CA digest may contain only 0-9 and a-z, found 'A'"),
        (f"SWMTKN-1-{GOOD_DIGEST}-{'a' * 24}_", "secret may contain only 0-9 and a-z, found '_'"),
        (f"SWMTKN-1-{'z' * 50}-{GOOD_SECRET}", "CA digest is not a sha256 digest"),
    ],
)
def test_malformed_tokens_say_what_is_wrong_and_what_to_do(token: str, message: str) -> None:
    with pytest.raises(InvalidJoinToken, match=message) as err:
        parse_join_token(token)
    assert "shoal swarm join-token" in str(err.value)


@pytest.fixture
def tokens(root: RootCA) -> JoinTokens:
    return JoinTokens.generate(root.digest)


def test_each_token_grants_its_role(tokens: JoinTokens) -> None:
    assert tokens.worker != tokens.manager
    assert tokens.check(tokens.worker) == WORKER_ROLE
    assert tokens.check(tokens.manager) == MANAGER_ROLE
    assert tokens.for_role(WORKER_ROLE) == tokens.worker
    assert tokens.for_role(MANAGER_ROLE) == tokens.manager


def test_unknown_secret_is_rejected(tokens: JoinTokens, root: RootCA) -> None:
    with pytest.raises(JoinTokenRejected, match="not valid for this cluster"):
        tokens.check(generate_join_token(root.digest))


def test_token_of_another_ca_is_rejected_as_such(tokens: JoinTokens, other_root: RootCA) -> None:
    foreign = tokens.worker.split("-")
    foreign[2] = generate_join_token(other_root.digest).split("-")[2]
    with pytest.raises(JoinTokenRejected, match="different root CA"):
        tokens.check("-".join(foreign))


def test_malformed_token_is_a_format_error_not_a_rejection(tokens: JoinTokens) -> None:
    with pytest.raises(InvalidJoinToken):
        tokens.check(tokens.worker[:-1])


@pytest.mark.parametrize(
    ("rotated", "kept"), [(WORKER_ROLE, MANAGER_ROLE), (MANAGER_ROLE, WORKER_ROLE)]
)
def test_rotation_invalidates_only_that_roles_token(
    tokens: JoinTokens, root: RootCA, rotated: Role, kept: Role
) -> None:
    after = tokens.rotate(rotated, root.digest)
    old = tokens.for_role(rotated)
    with pytest.raises(JoinTokenRejected):
        after.check(old)
    assert after.check(after.for_role(rotated)) == rotated
    assert after.for_role(kept) == tokens.for_role(kept)
    assert after.check(tokens.for_role(kept)) == kept


def test_secrets_come_from_the_entropy_source(root: RootCA) -> None:
    counter = itertools.count(1)
    tokens = JoinTokens.generate(root.digest, lambda n: next(counter).to_bytes(n, "big"))
    assert tokens.worker.endswith("-" + "0" * 24 + "1")
    assert tokens.manager.endswith("-" + "0" * 24 + "2")
