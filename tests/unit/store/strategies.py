"""Hypothesis strategies for every store dataclass, derived from its type hints (like the codec)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

_cache: dict[object, st.SearchStrategy[object]] = {}


def strategy_for(hint: object) -> st.SearchStrategy[object]:
    if hint not in _cache:
        _cache[hint] = _build(hint)
    return _cache[hint]


def _build(hint: object) -> st.SearchStrategy[object]:
    if hint is type(None):
        return st.none()
    if isinstance(hint, types.UnionType):
        return st.one_of([strategy_for(a) for a in typing.get_args(hint)])
    origin = typing.get_origin(hint)
    if origin is tuple:
        return st.lists(strategy_for(typing.get_args(hint)[0]), max_size=3).map(tuple)
    if origin is Mapping:
        return st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            hints = typing.get_type_hints(hint)
            fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(hint)}
            return st.builds(hint, **fields)
        if issubclass(hint, enum.Enum):
            return st.sampled_from(list(hint))
    scalars: dict[object, st.SearchStrategy[object]] = {
        bool: st.booleans(),
        int: st.integers(min_value=0, max_value=2**62),
        str: st.text(max_size=10),
        bytes: st.binary(max_size=16),
        float: st.floats(min_value=0, max_value=1),
        datetime: st.datetimes(
            min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ),
        timedelta: st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
    }
    if hint in scalars:
        return scalars[hint]
    raise TypeError(f"no strategy for {hint!r}")


def objects_of(cls: type) -> st.SearchStrategy[object]:
    return strategy_for(cls)
