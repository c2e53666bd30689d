"""`shoal service ls|ps|inspect|scale|rm`, `node ps` and the progress of create and scale,
against the fake daemon: Docker's columns, history rows, JSON shapes and wording."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from proto import objects_pb2
from shoal.cli import render, services

from .conftest import Run
from .fake_daemon import NODE1, NODE2, T0, FakeState, make_task


@pytest.fixture(autouse=True)
def fake_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time stands at T0 + 5 s for `... ago`; waiting takes no real time."""
    monkeypatch.setattr(render, "now", lambda: T0 + 5.0)
    ticks: Iterator[float] = iter(float(i) for i in range(10_000))
    monkeypatch.setattr(
        services, "PACING", services.Pacing(monotonic=lambda: next(ticks), sleep=lambda s: None)
    )


def web(state: FakeState, run: Run, *flags: str) -> objects_pb2.Service:
    result = run("service", "create", "-d", "--name", "web", *flags, "nginx:1.27")
    assert result.exit_code == 0, result.stderr
    return next(s for s in state.services.values() if s.spec.name == "web")


def test_create_prints_the_id_then_dockers_progress_until_converged(
    run: Run, state: FakeState
) -> None:
    result = run("service", "create", "--name", "web", "--replicas", "2", "nginx:1.27")
    assert result.exit_code == 0, result.stderr
    (service,) = state.services.values()
    assert result.stdout == (
        f"{service.id}\n"
        "overall progress: 2 out of 2 tasks\n"
        "1/2: running\n"
        "2/2: running\n"
        "verify: Waiting 5 seconds to verify that tasks are stable...\n"
        "verify: Service converged\n"
    )


def test_create_quiet_and_detach_print_only_the_id(run: Run, state: FakeState) -> None:
    quiet = run("service", "create", "-q", "--name", "a", "nginx")
    detached = run("service", "create", "-d", "--name", "b", "nginx")
    assert [len(r.stdout.splitlines()) for r in (quiet, detached)] == [1, 1]
    assert len(state.calls("ListTasks")) > 0  # quiet still waits


def test_progress_shows_a_task_error_and_a_failure_after_convergence() -> None:
    service = objects_pb2.Service(id="s1", spec=objects_pb2.ServiceSpec(name="web"))
    service.spec.replicated.replicas = 2
    failed = make_task(service, 1, NODE1, state=objects_pb2.FAILED, err="task: non-zero exit (1)")
    starting = make_task(service, 2, NODE2, state=objects_pb2.STARTING)
    progress = services.service_progress(service, [failed, starting], bar=False)
    assert [line for _, line in progress.lines] == [
        "overall progress: 0 out of 2 tasks",
        "1/2: task: non-zero exit (1)",
        "2/2: starting",
    ]
    assert not progress.converged
    with_bar = services.service_progress(service, [starting], bar=True)
    assert with_bar.lines[1][1] == "2/2: starting  [" + "=" * 44 + ">" + " " * 6 + "]"


class FlakyDaemon:
    """Reports the service converged, then a task failing, then converged again."""

    def __init__(self) -> None:
        self.service = objects_pb2.Service(id="s1", spec=objects_pb2.ServiceSpec(name="web"))
        self.service.spec.replicated.replicas = 1
        self.states = [objects_pb2.RUNNING, objects_pb2.FAILED] + [objects_pb2.RUNNING] * 99

    def get_service(self, ref: str) -> objects_pb2.Service:
        return self.service

    def list_tasks(self, **filters: object) -> list[objects_pb2.Task]:
        return [make_task(self.service, 1, NODE1, state=self.states.pop(0))]


def test_verify_restarts_when_a_task_fails_during_the_monitor_period() -> None:
    out = io.StringIO()
    ticks = iter(float(i) for i in range(100))
    pacing = services.Pacing(monotonic=lambda: next(ticks), sleep=lambda s: None)
    daemon = FlakyDaemon()
    services.wait_for_service(daemon, "s1", out=out, pacing=pacing)  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert "verify: Detected task failure" in lines
    assert lines[-1] == "verify: Service converged"
    assert len(daemon.states) == 101 - 8  # converged again at poll 3, stable 5 polls later


def test_ls_shows_mode_replicas_and_image(run: Run, state: FakeState) -> None:
    service = web(state, run, "--replicas", "3")
    state.tasks[0].status.state = objects_pb2.PREPARING
    run(
        "service",
        "create",
        "-d",
        "--name",
        "agent",
        "--mode",
        "global",
        "busybox@sha256:" + "a" * 64,
    )
    result = run("service", "ls")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert lines[1].split()[1:] == ["agent", "global", "3/3", "busybox"]
    assert lines[2].split()[1:] == ["web", "replicated", "2/3", "nginx:1.27"]
    assert run("service", "ls", "-q").stdout.split() == [
        s.id[:12] for s in sorted(state.services.values(), key=lambda s: s.spec.name)
    ]
    rows = json.loads(run("service", "ls", "--format", "json").stdout)
    assert rows[1] == {
        "ID": service.id[:12],
        "Name": "web",
        "Mode": "replicated",
        "Replicas": "2/3",
        "Image": "nginx:1.27",
        "Ports": "",
    }
    assert run("service", "ls", "-q", "-f", "mode=global").stdout.count("\n") == 1
    bad = run("service", "ls", "-f", "colour=red")
    assert (bad.exit_code, bad.stderr) == (1, "Error: invalid filter 'colour'\n")


def test_ls_shows_max_per_node_and_job_completions(run: Run, state: FakeState) -> None:
    web(state, run, "--replicas", "2", "--replicas-max-per-node", "1")
    run(
        "service",
        "create",
        "-d",
        "--name",
        "job",
        "--mode",
        "replicated-job",
        "--replicas",
        "3",
        "busybox",
    )
    rows = json.loads(run("service", "ls", "--format", "json").stdout)
    assert [r["Replicas"] for r in rows] == ["0/3 (3/3 completed)", "2/2 (max 1 per node)"]


def test_ps_shows_history_under_each_slot_with_errors(run: Run, state: FakeState) -> None:
    service = web(state, run, "--replicas", "1")
    failed = make_task(
        service,
        1,
        NODE2,
        state=objects_pb2.FAILED,
        desired=objects_pb2.SHUTDOWN,
        created=T0 - 60,
        updated=T0 - 30,
        err="task: non-zero exit (137): killed by the kernel",
        task_id="old".ljust(25, "o"),
    )
    state.tasks.append(failed)
    result = run("service", "ps", "web")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = "ID             NAME        IMAGE        NODE      DESIRED STATE   CURRENT STATE"
    assert lines[0].startswith(header)
    assert lines[1].split()[1:] == [
        "web.1",
        "nginx:1.27",
        "node10",
        "Running",
        "Running",
        "5",
        "seconds",
        "ago",
    ]
    assert lines[2].startswith(
        "oldooooooooo    \\_ web.1   nginx:1.27   node2     Shutdown        Failed 35 seconds ago"
    )
    assert '"task: non-zero exit (137): ki…"' in lines[2]
    no_trunc = run("service", "ps", "--no-trunc", "web").stdout
    assert failed.id in no_trunc and "killed by the kernel" in no_trunc
    running = run("service", "ps", "-q", "-f", "desired-state=running", "web").stdout.split()
    assert running == [state.tasks[0].id[:12]]
    assert run("service", "ps", "-q", "-f", "node=node2", "web").stdout.split() == ["oldooooooooo"]
    rows = json.loads(run("service", "ps", "--format", "json", "--no-resolve", "web").stdout)
    assert rows[1]["Node"] == NODE2 and rows[1]["Name"] == " \\_ web.1"
    assert set(rows[0]) == set(render.TASK_HEADERS)


def test_ps_of_an_unknown_service(run: Run, state: FakeState) -> None:
    result = run("service", "ps", "nope")
    assert (result.exit_code, result.stderr) == (1, "Error: no such service: nope\n")


def test_node_ps_lists_the_tasks_of_this_node_or_the_named_ones(run: Run, state: FakeState) -> None:
    web(state, run, "--replicas", "3")
    mine = run("node", "ps", "-q").stdout.split()
    assert mine == [t.id[:12] for t in state.tasks if t.node_id == NODE1]
    assert run("node", "ps", "-q", "node2").stdout.split() == [
        t.id[:12] for t in state.tasks if t.node_id == NODE2
    ]
    assert state.calls("ListTasks")[-1].node_ids == [NODE2]
    table = run("node", "ps", "node2").stdout.splitlines()
    assert table[0].startswith("ID ") and "web.3" in table[1] and "node2" in table[1]


def test_inspect_prints_the_docker_api_shape(run: Run, state: FakeState) -> None:
    web(state, run, "--replicas", "2", "--limit-memory", "64m", "--secret", "pw", "--init")
    result = run("service", "inspect", "web")
    assert result.exit_code == 0, result.stderr
    (obj,) = json.loads(result.stdout)
    spec = obj["Spec"]
    assert spec["Name"] == "web"
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["Image"] == "nginx:1.27"
    assert container["Init"] is True
    assert container["StopGracePeriod"] == 10 * 10**9
    assert container["Secrets"] == [
        {
            "File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444},
            "SecretID": "",
            "SecretName": "pw",
        }
    ]
    assert spec["TaskTemplate"]["Resources"]["Limits"] == {"MemoryBytes": 64 * 1024 * 1024}
    assert spec["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "any",
        "Delay": 5 * 10**9,
        "MaxAttempts": 0,
    }
    assert spec["UpdateConfig"]["Monitor"] == 5 * 10**9
    assert spec["EndpointSpec"] == {"Mode": "vip"}
    assert obj["Version"] == {"Index": 1}
    template = run("service", "inspect", "-f", "{{.Spec.Name}} {{json .Spec.Mode}}", "web")
    assert template.stdout == 'web {"Replicated":{"Replicas":2}}\n'


def test_inspect_pretty(run: Run, state: FakeState) -> None:
    service = web(state, run, "--constraint", "node.role==manager", "--limit-cpu", "0.5")
    text = run("service", "inspect", "--pretty", "web").stdout
    assert text.startswith(
        f"ID:\t\t{service.id}\nName:\t\tweb\nService Mode:\tReplicated\n Replicas:\t1\n"
    )
    assert "Placement:\n Constraints:\t[node.role==manager]\n" in text
    assert " Monitoring Period: 5s\n" in text
    assert "Resources:\n Limits:\n  CPU:\t\t0.5\n" in text
    assert text.endswith("Endpoint Mode:\tvip\n")
    missing = run("service", "inspect", "web", "nope")
    assert missing.exit_code == 1 and missing.stderr == "Error: service nope not found\n"


def test_scale_updates_from_the_version_read_and_waits(run: Run, state: FakeState) -> None:
    web(state, run)
    result = run("service", "scale", "web=3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "web scaled to 3"
    assert result.stdout.splitlines()[-1] == "verify: Service converged"
    (update,) = state.calls("UpdateService")
    assert (update.version, update.spec.replicated.replicas) == (1, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["web"], "invalid scale specifier 'web'"),
        (["web=x"], 'invalid replicas value x: strconv.ParseUint: parsing "x": invalid syntax'),
        (["agent=2"], "scale can only be used with replicated or replicated-job mode"),
        (["nope=2"], "service nope not found"),
    ],
)
def test_scale_errors(run: Run, state: FakeState, args: list[str], message: str) -> None:
    web(state, run)
    run("service", "create", "-d", "--name", "agent", "--mode", "global", "nginx")
    result = run("service", "scale", "-d", *args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_rm_removes_each_and_reports_failures(run: Run, state: FakeState) -> None:
    web(state, run)
    result = run("service", "rm", "web", "nope")
    assert result.stdout == "web\n"
    assert (result.exit_code, result.stderr) == (1, "Error: service nope not found\n")
    assert state.services == {}
    assert run("service", "remove", "nope").exit_code == 1
