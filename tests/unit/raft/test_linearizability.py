"""The linearizability checker on hand-written histories: it must accept the good ones and,
more importantly, reject the bad ones (a checker that accepts everything proves nothing)."""

from __future__ import annotations

import pytest

from tests.unit.raft.linearizability import (
    KV_MODEL,
    CheckTooLong,
    KvInput,
    KvOutput,
    Model,
    Operation,
    check,
)

Op = Operation[KvInput, KvOutput]


def w(client: int, key: str, value: str, call: int, ret: int | None) -> Op:
    return Operation(client, KvInput(key, value), call, None, ret)


def r(client: int, key: str, seen: tuple[str, ...], call: int, ret: int) -> Op:
    return Operation(client, KvInput(key, None), call, seen, ret)


GOOD: dict[str, list[Op]] = {
    "sequential": [w(1, "k", "a", 0, 1), r(2, "k", ("a",), 2, 3), w(1, "k", "b", 4, 5)],
    "concurrent read sees the old value": [w(1, "k", "a", 0, 10), r(2, "k", (), 1, 2)],
    "concurrent read sees the new value": [w(1, "k", "a", 0, 10), r(2, "k", ("a",), 1, 2)],
    "concurrent writes in either order": [
        w(1, "k", "a", 0, 10),
        w(2, "k", "b", 1, 11),
        r(3, "k", ("b", "a"), 12, 13),
    ],
    "write that never returned took effect": [
        w(1, "k", "a", 0, None),
        r(2, "k", ("a",), 5, 6),
    ],
    "write that never returned did not take effect": [
        w(1, "k", "a", 0, None),
        r(2, "k", (), 5, 6),
        w(2, "k", "b", 7, 8),
        r(2, "k", ("b",), 9, 10),
    ],
    "keys are independent": [
        w(1, "x", "a", 0, 1),
        w(1, "y", "b", 2, 3),
        r(2, "x", ("a",), 4, 5),
        r(2, "y", ("b",), 4, 5),
    ],
    "equal times are concurrent": [w(1, "k", "a", 0, 5), r(2, "k", ("a",), 5, 6)],
}

BAD: dict[str, list[Op]] = {
    "stale read after the write returned": [w(1, "k", "a", 0, 1), r(2, "k", (), 2, 3)],
    "read of a value never written": [r(1, "k", ("z",), 0, 1)],
    "reads disagree on the order of concurrent writes": [
        w(1, "k", "a", 0, 10),
        w(2, "k", "b", 0, 10),
        r(3, "k", ("a", "b"), 11, 12),
        r(4, "k", ("b", "a"), 13, 14),
    ],
    "value seen then unseen": [
        w(1, "k", "a", 0, 100),
        r(2, "k", ("a",), 1, 2),
        r(3, "k", (), 3, 4),
    ],
    "lost acknowledged write": [
        w(1, "k", "a", 0, 1),
        w(1, "k", "b", 2, 3),
        r(2, "k", ("b",), 4, 5),
    ],
    "duplicated write": [w(1, "k", "a", 0, 1), r(2, "k", ("a", "a"), 2, 3)],
    "one bad key among good ones": [
        w(1, "x", "a", 0, 1),
        r(2, "x", ("a",), 2, 3),
        w(1, "y", "b", 0, 1),
        r(2, "y", (), 2, 3),
    ],
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_linearizable_history_passes(name: str) -> None:
    result = check(KV_MODEL, GOOD[name])
    assert result.ok, result.explanation


@pytest.mark.parametrize("name", sorted(BAD))
def test_non_linearizable_history_fails(name: str) -> None:
    result = check(KV_MODEL, BAD[name])
    assert not result.ok
    assert "not linearizable" in result.explanation
    assert result.failed_part


def test_failure_names_the_bad_key() -> None:
    result = check(KV_MODEL, BAD["one bad key among good ones"])
    assert {op.input.key for op in result.failed_part} == {"y"}


def test_long_history_with_overlaps_is_fast() -> None:
    # 3,000 operations, each overlapping its neighbours: the cache keeps the search linear.
    history: list[Op] = []
    seen: tuple[str, ...] = ()
    for i in range(1000):
        t = 10 * i
        history.append(w(1, "k", f"v{i}", t, t + 15))
        history.append(r(2, "k", seen, t + 1, t + 12))  # concurrent with the write: old value
        seen = (*seen, f"v{i}")
        history.append(r(3, "k", seen, t + 16, t + 17))
    assert check(KV_MODEL, history).ok
    history.append(r(3, "k", seen[:-1], 20_001, 20_002))
    assert not check(KV_MODEL, history).ok


def test_pending_writes_resolved_by_a_later_read() -> None:
    history = [w(i, "k", f"v{i}", i, None) for i in range(6)]
    history.append(r(9, "k", ("v4", "v1"), 10, 11))
    assert check(KV_MODEL, history).ok
    history.append(r(9, "k", ("v1",), 12, 13))
    assert not check(KV_MODEL, history).ok


def test_search_budget() -> None:
    # Many writes in an unknown order and a read no order explains: exhaustive search.
    history = [w(i, "k", f"v{i}", 0, None) for i in range(12)]
    history.append(r(99, "k", ("nope",), 1, 2))
    with pytest.raises(CheckTooLong):
        check(KV_MODEL, history, max_states=10_000)


def test_a_register_model() -> None:
    # The checker is generic: a single register with writes and reads.
    def step(state: int, op: tuple[str, int], out: int | None) -> tuple[bool, int]:
        kind, value = op
        if kind == "w":
            return True, value
        return out is None or out == state, state

    register: Model[int, tuple[str, int], int] = Model(init=lambda: 0, step=step)
    good = [
        Operation(1, ("w", 1), 0, None, 3),
        Operation(2, ("r", 0), 1, 1, 2),
        Operation(3, ("r", 0), 4, 1, 5),
    ]
    assert check(register, good).ok
    stale = [*good, Operation(3, ("r", 0), 6, 0, 7)]
    assert not check(register, stale).ok


def test_return_before_call_is_refused() -> None:
    with pytest.raises(ValueError, match="returned before it was invoked"):
        check(KV_MODEL, [w(1, "k", "a", 5, 4)])
