"""The allocator loop: the leader's reconciler that gives networks, services, tasks and nodes
their addresses, and takes them back.

    start ─▶ wait for the Cluster object ─▶ Allocations.restore(store, reserved=routes())
    store.watch(Cluster, Network, Service, Task, Node) ─▶ note(event):
          removed network/service/task/node ─▶ release what it held (memory only)
          anything else ─▶ its id is dirty
          ResetEvent (snapshot restored) ─▶ restore again, everything dirty
    pass: reconcile.allocate(alloc, view, dirty) ─▶ objects to write
          ▼
    write: chunks of `batch_size` objects, ONE store.update per chunk; each object's
           allocation fields copied onto the object as it is now (write-through: memory and
           store agree once the write commits); an object deleted meanwhile: release it

Tasks are created PENDING by the orchestrators; one that needs networks is left alone by the
scheduler until this loop wrote its attachments (rules.awaits_allocation). A task whose
allocation fails keeps PENDING with the error in status.err (written only when it changed)
and is retried when something is released or a network appears, never in a loop. A failed
write restores the state from the store after a delay: the write may or may not have landed.

Networks are removed by the control API directly, once unused (no pending_delete stage): the
removal event releases the subnet and VXLAN ID here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Sequence

from manager.allocator.errors import AllocatorError
from manager.allocator.reconcile import Dirty, allocate
from manager.allocator.state import Allocations
from manager.raft.clock import Clock
from manager.store import (
    Cluster,
    Event,
    Network,
    Node,
    ObjectEvent,
    ReadTx,
    ResetEvent,
    Service,
    Store,
    StoreObject,
    Task,
    TaskState,
    WriteTx,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000  # objects per store transaction (one Raft entry)
RETRY_DELAY = 1.0  # seconds before restoring and trying again after a failed write


class Allocator:
    """Run on the leader: `run()` until `stop()` (or cancellation)."""

    name = "allocator"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        reserved: Callable[[], Iterable[str]] = lambda: (),
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """`reserved` returns the prefixes no overlay subnet may overlap (the host's routes:
        routes.host_routes in production), read at every restore."""
        self._store = store
        self._clock = clock
        self._reserved = reserved
        self._batch_size = max(1, batch_size)
        self._alloc: Allocations | None = None
        self._dirty = Dirty(everything=True)
        self._waiting = Dirty()  # failed on their last attempt
        self._retry = False  # something was released: try the waiting ones again
        self._problems: dict[str, str] = {}  # logged once until they change
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # for tests

    @property
    def allocations(self) -> Allocations | None:
        """The state in memory (None before the cluster exists); for tests."""
        return self._alloc

    async def run(self) -> None:
        """Allocate until stop(). Can run again later (a new term as leader): each run
        restores from the store and starts with a full pass."""
        self._alloc = None
        try:
            async with asyncio.TaskGroup() as tg:
                self._task = tg.create_task(self._loop())
        finally:
            self._task = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    # -- events ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        with self._store.watch(Cluster, Network, Service, Task, Node) as watch:
            while True:
                for event in watch.drain():
                    self._note(event)
                if self._alloc is None:
                    self._restore()
                if self._alloc is not None and self._needs_pass():
                    await self._pass()
                    continue
                self._note(await watch.get())

    def _restore(self) -> None:
        view = self._store.view()
        cluster = view.cluster()
        if cluster is None:
            return  # swarm init writes it just after this manager became leader
        self._alloc = Allocations.restore(
            cluster,
            view.all(Network),
            view.all(Service),
            view.all(Task),
            view.all(Node),
            reserved=self._reserved_prefixes(view),
        )
        for conflict in self._alloc.conflicts:
            log.warning("allocator: cannot take back an allocation: %s", conflict)
        self._dirty = Dirty(everything=True)
        self._waiting = Dirty()
        self._retry = False

    def _reserved_prefixes(self, view: ReadTx) -> list[str]:
        """This manager's routes and every node's, as its description reports them."""
        prefixes = list(self._reserved())
        for node in view.all(Node):
            prefixes.extend(node.description.routes)
        return list(dict.fromkeys(prefixes))

    def _needs_pass(self) -> bool:
        return bool(self._dirty) or (self._retry and bool(self._waiting))

    def _note(self, event: Event) -> None:
        if isinstance(event, ResetEvent):
            self._alloc = None  # the store was replaced: rebuild from it
            return
        if not isinstance(event, ObjectEvent) or self._alloc is None:
            return  # without a state yet, the restore reads the store as it is then
        obj = event.obj
        if event.new is None:
            self._removed(obj)
        elif isinstance(obj, Network):
            self._dirty.networks.add(obj.id)
        elif isinstance(obj, Service):
            self._dirty.services.add(obj.id)
        elif isinstance(obj, Task):
            self._dirty.tasks.add(obj.id)
        elif isinstance(obj, Node):
            self._dirty.nodes.add(obj.id)

    def _removed(self, obj: StoreObject) -> None:
        assert self._alloc is not None
        freed = False
        try:
            if isinstance(obj, Network):
                freed = self._alloc.release_network(obj.id)
                self._dirty.everything = True  # nodes and tasks may refer to it (ingress)
            elif isinstance(obj, Service):
                freed = self._alloc.release_service(obj)
            elif isinstance(obj, Task):
                freed = self._alloc.release_task(obj)
            elif isinstance(obj, Node):
                freed = self._alloc.release_node(obj)
        except AllocatorError as e:  # an unreadable record: nothing of it is held
            log.warning("allocator: cannot release %s %s: %s", type(obj).__name__, obj.id, e)
        self._retry = self._retry or freed

    # -- a pass ----------------------------------------------------------------------------

    async def _pass(self) -> None:
        assert self._alloc is not None
        self.passes += 1
        dirty, self._dirty = self._dirty, Dirty()
        view = self._store.view()
        self._alloc.pool.set_reserved(self._reserved_prefixes(view))
        if self._retry:
            dirty.update(self._waiting)
            self._retry = False
        outcome = allocate(self._alloc, view, dirty)
        self._waiting.discard(outcome.considered)
        self._waiting.update(outcome.failed)
        self._retry = outcome.released
        self._log_problems(outcome.problems)
        for start in range(0, len(outcome.writes), self._batch_size):
            chunk = outcome.writes[start : start + self._batch_size]
            try:
                gone = await self._store.update(functools.partial(_write, chunk=chunk))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # NotLeader, ProposalLost, StoreError: start over
                log.warning("allocator could not write %d objects: %s", len(chunk), e)
                self._alloc = None
                await self._clock.sleep(RETRY_DELAY)
                return
            for obj in gone:
                self._removed(obj)

    def _log_problems(self, problems: dict[str, str]) -> None:
        for what, error in problems.items():
            if self._problems.get(what) != error:
                log.warning("allocator: %s: %s", what, error)
        self._problems = dict(problems)


def _write(tx: WriteTx, chunk: Sequence[StoreObject]) -> list[StoreObject]:
    """Copy each object's allocation fields onto the object as it is now; the objects that
    were deleted meanwhile (their allocations are released by the caller)."""
    gone: list[StoreObject] = []
    for obj in chunk:
        current = tx.get(type(obj), obj.id)
        if current is None:
            gone.append(obj)
        else:
            tx.update(_merge(current, obj))
    return gone


def _merge(current: StoreObject, allocated: StoreObject) -> StoreObject:
    if isinstance(current, Network) and isinstance(allocated, Network):
        return dataclasses.replace(
            current,
            subnet=allocated.subnet,
            gateway=allocated.gateway,
            vxlan_id=allocated.vxlan_id,
        )
    if isinstance(current, Service) and isinstance(allocated, Service):
        return dataclasses.replace(current, endpoint=allocated.endpoint)
    if isinstance(current, Node) and isinstance(allocated, Node):
        return dataclasses.replace(current, attachments=allocated.attachments)
    if isinstance(current, Task) and isinstance(allocated, Task):
        status = current.status
        if status.state < TaskState.ASSIGNED:  # the error is about getting there
            status = dataclasses.replace(status, err=allocated.status.err)
        return dataclasses.replace(
            current, networks=allocated.networks, endpoint=allocated.endpoint, status=status
        )
    raise TypeError(f"the allocator does not write {type(current).__name__} objects")
