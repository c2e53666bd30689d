"""`shoal service logs` against the fake daemon: prefixes, flags, streams, warnings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
import grpc
import pytest
from click.testing import CliRunner, Result

from proto import control_pb2, logs_pb2, objects_pb2
from shoal.cli import cli, render
from shoal.cli.services import parse_since, parse_tail
from tests.unit.cli.fake_daemon import (
    NODE1,
    NODE2,
    T0,
    FakeControl,
    FakeState,
    make_node,
    make_task,
    meta,
    serve,
)

SERVICE = objects_pb2.Service(
    id="svcweb".ljust(25, "w"), meta=meta(1), spec=objects_pb2.ServiceSpec(name="web")
)


def _task(slot: int, node: str, tid: str) -> objects_pb2.Task:
    t = make_task(SERVICE, slot, node, task_id=tid.ljust(25, "0"))
    t.service_annotations.name = "web"
    return t


TASK1 = _task(1, NODE1, "abc123def456a")
TASK10 = _task(10, NODE2, "fed987cba654b")


def _line(task: objects_pb2.Task, data: bytes, *, stderr: bool = False) -> logs_pb2.LogMessage:
    return logs_pb2.LogMessage(
        context=logs_pb2.LogContext(
            service_id=task.service_id, node_id=task.node_id, task_id=task.id
        ),
        unix_nano=T0 * 1_000_000_000 + 5,
        stream=logs_pb2.LogMessage.STDERR if stderr else logs_pb2.LogMessage.STDOUT,
        data=data,
    )


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeState, str]]:
    state = FakeState()
    for node in (make_node(NODE1, "node1"), make_node(NODE2, "node2")):
        state.nodes[node.id] = node
    state.services[SERVICE.id] = SERVICE
    state.tasks.extend([TASK1, TASK10])

    def ServiceLogs(self: FakeControl, request: Any, context: Any) -> Any:
        self.state.requests.append(("ServiceLogs", request))
        if request.ref == "nope":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such task or service: nope")
        yield control_pb2.ServiceLogsMessage(
            messages=[_line(TASK1, b"hello\n"), _line(TASK10, b"oops\n", stderr=True)]
        )
        yield control_pb2.ServiceLogsMessage(
            warnings=["no logs from node(s) n9: they did not answer"]
        )

    monkeypatch.setattr(FakeControl, "ServiceLogs", ServiceLogs, raising=False)
    with serve(state) as host:
        yield state, host


def invoke(host: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--host", host, "service", "logs", *args])


def test_prefixes_like_docker(logged: tuple[FakeState, str]) -> None:
    _state, host = logged
    result = invoke(host, "web")
    assert result.exit_code == 0, result.output
    assert result.stdout == "web.1.abc123def456@node1     | hello\n"
    assert result.stderr == (
        "web.10.fed987cba654@node2    | oops\n"
        "warning: no logs from node(s) n9: they did not answer\n"
    )


def test_flags_reach_the_request_and_shape_the_output(logged: tuple[FakeState, str]) -> None:
    state, host = logged
    result = invoke(
        host, "-f", "--tail", "3", "--since", "1700000000.5", "-t", "--no-task-ids", "web"
    )
    assert result.exit_code == 0, result.output
    (request,) = state.calls("ServiceLogs")
    assert (request.ref, request.follow, request.tail, request.timestamps) == ("web", True, 3, True)
    assert request.since_unix_nano == 1_700_000_000_500_000_000
    assert result.stdout == "2023-11-14T22:13:20.000000005Z web.1@node1     | hello\n"


def test_raw_and_no_resolve(logged: tuple[FakeState, str]) -> None:
    _state, host = logged
    assert invoke(host, "--raw", "web").stdout == "hello\n"
    out = invoke(host, "--no-resolve", "--no-trunc", "web").stdout
    assert out == f"{SERVICE.id}.1.{TASK1.id}@{NODE1}     | hello\n"


def test_unknown_ref(logged: tuple[FakeState, str]) -> None:
    _state, host = logged
    result = invoke(host, "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: no such task or service: nope\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("1700000000", 1_700_000_000 * 10**9), ("10m", (T0 - 600) * 10**9),
     ("2023-11-14T22:13:20Z", T0 * 10**9)],
)  # fmt: skip
def test_parse_since(text: str, expected: int) -> None:
    assert parse_since(text, T0) == expected


@pytest.mark.parametrize("text", ["9" * 20, "1e300", "-5"])
def test_since_out_of_range_is_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter, match=r"value out of range|invalid value"):
        parse_since(text, T0)


@pytest.mark.parametrize(("text", "expected"), [("all", -1), ("5", 5), ("-3", -1), ("x", -1)])
def test_parse_tail(text: str, expected: int) -> None:
    assert parse_tail(text) == expected


def test_log_timestamp() -> None:
    assert render.log_timestamp(1410848266_000000001) == "2014-09-16T06:17:46.000000001Z"
