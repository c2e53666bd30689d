"""`shoal service create` flags to the ServiceSpec sent to the daemon: one table row per flag,
with Docker's defaults, and Docker's one-line errors for malformed values."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from proto import objects_pb2
from shoal.cli.services import registry_auth, registry_domain

from .conftest import Run
from .fake_daemon import FakeState

Spec = objects_pb2.ServiceSpec


def created(run: Run, state: FakeState, *args: str) -> Spec:
    result = run("service", "create", "-d", *args)
    assert result.exit_code == 0, result.stderr
    (request,) = state.calls("CreateService")
    spec: Spec = request.spec
    return spec


def container(s: Spec) -> objects_pb2.ContainerSpec:
    return s.task_template.container


def test_defaults_are_dockers(run: Run, state: FakeState) -> None:
    s = created(run, state, "nginx:1.27")
    assert s.name == ""  # the daemon picks a random name
    assert s.replicated.replicas == 1
    assert container(s).image == "nginx:1.27"
    assert container(s).stop_grace_period.seconds == 10
    policy = s.task_template.restart_policy
    assert (policy.condition, policy.delay.seconds, policy.max_attempts) == ("any", 5, 0)
    assert not container(s).HasField("healthcheck")
    assert not container(s).HasField("init")
    update = s.update_config
    assert (update.parallelism, update.failure_action, update.monitor.seconds, update.order) == (
        1,
        "pause",
        5,
        "stop-first",
    )
    assert s.endpoint_spec.mode == "vip"


def test_command_and_args_follow_the_image(run: Run, state: FakeState) -> None:
    s = created(run, state, "busybox", "sh", "-c", "echo hi; sleep 1")
    assert list(container(s).args) == ["sh", "-c", "echo hi; sleep 1"]


FLAGS: list[tuple[list[str], Callable[[Spec], object], object]] = [
    (["--name", "web"], lambda s: s.name, "web"),
    (["--replicas", "6"], lambda s: s.replicated.replicas, 6),
    (["--replicas", "0"], lambda s: s.replicated.replicas, 0),
    (["--mode", "global"], lambda s: s.WhichOneof("mode"), "global"),
    (["--mode", "global-job"], lambda s: s.WhichOneof("mode"), "global_job"),
    (
        ["--mode", "replicated-job", "--replicas", "4", "--max-concurrent", "2"],
        lambda s: (s.replicated_job.total_completions, s.replicated_job.max_concurrent),
        (4, 2),
    ),
    (
        ["--mode", "replicated-job", "--replicas", "3"],
        lambda s: (s.replicated_job.max_concurrent, s.task_template.restart_policy.condition),
        (3, "on-failure"),
    ),
    (
        ["--constraint", "node.role==manager", "--constraint", "node.labels.zone!=b"],
        lambda s: list(s.task_template.placement.constraints),
        ["node.role==manager", "node.labels.zone!=b"],
    ),
    (
        ["--placement-pref", "spread=node.labels.zone"],
        lambda s: [p.spread for p in s.task_template.placement.preferences],
        ["node.labels.zone"],
    ),
    (["--replicas-max-per-node", "2"], lambda s: s.task_template.placement.max_replicas, 2),
    (["-e", "A=1", "--env", "B=two"], lambda s: list(container(s).env), ["A=1", "B=two"]),
    (["--label", "a=b", "-l", "c"], lambda s: dict(s.labels), {"a": "b", "c": ""}),
    (["--container-label", "x=y"], lambda s: dict(container(s).labels), {"x": "y"}),
    (
        ["--entrypoint", "/bin/sh -c"],
        lambda s: list(container(s).command),
        ["/bin/sh", "-c"],
    ),
    (["-u", "1000:1000"], lambda s: container(s).user, "1000:1000"),
    (["--user", "nobody"], lambda s: container(s).user, "nobody"),
    (["-w", "/srv"], lambda s: container(s).dir, "/srv"),
    (["--workdir", "/app"], lambda s: container(s).dir, "/app"),
    (["--hostname", "box"], lambda s: container(s).hostname, "box"),
    (
        ["--mount", "type=volume,source=data,target=/data,readonly"],
        lambda s: [(m.type, m.source, m.target, m.read_only) for m in container(s).mounts],
        [("volume", "data", "/data", True)],
    ),
    (
        ["--mount", "type=bind,src=/srv,dst=/srv,bind-propagation=rshared"],
        lambda s: [(m.type, m.source, m.bind_propagation) for m in container(s).mounts],
        [("bind", "/srv", "rshared")],
    ),
    (
        ["--mount", "type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1770"],
        lambda s: [(m.type, m.tmpfs_size_bytes, m.tmpfs_mode) for m in container(s).mounts],
        [("tmpfs", 64 * 1024 * 1024, 0o1770)],
    ),
    (
        ["--mount", "target=/v,volume-driver=local,volume-opt=o=x,volume-nocopy"],
        lambda s: [
            (m.type, m.volume_driver, dict(m.volume_driver_options), m.volume_nocopy)
            for m in container(s).mounts
        ],
        [("volume", "local", {"o": "x"}, True)],
    ),
    (["--limit-cpu", "0.5"], lambda s: s.task_template.resources.limits.nano_cpus, 500_000_000),
    (
        ["--limit-memory", "512m"],
        lambda s: s.task_template.resources.limits.memory_bytes,
        512 * 1024 * 1024,
    ),
    (["--limit-memory", "1GiB"], lambda s: s.task_template.resources.limits.memory_bytes, 1 << 30),
    (["--limit-pids", "100"], lambda s: s.task_template.resources.limits.pids, 100),
    (["--reserve-cpu", "2"], lambda s: s.task_template.resources.reservations.nano_cpus, 2 * 10**9),
    (
        ["--reserve-memory", "100MB"],
        lambda s: s.task_template.resources.reservations.memory_bytes,
        100 * 1024 * 1024,
    ),
    (
        ["--restart-condition", "on-failure"],
        lambda s: s.task_template.restart_policy.condition,
        "on-failure",
    ),
    (
        ["--restart-delay", "1m30s"],
        lambda s: s.task_template.restart_policy.delay.seconds,
        90,
    ),
    (
        ["--restart-max-attempts", "3"],
        lambda s: s.task_template.restart_policy.max_attempts,
        3,
    ),
    (
        ["--restart-window", "2m"],
        lambda s: s.task_template.restart_policy.window.seconds,
        120,
    ),
    (
        ["--health-cmd", "curl -f localhost", "--health-interval", "2s", "--health-retries", "4"],
        lambda s: (
            list(container(s).healthcheck.test),
            container(s).healthcheck.interval.seconds,
            container(s).healthcheck.retries,
        ),
        (["CMD-SHELL", "curl -f localhost"], 2, 4),
    ),
    (
        ["--health-timeout", "3s", "--health-start-period", "10s"],
        lambda s: (
            container(s).healthcheck.timeout.seconds,
            container(s).healthcheck.start_period.seconds,
        ),
        (3, 10),
    ),
    (["--no-healthcheck"], lambda s: list(container(s).healthcheck.test), ["NONE"]),
    (["--init"], lambda s: (container(s).HasField("init"), container(s).init), (True, True)),
    (["--read-only"], lambda s: container(s).read_only, True),
    (
        ["--cap-add", "NET_ADMIN", "--cap-drop", "ALL"],
        lambda s: (list(container(s).capability_add), list(container(s).capability_drop)),
        (["NET_ADMIN"], ["ALL"]),
    ),
    (
        ["--sysctl", "net.core.somaxconn=1024"],
        lambda s: dict(container(s).sysctls),
        {"net.core.somaxconn": "1024"},
    ),
    (
        ["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=64"],
        lambda s: [(u.name, u.soft, u.hard) for u in container(s).ulimits],
        [("nofile", 1024, 2048), ("nproc", 64, 64)],
    ),
    (["--stop-signal", "SIGINT"], lambda s: container(s).stop_signal, "SIGINT"),
    (["--stop-grace-period", "30s"], lambda s: container(s).stop_grace_period.seconds, 30),
    (
        ["--secret", "pw"],
        lambda s: [
            (r.secret_name, r.file.name, r.file.uid, r.file.gid, r.file.mode)
            for r in container(s).secrets
        ],
        [("pw", "pw", "0", "0", 0o444)],
    ),
    (
        ["--secret", "source=pw,target=db_pw,uid=10,gid=20,mode=0400"],
        lambda s: [
            (r.secret_name, r.file.name, r.file.uid, r.file.gid, r.file.mode)
            for r in container(s).secrets
        ],
        [("pw", "db_pw", "10", "20", 0o400)],
    ),
    (
        ["--config", "src=site,target=/etc/nginx/nginx.conf"],
        lambda s: [(r.config_name, r.file.name) for r in container(s).configs],
        [("site", "/etc/nginx/nginx.conf")],
    ),
]


@pytest.mark.parametrize(("flags", "read", "expected"), FLAGS, ids=[" ".join(f[0]) for f in FLAGS])
def test_flag_sets_the_spec(
    run: Run,
    state: FakeState,
    flags: list[str],
    read: Callable[[Spec], object],
    expected: object,
) -> None:
    assert read(created(run, state, *flags, "nginx")) == expected


def test_env_file_is_read_before_env_flags(run: Run, state: FakeState, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# comment\n\nA=1\nB=from file\n")
    s = created(run, state, "--env-file", str(env_file), "-e", "C=3", "nginx")
    assert list(container(s).env) == ["A=1", "B=from file", "C=3"]


BAD_FLAGS: list[tuple[list[str], str]] = [
    (["--replicas", "-1"], 'invalid argument "-1" for "--replicas" flag'),
    (
        ["--limit-memory", "5q"],
        'invalid argument "5q" for "--limit-memory" flag: invalid size: \'5q\'',
    ),
    (["--limit-cpu", "lots"], "failed to parse lots as a rational number"),
    (["--limit-cpu", "0.0000000001"], "value is too precise"),
    (["--mount", "type=nope,target=/x"], 'invalid MountType: "nope"'),
    (["--mount", "type=volume,source=x"], "target is required"),
    (["--mount", "type=bind,src=/a,target=/a,volume-nocopy"], "cannot mix 'volume-*' options"),
    (["--mount", "target=/a,colour=red"], "unexpected key 'colour'"),
    (["--mode", "sideways"], "Unknown mode: sideways"),
    (["--mode", "global", "--replicas", "2"], "replicas can only be used with replicated"),
    (["--max-concurrent", "2"], "max-concurrent can only be used with replicated-job mode"),
    (["--restart-condition", "sometimes"], "invalid restart condition 'sometimes'"),
    (["--restart-delay", "5"], 'time: missing unit in duration "5"'),
    (["--ulimit", "nofile=10:5"], "ulimit soft limit must be less than or equal to hard limit"),
    (["--ulimit", "colours=1"], "invalid ulimit type: colours"),
    (["--secret", "target=x"], "source is required"),
    (["--config", "source=a,size=3"], "invalid field in config request: size"),
    (["--placement-pref", "pack=node.labels.zone"], "unsupported placement preference pack"),
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-*"),
    (["--env-file", "/nonexistent/env"], "open /nonexistent/env: no such file or directory"),
    (["--replicas", "9" * 23], "value out of range"),
    (["--limit-memory", "9" * 23 + "g"], "value out of range"),
    (["--limit-cpu", "1e30"], "value out of range"),
    (["--reserve-memory", "9" * 23], "value out of range"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f[0]) for f in BAD_FLAGS])
def test_malformed_flag_values_are_one_line_errors_and_nothing_is_created(
    run: Run, state: FakeState, flags: list[str], message: str
) -> None:
    result = run("service", "create", "-d", *flags, "nginx")
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert state.calls("CreateService") == []


def test_with_registry_auth_sends_the_docker_login_credentials(
    run: Run, state: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = base64.b64encode(b"alice:s3cret").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"lab:5000": {"auth": login}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    s = created(run, state, "--with-registry-auth", "lab:5000/web:1")
    decoded = json.loads(base64.urlsafe_b64decode(container(s).registry_auth))
    assert decoded == {"username": "alice", "password": "s3cret", "serveraddress": "lab:5000"}
    assert registry_auth("nginx", str(tmp_path)) == ""  # Docker Hub: no login stored


@pytest.mark.parametrize(
    ("image", "domain"),
    [
        ("nginx", "https://index.docker.io/v1/"),
        ("library/nginx:1", "https://index.docker.io/v1/"),
        ("127.0.0.1:5000/web:1", "127.0.0.1:5000"),
        ("registry.example.com/a/b", "registry.example.com"),
        ("localhost/web", "localhost"),
    ],
)
def test_registry_domain(image: str, domain: str) -> None:
    assert registry_domain(image) == domain


def test_a_daemon_refusal_is_passed_through(run: Run, state: FakeState) -> None:
    import grpc

    state.failures["CreateService"] = (grpc.StatusCode.ALREADY_EXISTS, "service web already exists")
    result = run("service", "create", "--name", "web", "nginx")
    assert (result.exit_code, result.stderr) == (1, "Error: service web already exists\n")
    assert result.stdout == ""
