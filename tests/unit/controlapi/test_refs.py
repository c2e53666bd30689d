"""Ref resolution as Docker does it: exact id, then name (hostname), then unique id prefix."""

from __future__ import annotations

import pytest

from manager.controlapi import (
    InvalidArgumentError,
    NotFoundError,
    resolve_node,
    resolve_secret,
)
from manager.store import Secret, SecretSpec, Store
from tests.unit.controlapi.helpers import add_node
from tests.unit.store.helpers import new_store

A1 = "abc1" + "0" * 21
A2 = "abc2" + "0" * 21
B1 = "bcd1" + "0" * 21


async def secrets_store() -> Store:
    store = new_store()
    for id, name in ((A1, "web"), (A2, "db"), (B1, "abc1")):
        await add_secret(store, Secret(id=id, spec=SecretSpec(name)))
    return store


async def add_secret(store: Store, secret: Secret) -> None:
    await store.update(lambda tx: tx.create(secret))


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (A1, A1),  # exact id
        ("web", A1),  # name
        ("WEB", A1),  # names compare case-insensitively, like the store's name index
        ("abc2", A2),  # unique id prefix
        ("abc1", B1),  # a name beats an id prefix (A1 starts with abc1, B1 is named abc1)
        ("bc", B1),  # no name matches: unique prefix
    ],
)
async def test_resolves_a_secret(ref: str, expected: str) -> None:
    store = await secrets_store()
    assert resolve_secret(store.view(), ref).id == expected


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("", InvalidArgumentError, "secret ID or name must be provided"),
        ("zzz", NotFoundError, "secret zzz not found"),
        (
            "abc",
            InvalidArgumentError,
            f"secret abc is ambiguous (2 matches found: {A1}, {A2}); "
            "give more characters of the ID",
        ),
    ],
)
async def test_refuses_a_secret_ref(ref: str, error: type[Exception], message: str) -> None:
    store = await secrets_store()
    with pytest.raises(error) as raised:
        resolve_secret(store.view(), ref)
    assert str(raised.value) == message


async def test_an_exact_id_beats_a_name() -> None:
    store = new_store()
    await store.update(lambda tx: tx.create(Secret(id=A1, spec=SecretSpec("one"))))
    await store.update(lambda tx: tx.create(Secret(id=A2, spec=SecretSpec(A1))))
    assert resolve_secret(store.view(), A1).id == A1


async def test_a_node_is_found_by_hostname_and_two_hosts_of_one_name_are_ambiguous() -> None:
    store = new_store()
    await add_node(store, "worker-1", id=A1)
    await add_node(store, "twin", id=A2)
    await add_node(store, "twin", id=B1)
    assert resolve_node(store.view(), "worker-1").id == A1
    with pytest.raises(InvalidArgumentError) as raised:
        resolve_node(store.view(), "twin")
    assert str(raised.value) == (
        f"node twin is ambiguous (2 matches found: {A2}, {B1}); give the ID instead of the name"
    )
    with pytest.raises(NotFoundError, match=r"^node worker-2 not found$"):
        resolve_node(store.view(), "worker-2")
