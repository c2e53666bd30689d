"""Pure pieces: Go durations, go-units formatting, Go's tabwriter layout."""

from __future__ import annotations

import pytest

from proto import objects_pb2
from shoal.cli import render
from shoal.cli._options import parse_go_duration, with_default_port

S = 10**9


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("5s", 5 * S),
        ("2160h0m0s", 2160 * 3600 * S),
        ("1h30m", 90 * 60 * S),
        ("1.5s", 3 * S // 2),
        (".5m", 30 * S),
        ("-2ms", -2 * 10**6),
        ("300us", 300_000),
        ("300µs", 300_000),
        ("7ns", 7),
    ],
)
def test_go_durations(text: str, nanos: int) -> None:
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("90d", 'time: unknown unit "d" in duration "90d"'),
        ("5", 'time: missing unit in duration "5"'),
        ("", 'time: invalid duration ""'),
        ("s", 'time: invalid duration "s"'),
        ("1h.", 'time: invalid duration "1h."'),
    ],
)
def test_invalid_go_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (14 * 86400, "2 weeks"),
        (60 * 86400, "2 months"),
        (90 * 86400, "3 months"),
        (2 * 365 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert render.human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (1023, "1023B"), (1024, "1KiB"), (8_201_543_680, "7.638GiB"), (1536, "1.5KiB")],
)
def test_bytes_size(size: int, text: str) -> None:
    assert render.bytes_size(size) == text


def test_tabwriter_pads_columns_to_at_least_10_plus_3() -> None:
    first = "A".ljust(15 + 3) + "BB".ljust(10) + "C\n"
    second = "longer-than-ten".ljust(15 + 3) + "".ljust(10) + "x\n"
    assert render.tabwrite(["A\tBB\tC", "longer-than-ten\t\tx"]) == first + second


def test_natural_sort() -> None:
    names = ["node10", "node2", "node1", "alpha"]
    assert sorted(names, key=render.natural_key) == ["alpha", "node1", "node2", "node10"]


@pytest.mark.parametrize(
    ("addr", "out"),
    [
        ("10.0.0.1", "10.0.0.1:2377"),
        ("10.0.0.1:4000", "10.0.0.1:4000"),
        (":4000", "0.0.0.0:4000"),
        ("eth0", "eth0:2377"),
        ("::1", "[::1]:2377"),
        ("[::1]:4000", "[::1]:4000"),
    ],
)
def test_listen_addr_defaults(addr: str, out: str) -> None:
    assert with_default_port(addr, default_host="0.0.0.0") == out


def _job(mode: str, iteration: int = 0) -> objects_pb2.Service:
    service = objects_pb2.Service(id="s")
    if mode == "replicated_job":
        service.spec.replicated_job.total_completions = 5
        service.spec.replicated_job.max_concurrent = 2
    else:
        service.spec.global_job.SetInParent()
    service.job_status.job_iteration = iteration
    return service


def _task(
    state: objects_pb2.TaskState, desired: objects_pb2.TaskState, iteration: int
) -> objects_pb2.Task:
    task = objects_pb2.Task(desired_state=desired, job_iteration=iteration)
    task.status.state = state
    return task


RUN, DONE, STOP = objects_pb2.RUNNING, objects_pb2.COMPLETE, objects_pb2.SHUTDOWN


@pytest.mark.parametrize(
    ("mode", "iteration", "tasks", "text"),
    [
        # docker: running/max concurrent (completed/total), whatever is left to run
        ("replicated_job", 0, [], "0/2 (0/5 completed)"),
        ("replicated_job", 0, [(RUN, DONE, 0), (RUN, DONE, 0)], "2/2 (0/5 completed)"),
        ("replicated_job", 0, [(DONE, DONE, 0)] * 4 + [(RUN, DONE, 0)], "1/2 (4/5 completed)"),
        ("replicated_job", 0, [(DONE, DONE, 0)] * 5, "0/2 (5/5 completed)"),
        # tasks of an earlier iteration do not count
        ("replicated_job", 1, [(DONE, DONE, 0)] * 5 + [(RUN, DONE, 1)], "1/2 (0/5 completed)"),
        # global job: desired = still to complete; total = desired + completed
        (
            "global_job",
            0,
            [(RUN, DONE, 0), (DONE, DONE, 0), (DONE, DONE, 0)],
            "1/1 (2/3 completed)",
        ),
        ("global_job", 0, [(DONE, DONE, 0)] * 3, "0/0 (3/3 completed)"),
        ("global_job", 1, [(DONE, DONE, 0), (RUN, STOP, 0), (RUN, DONE, 1)], "1/1 (0/1 completed)"),
    ],
)
def test_job_replicas_like_docker(
    mode: str,
    iteration: int,
    tasks: list[tuple[objects_pb2.TaskState, objects_pb2.TaskState, int]],
    text: str,
) -> None:
    service = _job(mode, iteration)
    assert render.service_replicas(service, [_task(*t) for t in tasks]) == text
