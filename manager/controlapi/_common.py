"""Helpers the per-kind modules share: store errors as Control errors, the in-use check."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from manager.controlapi.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from manager.store import (
    NameConflict,
    NotFound,
    ReadTx,
    SequenceError,
    Service,
    Store,
    WriteTx,
)

T = TypeVar("T")


async def write(store: Store, fn: Callable[[WriteTx], T]) -> T:
    """store.update(fn), with the store's refusals turned into Control errors. Raft errors
    (NotLeader, ProposalLost) pass through for the forwarding wrapper."""
    try:
        return await store.update(fn)
    except NameConflict as e:
        raise AlreadyExistsError(f"{e.kind} {e.name} already exists") from None
    except SequenceError as e:
        # "update out of sequence: node X is at version 7 but the update was based on ..."
        raise FailedPreconditionError(str(e)) from None
    except NotFound as e:  # removed between our read and the commit
        raise NotFoundError(f"{e.kind} {e.id} not found") from None


def refuse_if_used(view: ReadTx, kind: str, name: str, uses: Callable[[Service], bool]) -> None:
    """Docker's "secret 'x' is in use by the following service: web" (services, not tasks:
    a service's tasks are made from its template)."""
    users = sorted(s.spec.name for s in view.all(Service) if uses(s))
    if users:
        noun = "service" if len(users) == 1 else "services"
        raise FailedPreconditionError(
            f"{kind} '{name}' is in use by the following {noun}: {', '.join(users)}"
        )
