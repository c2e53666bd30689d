"""Resolving what a user typed (`shoal node rm web-1`) to one object, as Docker does.

    ref -> exact id? -> name (a node's hostname)? -> unique id prefix? -> not found

Several objects with the name, or several ids with the prefix, is an error that names the
candidates, so the user can retype with more characters of the id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from manager.controlapi.errors import InvalidArgumentError, NotFoundError
from manager.store import Config, Node, ReadTx, Secret, StoreObject

ObjT = TypeVar("ObjT", bound=StoreObject)


def resolve(kind: str, objects: Sequence[ObjT], ref: str, name_of: Callable[[ObjT], str]) -> ObjT:
    """The one object of `objects` that `ref` names. Names compare case-insensitively (names
    are unique that way in the store, like swarmkit's name index); ids exactly."""
    if not ref:
        raise InvalidArgumentError(f"{kind} ID or name must be provided")
    for obj in objects:
        if obj.id == ref:
            return obj
    wanted = ref.lower()
    by_name = [o for o in objects if name_of(o) and name_of(o).lower() == wanted]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise _ambiguous(kind, ref, by_name, "give the ID instead of the name")
    by_prefix = [o for o in objects if o.id.startswith(ref)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    if by_prefix:
        raise _ambiguous(kind, ref, by_prefix, "give more characters of the ID")
    raise NotFoundError(f"{kind} {ref} not found")


def _ambiguous(kind: str, ref: str, matches: Sequence[StoreObject], fix: str) -> Exception:
    ids = ", ".join(sorted(o.id for o in matches))
    return InvalidArgumentError(
        f"{kind} {ref} is ambiguous ({len(matches)} matches found: {ids}); {fix}"
    )


def node_name(node: Node) -> str:
    """What Docker matches a node's name against: its spec name if set, else its hostname."""
    return node.spec.name or node.description.hostname


def resolve_node(view: ReadTx, ref: str) -> Node:
    return resolve("node", view.all(Node), ref, node_name)


def resolve_secret(view: ReadTx, ref: str) -> Secret:
    return resolve("secret", view.all(Secret), ref, lambda s: s.spec.name)


def resolve_config(view: ReadTx, ref: str) -> Config:
    return resolve("config", view.all(Config), ref, lambda c: c.spec.name)
