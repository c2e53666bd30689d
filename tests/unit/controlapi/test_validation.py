"""Docker's name and size rules for secrets and configs."""

from __future__ import annotations

import pytest

from manager.controlapi import MAX_DATA_SIZE, InvalidArgumentError, validate_data, validate_name

BAD_NAME = (
    "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character "
    "must be [a-zA-Z0-9]"
)


@pytest.mark.parametrize(
    "name", ["a", "db_password", "site.key", "my-Secret-2", "a-_.b", "x" * 64, "1"]
)
def test_valid_names(name: str) -> None:
    validate_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name must be provided"),
        ("-a", BAD_NAME),
        ("a-", BAD_NAME),
        (".env", BAD_NAME),
        ("a b", BAD_NAME),
        ("a/b", BAD_NAME),
        ("café", BAD_NAME),
        ("x" * 65, BAD_NAME),
        ("a\n", BAD_NAME),
    ],
)
def test_invalid_names(name: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        validate_name(name)
    assert str(raised.value) == message


@pytest.mark.parametrize("size", [1, MAX_DATA_SIZE])
def test_data_sizes_allowed(size: int) -> None:
    validate_data("secret", b"x" * size)


@pytest.mark.parametrize("size", [0, MAX_DATA_SIZE + 1])
def test_data_sizes_refused(size: int) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        validate_data("config", b"x" * size)
    assert str(raised.value) == (
        f"config data must be larger than 0 and no more than 500KB (512000 bytes), got {size} bytes"
    )
