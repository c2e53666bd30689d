"""What a transaction becomes (one StoreBatch = one Raft entry) and what a snapshot holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from manager.store.objects import (
    Cluster,
    Config,
    Network,
    Node,
    Secret,
    Service,
    Stack,
    StoreObject,
    Task,
)


class Op(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class StoreAction:
    """One change. `obj.meta.version` is the version the transaction read (0 for a create);
    apply refuses an UPDATE whose version is no longer the stored one."""

    op: Op
    obj: StoreObject


@dataclass(frozen=True, slots=True)
class StoreBatch:
    actions: tuple[StoreAction, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """The whole store at `index`, each table sorted by id (identical bytes on every replica)."""

    index: int = 0
    clusters: tuple[Cluster, ...] = ()
    nodes: tuple[Node, ...] = ()
    services: tuple[Service, ...] = ()
    tasks: tuple[Task, ...] = ()
    networks: tuple[Network, ...] = ()
    secrets: tuple[Secret, ...] = ()
    configs: tuple[Config, ...] = ()
    stacks: tuple[Stack, ...] = ()
