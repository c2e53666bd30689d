"""`ls --filter` as docker's daemon applies it (swarmkit controlapi: keys AND, values OR)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from proto import objects_pb2

from ._client import CliError

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")
SPEC_FILTERS = ("id", "label", "name")  # secrets and configs


def _check(filters: Mapping[str, list[str]], accepted: Sequence[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise CliError(f"invalid filter '{key}'")


def _labels_match(labels: Mapping[str, str], wanted: list[str]) -> bool:
    """`key` matches any value, `key=value` that value; all given labels must match."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _prefix(value: str, prefixes: list[str]) -> bool:
    return any(value.startswith(p) for p in prefixes)


def filter_nodes(
    nodes: Sequence[objects_pb2.Node], filters: Mapping[str, list[str]]
) -> list[objects_pb2.Node]:
    _check(filters, NODE_FILTERS)
    for role in filters.get("role", []):
        if role not in ("manager", "worker"):
            raise CliError(f"invalid role filter: '{role}'")
    for membership in filters.get("membership", []):
        if membership not in ("accepted", "pending"):
            raise CliError(f"invalid membership filter: '{membership}'")

    checks: dict[str, Callable[[objects_pb2.Node, list[str]], bool]] = {
        "id": lambda n, v: _prefix(n.id, v),
        "name": lambda n, v: _prefix(n.description.hostname, v),
        "role": lambda n, v: n.spec.role in v,
        # Nodes are admitted by their join token: every node in the store is accepted.
        "membership": lambda n, v: "accepted" in v,
        "label": lambda n, v: _labels_match(n.description.engine.labels, v),
        "node.label": lambda n, v: _labels_match(n.spec.labels, v),
    }
    return [n for n in nodes if all(checks[k](n, v) for k, v in filters.items())]


class _SpecObject(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def spec(self) -> objects_pb2.SecretSpec | objects_pb2.ConfigSpec: ...


_T = TypeVar("_T", bound=_SpecObject)


def filter_by_spec(objects: Sequence[_T], filters: Mapping[str, list[str]]) -> list[_T]:
    """Secrets or configs: id prefix, name prefix, label."""
    _check(filters, SPEC_FILTERS)
    out = []
    for obj in objects:
        if "id" in filters and not _prefix(obj.id, filters["id"]):
            continue
        if "name" in filters and not _prefix(obj.spec.name, filters["name"]):
            continue
        if "label" in filters and not _labels_match(obj.spec.labels, filters["label"]):
            continue
        out.append(obj)
    return out
