"""Configs: create, inspect, list, remove. Like secrets, but their data is not secret (Docker
returns it) and it is immutable too."""

from __future__ import annotations

from manager.controlapi._common import refuse_if_used, write
from manager.controlapi.refs import resolve_config
from manager.controlapi.validation import validate_data, validate_name
from manager.store import Config, ConfigSpec, Store, WriteTx


async def create_config(store: Store, spec: ConfigSpec) -> Config:
    """A new config; refuses a bad name, empty or too much data, a taken name."""
    validate_name(spec.name)
    validate_data("config", spec.data)
    created = await write(store, lambda tx: tx.create(Config(spec=spec)))
    return store.view().get(Config, created.id) or created


def get_config(store: Store, ref: str) -> Config:
    return resolve_config(store.view(), ref)


def list_configs(store: Store) -> list[Config]:
    return store.view().all(Config)


async def remove_config(store: Store, ref: str) -> None:
    """Refused while a service's task template refers to the config."""

    def remove(tx: WriteTx) -> None:
        config = resolve_config(tx, ref)
        refuse_if_used(
            tx,
            "config",
            config.spec.name,
            lambda s: any(r.config_id == config.id for r in s.spec.task_template.container.configs),
        )
        tx.delete(Config, config.id)

    await write(store, remove)
