"""Fixtures: a fake shoald on a unix socket and a runner for `shoal` commands against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from shoal.cli import cli

from .fake_daemon import NODE1, NODE2, NODE10, FakeState, make_node, serve

Run = Callable[..., Result]


@pytest.fixture
def state() -> FakeState:
    s = FakeState()
    for node in (
        make_node(NODE1, "node1", role="manager", leader=True, addr="10.0.0.1"),
        make_node(NODE10, "node10", state="down", addr="10.0.0.3"),
        make_node(NODE2, "node2", role="manager", addr="10.0.0.2"),
    ):
        s.nodes[node.id] = node
    return s


@pytest.fixture
def host(state: FakeState) -> Iterator[str]:
    with serve(state) as h:
        yield h


@pytest.fixture
def run(host: str) -> Run:
    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, ["--host", host, *args], input=input)

    return invoke
