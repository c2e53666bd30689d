"""A linearizability checker: Wing & Gong's search with Lowe's memoization (as in porcupine).

A history is a list of operations, each with the time it was invoked and the time it returned
(None: it never returned, e.g. a write whose client gave up; it may or may not have taken
effect). The history is linearizable if there is a total order of the operations that respects
real time (an operation that returned before another was invoked comes first) and in which
every operation is legal for a sequential model, with the outputs that were observed.

The search walks a linked list of call and return events. At a call it tries to linearize that
operation now (the model accepts it in the current state); at a return whose operation is not
yet linearized it backtracks. Lowe's cache of (set of linearized operations, model state)
prunes configurations already explored, which keeps typical histories fast; `Model.partition`
splits a history into independent parts (e.g. one per key) checked separately.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)  # the model's state: hashed by the cache
I = TypeVar("I")  # noqa: E741 - an operation's input
O = TypeVar("O")  # noqa: E741 - an operation's output


@dataclass(frozen=True, slots=True)
class Operation(Generic[I, O]):
    client: int
    input: I
    call: int  # when it was invoked
    output: O | None  # None when it never returned
    ret: int | None  # when it returned; None: never (it may or may not have taken effect)


def _whole(history: Sequence[Operation[I, O]]) -> list[list[Operation[I, O]]]:
    return [list(history)]


@dataclass(frozen=True)
class Model(Generic[S, I, O]):
    """A sequential specification. `step(state, input, output)` says whether the operation
    is legal in `state` with that output (None: the output was never seen, anything goes) and
    returns the next state. States must be hashable and compare by value."""

    init: Callable[[], S]
    step: Callable[[S, I, O | None], tuple[bool, S]]
    partition: Callable[[Sequence[Operation[I, O]]], list[list[Operation[I, O]]]] = _whole
    describe: Callable[[Operation[I, O]], str] = repr


@dataclass
class CheckResult(Generic[I, O]):
    ok: bool
    failed_part: list[Operation[I, O]] = field(default_factory=list)  # the first bad partition
    explanation: str = ""


class CheckTooLong(Exception):
    """The search explored more configurations than allowed: the history has too many
    operations open at once (e.g. writes that never returned) to be decided quickly."""


def check(
    model: Model[S, I, O], history: Sequence[Operation[I, O]], *, max_states: int = 2_000_000
) -> CheckResult[I, O]:
    """Whether `history` is linearizable; raises CheckTooLong past `max_states` cached
    configurations in one partition."""
    for part in model.partition(history):
        if not _check_single(model, part, max_states):
            lines = [model.describe(op) for op in sorted(part, key=lambda op: op.call)]
            return CheckResult(False, part, "not linearizable:\n  " + "\n  ".join(lines))
    return CheckResult(True)


class _Event:
    __slots__ = ("call", "id", "match", "next", "prev")

    def __init__(self, op_id: int, call: bool) -> None:
        self.id = op_id
        self.call = call
        self.match: _Event | None = None  # a call's return event
        self.prev: _Event | None = None
        self.next: _Event | None = None


def _build_list(history: Sequence[Operation[I, O]]) -> _Event:
    never = 1 + max((op.ret or op.call for op in history), default=0)
    timed: list[tuple[int, int, _Event]] = []
    for i, op in enumerate(history):
        call, ret = _Event(i, True), _Event(i, False)
        call.match = ret
        ret_time = never if op.ret is None else op.ret
        if ret_time < op.call:
            raise ValueError(f"operation {op} returned before it was invoked")
        # At equal times calls come first: such operations count as concurrent.
        timed.append((op.call, 0, call))
        timed.append((ret_time, 1, ret))
    timed.sort(key=lambda t: (t[0], t[1]))
    head = _Event(-1, False)
    prev = head
    for _, _, ev in timed:
        prev.next, ev.prev = ev, prev
        prev = ev
    return head


def _lift(call: _Event) -> None:
    """Take a call and its return out of the list."""
    for ev in (call, call.match):
        assert ev is not None and ev.prev is not None
        ev.prev.next = ev.next
        if ev.next is not None:
            ev.next.prev = ev.prev


def _unlift(call: _Event) -> None:
    """Put them back, in the reverse order of `_lift`."""
    for ev in (call.match, call):
        assert ev is not None and ev.prev is not None
        ev.prev.next = ev
        if ev.next is not None:
            ev.next.prev = ev


def _check_single(
    model: Model[S, I, O], history: Sequence[Operation[I, O]], max_states: int
) -> bool:
    head = _build_list(history)
    state = model.init()
    linearized = 0  # bit i: operation i is linearized
    cache: set[tuple[int, S]] = set()
    calls: list[tuple[_Event, S]] = []  # the linearized calls, and the state before each
    entry = head.next
    while head.next is not None:
        assert entry is not None  # the last event is a return, which never moves past itself
        if entry.call:
            assert entry.match is not None
            op = history[entry.id]
            ok, new_state = model.step(state, op.input, op.output)
            if ok:
                new_linearized = linearized | (1 << entry.id)
                key = (new_linearized, new_state)
                if key not in cache:
                    cache.add(key)
                    if len(cache) > max_states:
                        raise CheckTooLong(
                            f"gave up after {max_states} configurations of {len(history)} "
                            "operations: too many of them are concurrent"
                        )
                    calls.append((entry, state))
                    state, linearized = new_state, new_linearized
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return whose call is not linearized yet: undo the last choice.
            if not calls:
                return False
            top, state = calls.pop()
            linearized &= ~(1 << top.id)
            _unlift(top)
            entry = top.next
    return True


# -- a key-value model: each key holds the list of the values appended to it ------------------


@dataclass(frozen=True, slots=True)
class KvInput:
    key: str
    append: str | None  # None: a read


KvOutput = tuple[str, ...]  # a read's result: the values of the key, oldest first


def _kv_step(
    state: tuple[str, ...], op: KvInput, output: KvOutput | None
) -> tuple[bool, tuple[str, ...]]:
    if op.append is not None:
        return True, (*state, op.append)
    return output is None or output == state, state


def _kv_partition(
    history: Sequence[Operation[KvInput, KvOutput]],
) -> list[list[Operation[KvInput, KvOutput]]]:
    parts: dict[str, list[Operation[KvInput, KvOutput]]] = {}
    for op in history:
        parts.setdefault(op.input.key, []).append(op)
    return [parts[k] for k in sorted(parts)]


def _kv_describe(op: Operation[KvInput, KvOutput]) -> str:
    end = "never" if op.ret is None else str(op.ret)
    what = (
        f"append {op.input.key}+={op.input.append}"
        if op.input.append is not None
        else f"read {op.input.key} -> {list(op.output) if op.output is not None else '?'}"
    )
    return f"[{op.call}..{end}] client {op.client}: {what}"


def _empty() -> tuple[str, ...]:
    return ()


KV_MODEL: Model[tuple[str, ...], KvInput, KvOutput] = Model(
    init=_empty, step=_kv_step, partition=_kv_partition, describe=_kv_describe
)
