"""Shared pieces for the dispatcher and membership tests: a store, nodes, a gated proposer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from manager.store import (
    BatchResult,
    LocalProposer,
    Node,
    NodeSpec,
    Store,
    StoreBatch,
)


class Runs(Protocol):
    async def run(self) -> None: ...

    async def stop(self) -> None: ...


async def settle(rounds: int = 30) -> None:
    """Let every ready task run (no time passes: the clock is fake)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@asynccontextmanager
async def running(component: Runs) -> AsyncIterator[None]:
    task = asyncio.create_task(component.run())
    await settle()
    try:
        yield
    finally:
        await component.stop()
        await asyncio.wait_for(task, 5)


async def add_node(store: Store, node: Node) -> Node:
    return await store.update(lambda tx: tx.create(node))


def get(store: Store, node_id: str) -> Node:
    node = store.view().get(Node, node_id)
    assert node is not None
    return node


def node(node_id: str, **kwargs: object) -> Node:
    return Node(id=node_id, spec=NodeSpec(), **kwargs)  # type: ignore[arg-type]


class GatedProposer:
    """Applies locally, but each proposal waits for `release()`; records every batch."""

    def __init__(self, store: Store) -> None:
        self._local = LocalProposer(store)
        self.batches: list[StoreBatch] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def propose(self, batch: StoreBatch) -> BatchResult:
        self.batches.append(batch)
        await self.gate.wait()
        return await self._local.propose(batch)
