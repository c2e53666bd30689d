"""Every object kind, a batch and a snapshot survive encode -> bytes -> decode unchanged."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.store import (
    Cluster,
    CodecError,
    Config,
    GlobalJob,
    Network,
    Node,
    ReplicatedJob,
    Secret,
    SecretSpec,
    Service,
    ServiceSpec,
    Stack,
    StoreBatch,
    StoreSnapshot,
    Task,
    TaskState,
    codec,
)
from manager.store.objects import TaskStatus
from tests.unit.store.strategies import strategy_for

KINDS = [Cluster, Node, Service, Task, Network, Secret, Config, Stack]


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_object_round_trip(cls: type, data: st.DataObject) -> None:
    obj = data.draw(strategy_for(cls))
    assert codec.decode_object(cls, codec.encode_object(obj)) == obj  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(strategy_for(StoreBatch))
def test_batch_round_trip(batch: object) -> None:
    assert isinstance(batch, StoreBatch)
    assert codec.decode_batch(codec.encode_batch(batch)) == batch


@settings(max_examples=10, deadline=None)
@given(strategy_for(StoreSnapshot))
def test_snapshot_round_trip(snapshot: object) -> None:
    assert isinstance(snapshot, StoreSnapshot)
    data = codec.encode_snapshot(snapshot)
    assert codec.decode_snapshot(data) == snapshot
    assert codec.encode_snapshot(codec.decode_snapshot(data)) == data  # deterministic bytes


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
def test_defaults_round_trip(cls: type) -> None:
    obj = cls()
    assert codec.decode(cls, codec.encode(obj)) == obj


@pytest.mark.parametrize(
    "mode", [GlobalJob(), ReplicatedJob(max_concurrent=2, total_completions=9)]
)
def test_service_mode_oneof_keeps_the_mode(mode: object) -> None:
    service = Service(id="s", spec=ServiceSpec(name="job", mode=mode))  # type: ignore[arg-type]
    assert codec.decode(Service, codec.encode(service)).spec.mode == mode


def test_task_state_travels_with_swarm_numbers() -> None:
    task = Task(id="t", status=TaskStatus(state=TaskState.REJECTED))
    msg = codec.to_message(task)
    assert msg.status.state == 768  # type: ignore[attr-defined]
    assert codec.from_message(Task, msg).status.state is TaskState.REJECTED


def test_every_nested_dataclass_has_a_matching_message() -> None:
    # Building the plans checks both directions: each dataclass field has a proto field of
    # the same name and each proto field a dataclass field.
    seen: set[type] = set()

    def walk(cls: type) -> None:
        if cls in seen or not dataclasses.is_dataclass(cls):
            return
        seen.add(cls)
        codec.to_message(cls())
        for hint in typing.get_type_hints(cls).values():
            for arg in (hint, *typing.get_args(hint)):
                if isinstance(arg, type):
                    walk(arg)
                for inner in typing.get_args(arg):
                    if isinstance(inner, type):
                        walk(inner)

    for cls in KINDS:
        walk(cls)
    assert len(seen) > 40


def test_garbage_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="cannot decode a StoreBatch"):
        codec.decode_batch(b"\xff\xff\xff")


def test_secret_data_is_never_in_repr() -> None:
    secret = Secret(id="s", spec=SecretSpec(name="db", data=b"hunter2"))
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
