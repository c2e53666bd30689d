"""Secrets and configs: Docker's validation, data never returned for secrets, removal refused
while a service uses them."""

from __future__ import annotations

import pytest

from manager.controlapi import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    create_config,
    create_secret,
    get_config,
    get_secret,
    list_configs,
    list_secrets,
    remove_config,
    remove_secret,
)
from manager.store import (
    Config,
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    Secret,
    SecretReference,
    SecretSpec,
    Service,
    ServiceSpec,
    Store,
    TaskSpec,
)
from tests.unit.store.helpers import new_store


async def add_service(
    store: Store, name: str, *, secrets: tuple[str, ...] = (), configs: tuple[str, ...] = ()
) -> None:
    container = ContainerSpec(
        image="nginx",
        secrets=tuple(SecretReference(secret_id=s) for s in secrets),
        configs=tuple(ConfigReference(config_id=c) for c in configs),
    )
    spec = ServiceSpec(name=name, task_template=TaskSpec(container=container))
    await store.update(lambda tx: tx.create(Service(spec=spec)))


async def test_a_secret_is_stored_with_its_data_and_never_returned_with_it() -> None:
    store = new_store()
    created = await create_secret(store, SecretSpec(name="pw", labels={"a": "b"}, data=b"hunter2"))
    assert created.spec.data == b""
    assert created.spec.labels == {"a": "b"}
    assert created.meta.version > 0
    stored = store.view().get(Secret, created.id)
    assert stored is not None and stored.spec.data == b"hunter2"
    assert get_secret(store, "pw").spec.data == b""
    assert [s.spec.data for s in list_secrets(store)] == [b""]


async def test_a_config_is_returned_with_its_data() -> None:
    store = new_store()
    created = await create_config(store, ConfigSpec(name="nginx.conf", data=b"server {}"))
    assert created.spec.data == b"server {}"
    assert get_config(store, created.id[:5]).spec.data == b"server {}"
    assert [c.spec.name for c in list_configs(store)] == ["nginx.conf"]


@pytest.mark.parametrize("kind", ["secret", "config"])
async def test_a_taken_name_is_refused(kind: str) -> None:
    store = new_store()
    create = create_secret if kind == "secret" else create_config
    spec_cls = SecretSpec if kind == "secret" else ConfigSpec
    await create(store, spec_cls(name="site", data=b"1"))  # type: ignore[arg-type]
    with pytest.raises(AlreadyExistsError) as raised:
        await create(store, spec_cls(name="SITE", data=b"2"))  # type: ignore[arg-type]
    assert str(raised.value) == f"{kind} SITE already exists"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SecretSpec(name="", data=b"x"), "name must be provided"),
        (SecretSpec(name="bad name", data=b"x"), "invalid name, only 64"),
        (SecretSpec(name="ok", data=b""), "secret data must be larger than 0"),
        (SecretSpec(name="ok", data=b"x" * (500 * 1024 + 1)), "and no more than 500KB"),
    ],
)
async def test_an_invalid_secret_is_refused_and_nothing_is_stored(
    spec: SecretSpec, message: str
) -> None:
    store = new_store()
    with pytest.raises(InvalidArgumentError, match=message.replace("[", r"\[")):
        await create_secret(store, spec)
    assert store.view().all(Secret) == []


async def test_a_secret_used_by_services_is_not_removed() -> None:
    store = new_store()
    secret = await create_secret(store, SecretSpec(name="pw", data=b"x"))
    await add_service(store, "web", secrets=(secret.id,))
    await add_service(store, "api", secrets=(secret.id,))
    await add_service(store, "other")
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_secret(store, "pw")
    assert str(raised.value) == "secret 'pw' is in use by the following services: api, web"
    assert store.view().get(Secret, secret.id) is not None


async def test_a_config_used_by_one_service_is_not_removed_then_is_once_unused() -> None:
    store = new_store()
    config = await create_config(store, ConfigSpec(name="conf", data=b"x"))
    await add_service(store, "web", configs=(config.id,))
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_config(store, config.id)
    assert str(raised.value) == "config 'conf' is in use by the following service: web"
    web = store.view().find(Service, lambda s: s.spec.name == "web")[0]
    await store.update(lambda tx: tx.delete(Service, web.id))
    await remove_config(store, "conf")
    assert store.view().all(Config) == []


async def test_removing_an_unknown_secret_is_not_found() -> None:
    store = new_store()
    with pytest.raises(NotFoundError, match=r"^secret nope not found$"):
        await remove_secret(store, "nope")
