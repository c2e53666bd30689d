"""How a transaction's batch reaches every manager: two backends behind one small protocol.

LocalProposer applies at once with the next local index (unit tests, a manager without Raft).
RaftProposer encodes the batch and proposes it through the Raft driver; the driver hands the
committed entry to `Store.apply` on every manager, and the proposer gets that call's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from manager.store import codec
from manager.store.batch import StoreBatch
from manager.store.errors import StoreError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What applying a batch gave: its index, and the error that refused it (nothing of the
    batch was applied then). An error is a result, not an exception, so that the Raft driver
    does not log every name conflict as a failure; the proposer raises it."""

    index: int
    error: StoreError | None = None


class BatchApplier(Protocol):
    @property
    def index(self) -> int: ...

    def apply_batch(self, batch: StoreBatch, index: int) -> BatchResult: ...


class Proposer(Protocol):
    async def propose(self, batch: StoreBatch) -> BatchResult: ...


class LocalProposer:
    def __init__(self, applier: BatchApplier) -> None:
        self._applier = applier

    async def propose(self, batch: StoreBatch) -> BatchResult:
        return self._applier.apply_batch(batch, self._applier.index + 1)


class ProposeDriver(Protocol):
    """The part of manager.raft.driver.RaftDriver the store uses."""

    async def propose(self, data: bytes) -> object: ...


class RaftProposer:
    """Raises what the driver raises (NotLeader, ProposalLost): the caller retries or forwards
    the request to the leader."""

    def __init__(self, driver: ProposeDriver) -> None:
        self._driver = driver

    async def propose(self, batch: StoreBatch) -> BatchResult:
        result = await self._driver.propose(codec.encode_batch(batch))
        if not isinstance(result, BatchResult):
            raise StoreError(
                f"the Raft driver returned {type(result).__name__} for a store batch; "
                "the driver's state machine must be this store"
            )
        return result
