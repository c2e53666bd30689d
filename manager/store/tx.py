"""Read views and write transactions over the store's tables.

A ReadTx reads the live tables without copying them. It is consistent because the store only
changes on the event loop between awaits (a batch is applied in one synchronous step), so a
view must be used before the next await; one used later raises StaleView instead of mixing
old and new state.

A WriteTx layers its own changes over a view: reads inside the transaction see them. Its net
effect per object becomes one StoreAction of the batch, and the same checks run again when the
batch is applied (see store.py), because only then is the state final.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TypeVar, cast

from manager.store.batch import Op, StoreAction, StoreBatch
from manager.store.errors import (
    AlreadyExists,
    InvalidObject,
    NameConflict,
    NotFound,
    SequenceError,
    StaleView,
    TransactionClosed,
)
from manager.store.objects import Cluster, Meta, Node, NodeRole, StoreObject, Task
from manager.store.tables import (
    BY_HOSTNAME,
    BY_NODE,
    BY_ROLE,
    BY_SERVICE,
    BY_SLOT,
    Table,
    name_key,
    table_def,
)

ObjT = TypeVar("ObjT", bound=StoreObject)


class StoreState:
    """The tables and the index of the last applied batch; owned by the Store."""

    def __init__(self, tables: dict[type, Table], index: int = 0) -> None:
        self.tables = tables
        self.index = index
        self.generation = 0  # bumped on every change; views opened before it are stale


class ReadTx:
    def __init__(self, state: StoreState) -> None:
        self._state = state
        self._generation = state.generation
        self._opened_at = state.index

    @property
    def index(self) -> int:
        """The index (Raft index) of the last batch applied when this view was opened."""
        return self._opened_at

    # -- the primitives a WriteTx overlays ---------------------------------------------------

    def _table(self, cls: type) -> Table:
        if self._state.generation != self._generation:
            raise StaleView(self._opened_at, self._state.index)
        table_def(cls)
        return self._state.tables[cls]

    def _get(self, cls: type, id: str) -> StoreObject | None:
        return self._table(cls).objects.get(id)

    def _all(self, cls: type) -> list[StoreObject]:
        return list(self._table(cls).objects.values())

    def _lookup(self, cls: type, index: str, key: Hashable) -> list[StoreObject]:
        return self._table(cls).lookup(index, key)

    def _by_name(self, cls: type, key: str) -> StoreObject | None:
        table = self._table(cls)
        id = table.names.get(key)
        return None if id is None else table.objects[id]

    # -- reads -------------------------------------------------------------------------------

    def get(self, cls: type[ObjT], id: str) -> ObjT | None:
        return cast(ObjT | None, self._get(cls, id))

    def get_by_name(self, cls: type[ObjT], name: str) -> ObjT | None:
        """By unique name, case-insensitively (tables without unique names: always None)."""
        return cast(ObjT | None, self._by_name(cls, name_key(name)) if name else None)

    def all(self, cls: type[ObjT]) -> list[ObjT]:
        return cast(list[ObjT], self._all(cls))

    def find(self, cls: type[ObjT], predicate: Callable[[ObjT], bool]) -> list[ObjT]:
        return [o for o in self.all(cls) if predicate(o)]

    def cluster(self) -> Cluster | None:
        """The cluster object (there is one, named "default", once the swarm is initialised)."""
        clusters = self.all(Cluster)
        return clusters[0] if clusters else None

    def tasks_by_service(self, service_id: str) -> list[Task]:
        return cast(list[Task], self._lookup(Task, BY_SERVICE, service_id))

    def tasks_by_node(self, node_id: str) -> list[Task]:
        return cast(list[Task], self._lookup(Task, BY_NODE, node_id))

    def tasks_by_slot(self, service_id: str, slot: int) -> list[Task]:
        return cast(list[Task], self._lookup(Task, BY_SLOT, (service_id, slot)))

    def nodes_by_role(self, role: NodeRole) -> list[Node]:
        """By observed role (`Node.role`, the node's certificate)."""
        return cast(list[Node], self._lookup(Node, BY_ROLE, role))

    def nodes_by_hostname(self, hostname: str) -> list[Node]:
        return cast(list[Node], self._lookup(Node, BY_HOSTNAME, hostname))


class Overlay(ReadTx):
    """A view plus staged changes (id -> new object, or None for removed), in first-touch
    order. Used by WriteTx on the proposer and by apply on every manager."""

    def __init__(self, state: StoreState) -> None:
        super().__init__(state)
        self.staged: dict[tuple[type, str], StoreObject | None] = {}

    def _get(self, cls: type, id: str) -> StoreObject | None:
        key = (cls, id)
        if key in self.staged:
            self._table(cls)  # still checks staleness
            return self.staged[key]
        return super()._get(cls, id)

    def _all(self, cls: type) -> list[StoreObject]:
        base = [o for o in super()._all(cls) if (cls, o.id) not in self.staged]
        return base + self._staged_of(cls, lambda o: True)

    def _lookup(self, cls: type, index: str, key: Hashable) -> list[StoreObject]:
        table = self._table(cls)
        base = [o for o in table.lookup(index, key) if (cls, o.id) not in self.staged]
        return base + self._staged_of(cls, lambda o: (index, key) in set(table.keys_of(o)))

    def _by_name(self, cls: type, key: str) -> StoreObject | None:
        table = self._table(cls)
        for obj in self._staged_of(cls, lambda o: table.name_of(o) == key):
            return obj
        id = table.names.get(key)
        if id is None or (cls, id) in self.staged:
            return None
        return table.objects[id]

    def _staged_of(self, cls: type, keep: Callable[[StoreObject], bool]) -> list[StoreObject]:
        return [o for (c, _), o in self.staged.items() if c is cls and o is not None and keep(o)]

    def check(self, op: Op, obj: StoreObject) -> StoreObject | None:
        """Raise the error `op` on `obj` meets in this state; return the current object."""
        cls = type(obj)
        definition = table_def(cls)
        if not obj.id:
            raise InvalidObject(f"{definition.kind} has no id; give it one or let create() do")
        current = self._get(cls, obj.id)
        if op is Op.CREATE and current is not None:
            raise AlreadyExists(definition.kind, obj.id)
        if op is not Op.CREATE and current is None:
            raise NotFound(definition.kind, obj.id)
        if op is Op.UPDATE and current is not None and current.meta.version != obj.meta.version:
            raise SequenceError(definition.kind, obj.id, obj.meta.version, current.meta.version)
        if op is not Op.REMOVE:
            name = self._state.tables[cls].name_of(obj)
            owner = None if name is None else self._by_name(cls, name)
            if owner is not None and owner.id != obj.id and definition.name is not None:
                raise NameConflict(definition.kind, definition.name(obj), owner.id)
        return current

    def stage(self, obj: StoreObject) -> None:
        self.staged[(type(obj), obj.id)] = obj

    def stage_removal(self, cls: type, id: str) -> None:
        self.staged[(cls, id)] = None


class WriteTx(Overlay):
    """Handed to the function given to `Store.update()`; valid only while it runs."""

    def __init__(
        self, state: StoreState, *, now: Callable[[], datetime], new_id: Callable[[], str]
    ) -> None:
        super().__init__(state)
        self._now = now
        self._new_id = new_id
        self._open = True

    def _writable(self) -> None:
        if not self._open:
            raise TransactionClosed()

    def create(self, obj: ObjT) -> ObjT:
        """Add `obj` (given an id if it has none); returns it as written (version 0 until
        committed). Raises AlreadyExists, NameConflict."""
        self._writable()
        if not obj.id:
            obj = dataclasses.replace(obj, id=self._new_id())
        now = self._now()
        obj = dataclasses.replace(obj, meta=Meta(0, now, now))
        self.check(Op.CREATE, obj)
        self.stage(obj)
        return obj

    def update(self, obj: ObjT) -> ObjT:
        """Replace the stored object by `obj`, which must carry the version it was read at.
        Raises NotFound, SequenceError ("update out of sequence"), NameConflict."""
        self._writable()
        current = self.check(Op.UPDATE, obj)
        assert current is not None
        meta = Meta(current.meta.version, current.meta.created_at, self._now())
        obj = dataclasses.replace(obj, meta=meta)
        self.stage(obj)
        return obj

    def delete(self, cls: type[StoreObject], id: str) -> None:
        """Remove an object by id. Raises NotFound."""
        self._writable()
        current = self._get(cls, id)
        if current is None:
            raise NotFound(table_def(cls).kind, id)
        self.stage_removal(cls, id)

    def close(self) -> StoreBatch:
        """End the transaction: its net change per object, as one batch."""
        self._open = False
        actions: list[StoreAction] = []
        for (cls, id), obj in self.staged.items():
            base = self._state.tables[cls].objects.get(id)
            if obj is not None:
                actions.append(StoreAction(Op.CREATE if base is None else Op.UPDATE, obj))
            elif base is not None:
                actions.append(StoreAction(Op.REMOVE, base))
        return StoreBatch(tuple(actions))
