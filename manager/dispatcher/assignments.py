"""Assignment streams: each node gets its tasks, the secrets/configs they use and the peer
tables (manager/dispatcher/networks.py) of the networks it needs, nothing else.

    stream(node) ─▶ view_and_watch(Task, Secret, Config, Network, Service, Node)
        │  node_assignments(view, node) ─▶ COMPLETE (sequence 1)
        ▼
    events: a task of this node, a secret/config it was sent, any network; with views also
            any service or node, and other nodes' tasks on its networks ─▶ dirty
    commit: node_assignments(view, node) ─▶ diff(sent, now) ─▶ INCREMENTAL (sequence n+1)

Level-triggered: each commit that touched the node recomputes its whole set from the view and
sends the difference, so a missed or coalesced event cannot leave the node out of date. A task
goes to its node once the scheduler assigned it (ASSIGNED or later, like swarmkit: below that
it may not fit the node, and its secrets must not leak there). A change the node itself caused
(its own status report) is not sent back. Secrets and configs go only with tasks that may
still run (not terminal) and are removed once no such task references them; so do network
views (plus ingress, always), which go before the tasks that use them.

Runs on the leader only: `run()` while leading; `stop()` ends every open stream, which the
servicer turns into UNAVAILABLE so the agent follows the new leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from manager.dispatcher.errors import DispatcherNotLeader, UnknownNode
from manager.dispatcher.networks import NetworkView, network_views
from manager.store import (
    CommitEvent,
    Config,
    Meta,
    Network,
    Node,
    ObjectEvent,
    ReadTx,
    ResetEvent,
    Secret,
    Service,
    Store,
    Task,
    TaskState,
    TaskStatus,
    Watch,
)

Assigned = Task | Secret | Config | NetworkView


class ChangeAction(enum.Enum):
    UPDATE = "update"  # add or replace
    REMOVE = "remove"  # no longer assigned; the object carries only its id


@dataclass(frozen=True, slots=True)
class AssignmentChange:
    action: ChangeAction
    obj: Assigned  # a REMOVE of a network: NetworkView(Network(id=...))


@dataclass(frozen=True, slots=True)
class AssignmentBatch:
    """One message of a stream: the complete set (`complete`) or changes on top of the
    previous message (`sequence - 1`)."""

    complete: bool
    sequence: int
    changes: tuple[AssignmentChange, ...]


@dataclass(frozen=True, slots=True)
class AssignmentSet:
    tasks: Mapping[str, Task]
    secrets: Mapping[str, Secret]
    configs: Mapping[str, Config]
    networks: Mapping[str, NetworkView] = field(default_factory=dict)


EMPTY = AssignmentSet({}, {}, {})


def node_assignments(view: ReadTx, node_id: str) -> AssignmentSet:
    """What `node_id` should hold now. Costs the node's tasks, plus a pass over the cluster's
    tasks when it needs a network view (see network_views)."""
    tasks = {t.id: t for t in view.tasks_by_node(node_id) if t.status.state >= TaskState.ASSIGNED}
    secrets: dict[str, Secret] = {}
    configs: dict[str, Config] = {}
    for task in tasks.values():
        if task.status.state.terminal:
            continue  # its container is gone or going: it needs no secrets
        spec = task.spec.container
        for sref in spec.secrets:
            secret = view.get(Secret, sref.secret_id)
            if secret is not None:
                secrets[secret.id] = secret
        for cref in spec.configs:
            config = view.get(Config, cref.config_id)
            if config is not None:
                configs[config.id] = config
    networks = network_views(view, node_id, tasks.values())
    return AssignmentSet(tasks, secrets, configs, networks)


def _stable(task: Task) -> Task:
    """A task without what changes when its node reports (status) or any write (meta)."""
    return dataclasses.replace(task, meta=Meta(), status=TaskStatus())


def _task_changed(old: Task, new: Task) -> bool:
    if new.status.state <= TaskState.ASSIGNED:
        return old != new
    return _stable(old) != _stable(new)


def diff(sent: AssignmentSet, now: AssignmentSet) -> tuple[AssignmentChange, ...]:
    """The changes that turn `sent` into `now`: dependencies and networks before the tasks
    that use them, removed tasks before the dependencies and networks they used."""
    update, remove = ChangeAction.UPDATE, ChangeAction.REMOVE
    out: list[AssignmentChange] = []
    for new_deps, old_deps in ((now.secrets, sent.secrets), (now.configs, sent.configs)):
        for dep_id, dep in new_deps.items():
            old_dep = old_deps.get(dep_id)
            if old_dep is None or old_dep.meta.version != dep.meta.version:
                out.append(AssignmentChange(update, dep))
    for network_id, network in now.networks.items():
        if sent.networks.get(network_id) != network:
            out.append(AssignmentChange(update, network))
    for task_id, task in now.tasks.items():
        old = sent.tasks.get(task_id)
        if old is None or _task_changed(old, task):
            out.append(AssignmentChange(update, task))
    out.extend(AssignmentChange(remove, Task(id=i)) for i in sent.tasks if i not in now.tasks)
    out.extend(AssignmentChange(remove, Secret(id=i)) for i in sent.secrets if i not in now.secrets)
    out.extend(AssignmentChange(remove, Config(id=i)) for i in sent.configs if i not in now.configs)
    out.extend(
        AssignmentChange(remove, NetworkView(Network(id=i)))
        for i in sent.networks
        if i not in now.networks
    )
    return tuple(out)


class AssignmentDispatcher:
    """The leader's assignment streams, one per connected node."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._running = False
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        self._stopping.clear()
        self._running = True
        try:
            await self._stopping.wait()
        finally:
            self._running = False
            self._stopping.set()  # ends the open streams

    async def stop(self) -> None:
        self._running = False
        self._stopping.set()

    async def stream(self, node_id: str) -> AsyncIterator[AssignmentBatch]:
        """The node's assignments: COMPLETE, then INCREMENTAL. Raises DispatcherNotLeader when
        this manager does not (or no longer) lead, UnknownNode for a node not in the store."""
        if not self._running:
            raise DispatcherNotLeader()
        sent_ids: set[str] = set()  # secrets and configs
        sent_networks: set[str] = set()

        def touches(event: ObjectEvent) -> bool:
            obj = event.obj
            if isinstance(obj, Task):
                if node_id in (_node_of(event.old), _node_of(event.new)):
                    return True
                return not sent_networks.isdisjoint(_networks_of(event.old, event.new))
            if isinstance(obj, Network):
                return True  # rare; one may just have been allocated for a task of ours
            if isinstance(obj, Service | Node):
                return bool(sent_networks)  # names, VIPs, ports; node addresses
            return obj.id in sent_ids

        view, watch = self._store.view_and_watch(
            Task, Secret, Config, Network, Service, Node, predicate=touches
        )
        with watch:
            if view.get(Node, node_id) is None:
                raise UnknownNode(node_id)
            sent = node_assignments(view, node_id)
            sent_ids.update(sent.secrets, sent.configs)
            sent_networks.update(sent.networks)
            sequence = 1
            yield AssignmentBatch(True, sequence, diff(EMPTY, sent))
            dirty = False
            while True:
                event = await self._next(watch)
                if isinstance(event, ObjectEvent | ResetEvent):
                    dirty = True
                    continue
                if not dirty:
                    continue
                dirty = False
                now = node_assignments(self._store.view(), node_id)
                changes = diff(sent, now)
                sent = now
                sent_ids.clear()
                sent_ids.update(sent.secrets, sent.configs)
                sent_networks.clear()
                sent_networks.update(sent.networks)
                if changes:
                    sequence += 1
                    yield AssignmentBatch(False, sequence, changes)

    async def _next(self, watch: Watch) -> ObjectEvent | CommitEvent | ResetEvent:
        get = asyncio.ensure_future(watch.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (get, stop):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await fut
        if not get.done() or get.cancelled() or get.exception() is not None:
            raise DispatcherNotLeader()  # stopped (or the watch closed): leadership moved
        return get.result()


def _node_of(obj: object) -> str:
    return obj.node_id if isinstance(obj, Task) else ""


def _networks_of(*objs: object) -> set[str]:
    return {a.network_id for t in objs if isinstance(t, Task) for a in t.networks}
