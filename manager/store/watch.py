"""Watch events: one ObjectEvent per object a batch changed, then one CommitEvent per batch;
a ResetEvent when the whole store was replaced from a snapshot (no per-object events then:
a watcher re-reads everything, as a new leader's reconcilers do on a full pass)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from manager.store.batch import Op
from manager.store.objects import StoreObject


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    op: Op  # CREATE (old is None), UPDATE, REMOVE (new is None)
    old: StoreObject | None
    new: StoreObject | None
    index: int  # the batch's index (Raft index)

    @property
    def obj(self) -> StoreObject:
        """The object as it is now (as it was last, for a removal)."""
        obj = self.new if self.new is not None else self.old
        assert obj is not None
        return obj


@dataclass(frozen=True, slots=True)
class CommitEvent:
    index: int


@dataclass(frozen=True, slots=True)
class ResetEvent:
    index: int


Event = ObjectEvent | CommitEvent | ResetEvent


class Watch:
    """A subscription: an async iterator of events (`async for event in watch`), ending once
    closed. Events queue without bound until read; `drain()` takes what is queued now."""

    def __init__(
        self,
        broker: Broker,
        kinds: tuple[type, ...],
        predicate: Callable[[ObjectEvent], bool] | None,
    ) -> None:
        self._broker = broker
        self._kinds = kinds
        self._predicate = predicate
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False

    def wants(self, event: Event) -> bool:
        if not isinstance(event, ObjectEvent):
            return True
        if self._kinds and not isinstance(event.obj, self._kinds):
            return False
        return self._predicate is None or self._predicate(event)

    def _put(self, event: Event) -> None:
        if not self._closed and self.wants(event):
            self._queue.put_nowait(event)

    def drain(self) -> list[Event]:
        out: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is None:  # closed: leave the end marker for get()
                self._queue.put_nowait(None)
                break
            out.append(event)
        return out

    async def get(self) -> Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # stay closed for later readers
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._broker.unsubscribe(self)
            self._queue.put_nowait(None)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Broker:
    def __init__(self) -> None:
        self._watches: list[Watch] = []

    def subscribe(
        self, kinds: tuple[type, ...], predicate: Callable[[ObjectEvent], bool] | None
    ) -> Watch:
        watch = Watch(self, kinds, predicate)
        self._watches.append(watch)
        return watch

    def unsubscribe(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.remove(watch)

    def publish(self, events: list[Event]) -> None:
        for watch in list(self._watches):
            for event in events:
                watch._put(event)
