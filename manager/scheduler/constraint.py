"""Placement constraints: `KEY==VALUE` / `KEY!=VALUE`, parsed once, matched against nodes.

Keys, as in Docker: node.id, node.hostname, node.role, node.platform.os, node.platform.arch,
node.labels.<label> (the node's spec labels) and engine.labels.<label> (the labels the
engine reports). Key prefixes and values compare case-insensitively, label names exactly, like
swarmkit. A missing attribute or label matches the empty value: `==` fails, `!=` passes.

Unlike swarmkit, an unknown key is a parse error rather than a constraint no node satisfies:
`service create` can say so before any task waits forever.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from manager.scheduler.errors import ConstraintError
from manager.store import Node

NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."

_KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
# Values must not contain operator characters (<, >, =, !, ~) so that future operators stay
# possible; the same set swarmkit allows.
_VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)

_ATTRIBUTES: dict[str, Callable[[Node], str]] = {
    "node.id": lambda n: n.id,
    "node.hostname": lambda n: n.description.hostname,
    "node.role": lambda n: n.role.value,
    "node.platform.os": lambda n: n.description.platform.os,
    "node.platform.arch": lambda n: n.description.platform.architecture,
}
_KNOWN = ", ".join([*_ATTRIBUTES, NODE_LABEL_PREFIX + "<label>", ENGINE_LABEL_PREFIX + "<label>"])


@dataclass(frozen=True, slots=True)
class Constraint:
    key: str  # as written (label names keep their case)
    equal: bool  # == (True) or != (False)
    value: str

    def matches(self, node: Node) -> bool:
        found = _value_of(self.key, node).casefold() == self.value.casefold()
        return found if self.equal else not found

    def __str__(self) -> str:
        return f"{self.key}{'==' if self.equal else '!='}{self.value}"


def _value_of(key: str, node: Node) -> str:
    lowered = key.lower()
    if lowered.startswith(NODE_LABEL_PREFIX):
        return node.spec.labels.get(key[len(NODE_LABEL_PREFIX) :], "")
    if lowered.startswith(ENGINE_LABEL_PREFIX):
        return node.description.engine.labels.get(key[len(ENGINE_LABEL_PREFIX) :], "")
    return _ATTRIBUTES[lowered](node)


def parse_constraint(text: str) -> Constraint:
    """One `KEY==VALUE` or `KEY!=VALUE`. Raises ConstraintError saying what to fix."""
    for op, equal in (("==", True), ("!=", False)):
        if op not in text:
            continue
        raw_key, raw_value = text.split(op, 1)
        key, value = raw_key.strip(), raw_value.strip()
        if not _KEY.match(key):
            raise ConstraintError(text, f"key {key!r} is not a valid key; use one of {_KNOWN}")
        lowered = key.lower()
        is_label = any(
            lowered.startswith(p) and len(key) > len(p)
            for p in (NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX)
        )
        if not is_label and lowered not in _ATTRIBUTES:
            raise ConstraintError(text, f"unknown key {key!r}; use one of {_KNOWN}")
        if not _VALUE.match(value):
            raise ConstraintError(
                text, f"value {value!r} is empty or holds a character like <, >, =, ! or ~"
            )
        return Constraint(key, equal, value)
    raise ConstraintError(text, "expected KEY==VALUE or KEY!=VALUE")


def parse_constraints(texts: Iterable[str]) -> tuple[Constraint, ...]:
    """All of a service's constraints; the first bad one raises ConstraintError."""
    return _parse_all(tuple(texts))


@functools.lru_cache(maxsize=1024)
def _parse_all(texts: tuple[str, ...]) -> tuple[Constraint, ...]:
    # Cached: every task of a service carries the same tuple, and the filter parses per check.
    return tuple(parse_constraint(t) for t in texts)


def node_matches(constraints: Iterable[Constraint], node: Node) -> bool:
    return all(c.matches(node) for c in constraints)
