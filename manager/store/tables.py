"""The tables: what kind of object each holds, its unique name, its secondary indexes.

A table keeps its objects by id and maintains its indexes on every put/delete. Indexes map a
key to the ids that have it (a dict used as an ordered set, so results come out in the order
objects were written, identically on every replica).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field

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

# index names
BY_SERVICE = "service"
BY_NODE = "node"
BY_SLOT = "slot"
BY_ROLE = "role"
BY_HOSTNAME = "hostname"


def _task_indexes(t: Task) -> dict[str, Hashable]:
    return {BY_SERVICE: t.service_id, BY_NODE: t.node_id, BY_SLOT: (t.service_id, t.slot)}


def _node_indexes(n: Node) -> dict[str, Hashable]:
    return {BY_ROLE: n.role, BY_HOSTNAME: n.description.hostname}


@dataclass(frozen=True)
class TableDef:
    kind: str  # singular, as users read it in messages: "service"
    name: Callable[[StoreObject], str] | None  # the unique name, if the table has one
    indexes: Callable[[StoreObject], Mapping[str, Hashable]] | None = None


def _spec_name(obj: StoreObject) -> str:
    if isinstance(obj, Task):  # tasks have no spec name
        return ""
    return obj.spec.name


def _indexes_of(
    cls: type, fn: Callable[..., Mapping[str, Hashable]]
) -> Callable[[StoreObject], Mapping[str, Hashable]]:
    def indexes(obj: StoreObject) -> Mapping[str, Hashable]:
        assert isinstance(obj, cls)
        return fn(obj)

    return indexes


TABLES: dict[type, TableDef] = {
    Cluster: TableDef("cluster", _spec_name),
    Node: TableDef("node", None, _indexes_of(Node, _node_indexes)),
    Service: TableDef("service", _spec_name),
    Task: TableDef("task", None, _indexes_of(Task, _task_indexes)),
    Network: TableDef("network", _spec_name),
    Secret: TableDef("secret", _spec_name),
    Config: TableDef("config", _spec_name),
    Stack: TableDef("stack", _spec_name),
}


def table_def(cls: type) -> TableDef:
    try:
        return TABLES[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a store object") from None


def name_key(name: str) -> str:
    """Names are unique case-insensitively, like swarmkit's name index."""
    return name.lower()


@dataclass
class Table:
    definition: TableDef
    objects: dict[str, StoreObject] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # name_key -> id
    index: dict[tuple[str, Hashable], dict[str, None]] = field(default_factory=dict)

    def name_of(self, obj: StoreObject) -> str | None:
        """The object's unique name, or None if the table has none or the name is empty."""
        fn = self.definition.name
        return name_key(fn(obj)) if fn is not None and fn(obj) else None

    def keys_of(self, obj: StoreObject) -> Iterator[tuple[str, Hashable]]:
        fn = self.definition.indexes
        if fn is not None:
            yield from fn(obj).items()

    def put(self, obj: StoreObject) -> StoreObject | None:
        old = self.objects.get(obj.id)
        if old is not None:
            self._unindex(old)
        self.objects[obj.id] = obj
        name = self.name_of(obj)
        if name is not None:
            self.names[name] = obj.id
        for key in self.keys_of(obj):
            self.index.setdefault(key, {})[obj.id] = None
        return old

    def delete(self, id: str) -> StoreObject | None:
        old = self.objects.pop(id, None)
        if old is not None:
            self._unindex(old)
        return old

    def _unindex(self, obj: StoreObject) -> None:
        name = self.name_of(obj)
        if name is not None and self.names.get(name) == obj.id:
            del self.names[name]
        for key in self.keys_of(obj):
            ids = self.index.get(key)
            if ids is not None:
                ids.pop(obj.id, None)
                if not ids:
                    del self.index[key]

    def lookup(self, index: str, key: Hashable) -> list[StoreObject]:
        return [self.objects[i] for i in self.index.get((index, key), ())]


def new_tables() -> dict[type, Table]:
    return {cls: Table(d) for cls, d in TABLES.items()}
