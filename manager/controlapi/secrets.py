"""Secrets: create, inspect, list, remove. Their data goes in and never comes back out:
every function here returns secrets with empty data (tasks get it from the dispatcher)."""

from __future__ import annotations

import dataclasses

from manager.controlapi._common import refuse_if_used, write
from manager.controlapi.refs import resolve_secret
from manager.controlapi.validation import validate_data, validate_name
from manager.store import Secret, SecretSpec, Store, WriteTx


def redact_secret(secret: Secret) -> Secret:
    return dataclasses.replace(secret, spec=dataclasses.replace(secret.spec, data=b""))


async def create_secret(store: Store, spec: SecretSpec) -> Secret:
    """A new secret (its data can never be changed: create another and switch services to
    it). Refuses a bad name, empty or too much data, a taken name."""
    validate_name(spec.name)
    validate_data("secret", spec.data)
    created = await write(store, lambda tx: tx.create(Secret(spec=spec)))
    view = store.view()
    return redact_secret(view.get(Secret, created.id) or created)


def get_secret(store: Store, ref: str) -> Secret:
    return redact_secret(resolve_secret(store.view(), ref))


def list_secrets(store: Store) -> list[Secret]:
    return [redact_secret(s) for s in store.view().all(Secret)]


async def remove_secret(store: Store, ref: str) -> None:
    """Refused while a service's task template refers to the secret."""

    def remove(tx: WriteTx) -> None:
        secret = resolve_secret(tx, ref)
        refuse_if_used(
            tx,
            "secret",
            secret.spec.name,
            lambda s: any(r.secret_id == secret.id for r in s.spec.task_template.container.secrets),
        )
        tx.delete(Secret, secret.id)

    await write(store, remove)
