"""`shoal service create|inspect|ls|ps|rm|scale` (docker/cli cli/command/service).

    flags --service_spec()--> ServiceSpec --CreateService--> id printed
          --wait_for_service()--> ListTasks polled: per-task progress, then
          "verify: Service converged" once stable for the update monitor period (default 5s)

Flag values are checked here with Docker's messages; the spec's rules (names, secrets that
exist, constraints) are the daemon's.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import click

from proto import control_pb2, logs_pb2, objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._options import (
    INT64_MAX,
    Filter,
    FlagValue,
    Label,
    env_entry,
    filters_to_map,
    list_options,
    parse_config,
    parse_duration,
    parse_go_duration,
    parse_int,
    parse_key_value,
    parse_mem_bytes,
    parse_mount,
    parse_nano_cpus,
    parse_placement_pref,
    parse_secret,
    parse_uint,
    parse_ulimit,
    read_env_file,
)
from ._service_networks import NETWORK_OPTIONS, set_networking
from .nodes import fail

MODES = ("replicated", "global", "replicated-job", "global-job")
RESTART_CONDITIONS = ("none", "on-failure", "any")
DEFAULT_MONITOR = 5.0  # seconds; docker's verify period when the spec has no monitor


@dataclass(frozen=True)
class Pacing:
    """How `create` and `scale` wait: the clock, the sleep and the poll period (tests use a
    fake clock)."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll: float = 0.2


PACING = Pacing()


@click.group(cls=ObjectGroup)
def service() -> None:
    """Manage Swarm services"""


# ---- create ---------------------------------------------------------------------------------


def _choice(name: str, values: Sequence[str], message: Callable[[str], str]) -> FlagValue:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(message(text))
        return text

    return FlagValue(name, parse)


_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--name", default="", help="Service name"),
    click.option("--replicas", type=FlagValue("uint", parse_uint), help="Number of tasks"),
    click.option(
        "--mode",
        default="replicated",
        type=_choice(
            "string",
            MODES,
            lambda m: (
                f"Unknown mode: {m}, only replicated, global, replicated-job and "
                "global-job are supported"
            ),
        ),
        help='Service mode ("replicated", "global", "replicated-job", "global-job")',
    ),
    click.option(
        "--max-concurrent",
        type=FlagValue("uint", parse_uint),
        help="Number of job tasks to run concurrently (default equal to --replicas)",
    ),
    click.option("--constraint", multiple=True, help="Placement constraints"),
    click.option(
        "--placement-pref",
        multiple=True,
        type=FlagValue("pref", parse_placement_pref),
        help="Add a placement preference",
    ),
    click.option(
        "--replicas-max-per-node",
        type=FlagValue("uint", parse_uint),
        default="0",
        help="Maximum number of tasks per node (default 0 = unlimited)",
    ),
    click.option(
        "-e",
        "--env",
        multiple=True,
        type=FlagValue("list", env_entry),
        help="Set environment variables",
    ),
    click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
    click.option("-l", "--label", multiple=True, type=Label(), help="Service labels"),
    click.option("--container-label", multiple=True, type=Label(), help="Container labels"),
    click.option(
        "--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image"
    ),
    click.option(
        "-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])"
    ),
    click.option("-w", "--workdir", default="", help="Working directory inside the container"),
    click.option("--hostname", default="", help="Container hostname"),
    click.option(
        "--mount",
        multiple=True,
        type=FlagValue("mount", parse_mount),
        help="Attach a filesystem mount to the service",
    ),
    click.option("--limit-cpu", type=FlagValue("decimal", parse_nano_cpus), help="Limit CPUs"),
    click.option("--limit-memory", type=FlagValue("bytes", parse_mem_bytes), help="Limit Memory"),
    click.option(
        "--limit-pids",
        type=FlagValue("int", parse_int),
        help="Limit maximum number of processes (default 0 = unlimited)",
    ),
    click.option("--reserve-cpu", type=FlagValue("decimal", parse_nano_cpus), help="Reserve CPUs"),
    click.option(
        "--reserve-memory", type=FlagValue("bytes", parse_mem_bytes), help="Reserve Memory"
    ),
    click.option(
        "--restart-condition",
        type=_choice(
            "string",
            RESTART_CONDITIONS,
            lambda c: f"invalid restart condition {c!r}: use none, on-failure or any",
        ),
        help='Restart when condition is met ("none", "on-failure", "any") (default "any")',
    ),
    click.option(
        "--restart-delay",
        type=FlagValue("duration", parse_duration),
        help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)",
    ),
    click.option(
        "--restart-max-attempts",
        type=FlagValue("uint", parse_uint),
        help="Maximum number of restarts before giving up",
    ),
    click.option(
        "--restart-window",
        type=FlagValue("duration", parse_duration),
        help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)",
    ),
    click.option("--health-cmd", default=None, help="Command to run to check health"),
    click.option(
        "--health-interval",
        type=FlagValue("duration", parse_duration),
        help="Time between running the check (ms|s|m|h)",
    ),
    click.option(
        "--health-timeout",
        type=FlagValue("duration", parse_duration),
        help="Maximum time to allow one check to run (ms|s|m|h)",
    ),
    click.option(
        "--health-retries",
        type=FlagValue("int", parse_int),
        help="Consecutive failures needed to report unhealthy",
    ),
    click.option(
        "--health-start-period",
        type=FlagValue("duration", parse_duration),
        help="Start period for the container to initialize before counting retries (ms|s|m|h)",
    ),
    click.option(
        "--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK"
    ),
    click.option(
        "--init",
        is_flag=True,
        default=None,
        help="Use an init inside each service container to forward signals and reap processes",
    ),
    click.option(
        "--read-only", is_flag=True, help="Mount the container's root filesystem as read only"
    ),
    click.option("--cap-add", multiple=True, help="Add Linux capabilities"),
    click.option("--cap-drop", multiple=True, help="Drop Linux capabilities"),
    click.option(
        "--sysctl", multiple=True, type=FlagValue("list", parse_key_value), help="Sysctl options"
    ),
    click.option(
        "--ulimit", multiple=True, type=FlagValue("ulimit", parse_ulimit), help="Ulimit options"
    ),
    click.option("--stop-signal", default="", help="Signal to stop the container"),
    click.option(
        "--stop-grace-period",
        type=FlagValue("duration", parse_duration),
        help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)",
    ),
    click.option(
        "--secret",
        multiple=True,
        type=FlagValue("secret", parse_secret),
        help="Specify secrets to expose to the service",
    ),
    click.option(
        "--config",
        "configs",
        multiple=True,
        type=FlagValue("config", parse_config),
        help="Specify configurations to expose to the service",
    ),
    *NETWORK_OPTIONS,
    click.option(
        "--with-registry-auth",
        is_flag=True,
        help="Send registry authentication details to swarm agents",
    ),
    click.option(
        "-d",
        "--detach",
        is_flag=True,
        help="Exit immediately instead of waiting for the service to converge",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Suppress progress output"),
]


def _spec_options(f: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@service.command("create", context_settings={"allow_interspersed_args": False})
@_spec_options
@click.argument("image")
@click.argument("args", nargs=-1, metavar="[COMMAND] [ARG...]")
@pass_daemon
def create(daemon: Daemon, /, image: str, args: tuple[str, ...], **flags: Any) -> None:
    """Create a new service"""
    spec = service_spec(image, args, flags)
    created = daemon.create_service(spec)
    click.echo(created.id)
    if not flags["detach"]:
        wait_for_service(daemon, created.id, quiet=flags["quiet"])


def service_spec(image: str, args: Sequence[str], flags: dict[str, Any]) -> objects_pb2.ServiceSpec:
    """The ServiceSpec the flags of `service create` describe (docker's ToService)."""
    spec = objects_pb2.ServiceSpec(name=flags["name"], labels=dict(flags["label"]))
    _set_mode(spec, flags)
    task = spec.task_template
    task.container.CopyFrom(_container(image, args, flags))
    _set_resources(task.resources, flags)
    _set_restart(task.restart_policy, flags, is_job=flags["mode"].endswith("-job"))
    task.placement.constraints.extend(flags["constraint"])
    task.placement.preferences.extend(flags["placement_pref"])
    task.placement.max_replicas = flags["replicas_max_per_node"]
    for config in (spec.update_config, spec.rollback_config):
        config.parallelism = 1
        config.failure_action = "pause"
        config.monitor.FromSeconds(5)
        config.order = "stop-first"
    set_networking(spec, flags)
    return spec


def _set_mode(spec: objects_pb2.ServiceSpec, flags: dict[str, Any]) -> None:
    mode, replicas, max_concurrent = flags["mode"], flags["replicas"], flags["max_concurrent"]
    if replicas is not None and mode not in ("replicated", "replicated-job"):
        raise CliError("replicas can only be used with replicated or replicated-job mode")
    if max_concurrent is not None and mode != "replicated-job":
        raise CliError("max-concurrent can only be used with replicated-job mode")
    if flags["replicas_max_per_node"] and mode not in ("replicated", "replicated-job"):
        raise CliError(
            "replicas-max-per-node can only be used with replicated or replicated-job mode"
        )
    if mode == "replicated":
        spec.replicated.replicas = 1 if replicas is None else replicas
    elif mode == "global":
        getattr(spec, "global").SetInParent()
    elif mode == "replicated-job":
        total = 1 if replicas is None else replicas
        spec.replicated_job.total_completions = total
        spec.replicated_job.max_concurrent = total if max_concurrent is None else max_concurrent
    else:
        spec.global_job.SetInParent()


def _container(image: str, args: Sequence[str], flags: dict[str, Any]) -> objects_pb2.ContainerSpec:
    env: list[str] = []
    for path in flags["env_file"]:
        env += read_env_file(path)
    env += flags["env"]
    c = objects_pb2.ContainerSpec(
        image=image,
        labels=dict(flags["container_label"]),
        args=list(args),
        env=env,
        hostname=flags["hostname"],
        dir=flags["workdir"],
        user=flags["user"],
        read_only=flags["read_only"],
        stop_signal=flags["stop_signal"],
        mounts=flags["mount"],
        secrets=flags["secret"],
        configs=flags["configs"],
        capability_add=flags["cap_add"],
        capability_drop=flags["cap_drop"],
        sysctls=dict(flags["sysctl"]),
        ulimits=flags["ulimit"],
    )
    if flags["entrypoint"] is not None:
        c.command.extend(shlex.split(flags["entrypoint"]))
    if flags["init"]:
        c.init = True
    if flags["stop_grace_period"] is not None:
        c.stop_grace_period.CopyFrom(flags["stop_grace_period"])
    else:
        c.stop_grace_period.FromSeconds(10)
    health = _healthcheck(flags)
    if health is not None:
        c.healthcheck.CopyFrom(health)
    if flags["with_registry_auth"]:
        c.registry_auth = registry_auth(image)
    return c


def _healthcheck(flags: dict[str, Any]) -> objects_pb2.HealthConfig | None:
    """docker's healthCheckOptions.toHealthConfig."""
    keys = ("health_interval", "health_timeout", "health_retries", "health_start_period")
    tuned = flags["health_cmd"] is not None or any(flags[k] is not None for k in keys)
    if flags["no_healthcheck"]:
        if tuned:
            raise CliError("--no-healthcheck conflicts with --health-* options")
        return objects_pb2.HealthConfig(test=["NONE"])
    if not tuned:
        return None
    health = objects_pb2.HealthConfig()
    if flags["health_cmd"]:
        health.test.extend(["CMD-SHELL", flags["health_cmd"]])
    for key, field in (
        ("health_interval", health.interval),
        ("health_timeout", health.timeout),
        ("health_start_period", health.start_period),
    ):
        if flags[key] is not None:
            field.CopyFrom(flags[key])
    if flags["health_retries"] is not None:
        health.retries = flags["health_retries"]
    return health


def _set_resources(r: objects_pb2.ResourceRequirements, flags: dict[str, Any]) -> None:
    r.limits.nano_cpus = flags["limit_cpu"] or 0
    r.limits.memory_bytes = flags["limit_memory"] or 0
    r.limits.pids = flags["limit_pids"] or 0
    r.reservations.nano_cpus = flags["reserve_cpu"] or 0
    r.reservations.memory_bytes = flags["reserve_memory"] or 0


def _set_restart(policy: objects_pb2.RestartPolicy, flags: dict[str, Any], is_job: bool) -> None:
    # Docker: jobs restart only on failure unless told otherwise (they must not rerun).
    policy.condition = flags["restart_condition"] or ("on-failure" if is_job else "any")
    if flags["restart_delay"] is not None:
        policy.delay.CopyFrom(flags["restart_delay"])
    else:
        policy.delay.FromSeconds(5)
    policy.max_attempts = flags["restart_max_attempts"] or 0
    if flags["restart_window"] is not None:
        policy.window.CopyFrom(flags["restart_window"])


def registry_domain(image: str) -> str:
    """The registry an image comes from, as a key of ~/.docker/config.json's auths."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "https://index.docker.io/v1/"


def registry_auth(image: str, config_dir: str | None = None) -> str:
    """`--with-registry-auth`: the credentials `docker login` stored for the image's
    registry, encoded as Docker's X-Registry-Auth (base64url JSON); "" if there are none."""
    directory = config_dir or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
            auths = json.load(f).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return ""
    domain = registry_domain(image)
    entry = auths.get(domain) or auths.get(f"https://{domain}") or auths.get(f"http://{domain}")
    if not isinstance(entry, dict) or not entry.get("auth"):
        return ""
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return ""
    config = {"username": user, "password": password, "serveraddress": domain}
    return base64.urlsafe_b64encode(json.dumps(config).encode()).decode()


# ---- waiting for convergence ----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    lines: list[tuple[str, str]]  # (id, line): a line is printed again only when it changes
    converged: bool
    job: bool


def service_progress(
    service: objects_pb2.Service, tasks: Sequence[objects_pb2.Task], bar: bool
) -> Progress:
    """What docker's progress writers show for the service's current tasks."""
    mode = service.spec.WhichOneof("mode") or "replicated"
    live = [t for t in tasks if t.desired_state <= objects_pb2.COMPLETE]
    if mode in ("replicated", "replicated_job"):
        by_slot: dict[int, objects_pb2.Task] = {}
        for t in sorted(live, key=lambda t: (t.status.state, t.meta.created_at.seconds)):
            by_slot[t.slot] = t  # the furthest along (then newest) task of each slot
        keyed = sorted(by_slot.items())
    else:
        by_node: dict[str, objects_pb2.Task] = {}
        for t in sorted(live, key=lambda t: (t.status.state, t.meta.created_at.seconds)):
            by_node[t.node_id] = t
        keyed = sorted(by_node.items())  # type: ignore[arg-type]
    running = sum(1 for _, t in keyed if t.status.state == objects_pb2.RUNNING)
    complete = sum(1 for t in tasks if t.status.state == objects_pb2.COMPLETE)
    if mode == "replicated":
        total = service.spec.replicated.replicas
        shown = [(k, t) for k, t in keyed if 0 < int(k) <= total]
        head = [("overall", f"overall progress: {running} out of {total} tasks")]
        lines = head + [
            (f"{k}/{total}", render.progress_line(f"{k}/{total}", t, bar)) for k, t in shown
        ]
        return Progress(lines, running == total, job=False)
    if mode == "global":
        total = len(keyed)
        head = [("overall", f"overall progress: {running} out of {total} tasks")]
        lines = head + [
            (str(k), render.progress_line(render.short_id(str(k)), t, bar)) for k, t in keyed
        ]
        return Progress(lines, running == total, job=False)
    total = (
        service.spec.replicated_job.total_completions if mode == "replicated_job" else len(keyed)
    )
    head = [
        ("job", f"job progress: {complete} out of {total} complete"),
        ("active", f"active tasks: {running} out of {len(keyed) - complete} tasks"),
    ]
    lines = head + [
        (str(k), render.progress_line(f"{k}/{total}" if mode == "replicated_job" else
                                      render.short_id(str(k)), t, bar))
        for k, t in keyed
    ]  # fmt: skip
    return Progress(lines, total > 0 and complete >= total, job=True)


def wait_for_service(
    daemon: Daemon,
    service_id: str,
    *,
    quiet: bool = False,
    out: TextIO | None = None,
    pacing: Pacing | None = None,
) -> None:
    """Poll the service's tasks until it converged and stayed so for its monitor period (jobs:
    until complete), printing docker's progress lines as they change."""
    pacing = pacing or PACING
    stream: TextIO = out if out is not None else sys.stdout
    bar = stream.isatty()
    shown: dict[str, str] = {}

    def show(key: str, line: str) -> None:
        if not quiet and shown.get(key) != line:
            shown[key] = line
            stream.write(line + "\n")
            stream.flush()

    converged_at: float | None = None
    while True:
        svc = daemon.get_service(service_id)
        progress = service_progress(svc, daemon.list_tasks(service_ids=[svc.id]), bar)
        for key, line in progress.lines:
            show(key, line)
        now = pacing.monotonic()
        if progress.job:
            if progress.converged:
                show("verify", "job complete")
                return
        elif progress.converged:
            monitor = svc.spec.update_config.monitor.ToNanoseconds() / 1e9 or DEFAULT_MONITOR
            if converged_at is None:
                converged_at = now
                seconds = math.ceil(monitor)  # docker: (monitor - elapsed)/1s + 1, elapsed > 0
                show("verify", f"verify: Waiting {seconds} seconds to verify that "
                     "tasks are stable...")  # fmt: skip
            if now - converged_at >= monitor:
                show("verify", "verify: Service converged")
                return
        elif converged_at is not None:
            converged_at = None
            show("verify", "verify: Detected task failure")
        pacing.sleep(pacing.poll)


# ---- ls, ps, inspect ------------------------------------------------------------------------


@service.command("ls")
@list_options
@pass_daemon
def ls(daemon: Daemon, quiet: bool, fmt: str, filters: tuple[tuple[str, str], ...]) -> None:
    """List services"""
    services = render.sort_services(_filter_services(daemon.list_services(), filters))
    if quiet:
        click.echo("".join(render.short_id(s.id) + "\n" for s in services), nl=False)
        return
    tasks: dict[str, list[objects_pb2.Task]] = {}
    if services:
        for t in daemon.list_tasks(desired_states=[objects_pb2.RUNNING, objects_pb2.COMPLETE]):
            tasks.setdefault(t.service_id, []).append(t)
    rows = [render.service_row(s, tasks.get(s.id, [])) for s in services]
    table = render.SERVICE_TABLE if fmt in ("", "table") else fmt
    click.echo(render.format_rows(table, rows, render.SERVICE_HEADERS), nl=False)


def _filter_services(
    services: list[objects_pb2.Service], filters: tuple[tuple[str, str], ...]
) -> list[objects_pb2.Service]:
    wanted = filters_to_map(filters)
    for key in wanted:
        if key not in ("id", "label", "mode", "name"):
            raise CliError(f"invalid filter '{key}'")

    def keep(s: objects_pb2.Service) -> bool:
        checks: dict[str, Callable[[str], bool]] = {
            "id": lambda v: s.id.startswith(v),
            "name": lambda v: s.spec.name.startswith(v),
            "mode": lambda v: render.service_mode(s.spec).replace(" ", "-") == v,
            "label": lambda v: _has_label(s.spec.labels, v),
        }
        return all(any(checks[k](v) for v in values) for k, values in wanted.items())

    return [s for s in services if keep(s)]


def _has_label(labels: Any, item: str) -> bool:
    key, sep, value = item.partition("=")
    return key in labels and (not sep or labels[key] == value)


@service.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE [SERVICE...]")
@pass_daemon
@click.pass_context
def inspect(
    ctx: click.Context, daemon: Daemon, fmt: str, pretty: bool, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more services"""
    if pretty and fmt:
        raise CliError("--format is incompatible with human friendly format")
    found: list[objects_pb2.Service] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(daemon.get_service(ref))
        except CliError as e:
            errors.append(e.message)
    if pretty:
        click.echo("\n".join(render.service_pretty(s) for s in found), nl=False)
    else:
        rows = [render.service_inspect(s) for s in found]
        click.echo(render.format_inspect(fmt, rows), nl=False)
    fail(ctx, errors)


def task_list_options(f: Callable[..., None]) -> Callable[..., None]:
    """The flags `service ps` and `node ps` share."""
    for option in reversed(
        [
            click.option(
                "-f",
                "--filter",
                "filters",
                type=Filter(),
                multiple=True,
                help="Filter output based on conditions provided",
            ),
            click.option(
                "--format", "fmt", default="", help="Pretty-print tasks using a Go template"
            ),
            click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names"),
            click.option("--no-trunc", is_flag=True, help="Do not truncate output"),
            click.option("-q", "--quiet", is_flag=True, help="Only display task IDs"),
        ]
    ):
        f = option(f)
    return f


def print_tasks(
    daemon: Daemon,
    tasks: list[objects_pb2.Task],
    *,
    filters: tuple[tuple[str, str], ...],
    fmt: str,
    no_resolve: bool,
    no_trunc: bool,
    quiet: bool,
) -> None:
    services = {s.id: s.spec.name for s in daemon.list_services()} if tasks else {}
    nodes = {n.id: n.description.hostname for n in daemon.list_nodes()} if tasks else {}
    tasks = _filter_tasks(tasks, filters_to_map(filters), services, nodes)
    rows = render.task_rows(
        tasks,
        service_names=services,
        node_names={} if no_resolve else nodes,
        now=render.now(),
        trunc=not no_trunc,
    )
    if quiet:
        click.echo("".join(f"{r['ID']}\n" for r in rows), nl=False)
        return
    table = render.TASK_TABLE if fmt in ("", "table") else fmt
    click.echo(render.format_rows(table, rows, render.TASK_HEADERS), nl=False)


def _filter_tasks(
    tasks: list[objects_pb2.Task],
    filters: dict[str, list[str]],
    services: dict[str, str],
    nodes: dict[str, str],
) -> list[objects_pb2.Task]:
    for key in filters:
        if key not in ("id", "name", "node", "desired-state"):
            raise CliError(f"invalid filter '{key}'")
    for state in filters.get("desired-state", []):
        if state not in ("running", "shutdown", "accepted"):
            raise CliError(f"Invalid desired-state filter: '{state}'")

    def keep(t: objects_pb2.Task) -> bool:
        name = render.task_name(t, services.get(t.service_id, t.service_id))
        checks: dict[str, Callable[[str], bool]] = {
            "id": lambda v: t.id.startswith(v),
            "name": lambda v: name.startswith(v),
            "node": lambda v: v in (t.node_id, nodes.get(t.node_id)),
            "desired-state": lambda v: render.task_state(t.desired_state) == v,
        }
        return all(any(checks[k](v) for v in values) for k, values in filters.items())

    return [t for t in tasks if keep(t)]


@service.command("ps")
@task_list_options
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE [SERVICE...]")
@pass_daemon
def ps(daemon: Daemon, /, refs: tuple[str, ...], **flags: Any) -> None:
    """List the tasks of one or more services"""
    ids: list[str] = []
    errors: list[str] = []
    for ref in refs:
        try:
            ids.append(daemon.get_service(ref).id)
        except CliError as e:
            errors.append(f"no such service: {ref}" if e.code is not None and
                          e.code.name == "NOT_FOUND" else e.message)  # fmt: skip
    if errors:
        raise CliError("\n".join(errors))
    print_tasks(daemon, daemon.list_tasks(service_ids=ids), **flags)


# ---- scale, rm ------------------------------------------------------------------------------


@service.command("scale")
@click.option(
    "-d", "--detach", is_flag=True,
    help="Exit immediately instead of waiting for the service to converge",
)  # fmt: skip
@click.argument("pairs", nargs=-1, required=True, metavar="SERVICE=REPLICAS [SERVICE=REPLICAS...]")
@pass_daemon
@click.pass_context
def scale(ctx: click.Context, daemon: Daemon, detach: bool, pairs: tuple[str, ...]) -> None:
    """Scale one or multiple replicated services"""
    wanted: list[tuple[str, int]] = []
    for pair in pairs:
        ref, sep, count = pair.partition("=")
        if not sep or not ref:
            raise CliError(f"invalid scale specifier '{pair}'. See 'shoal service scale --help'")
        try:
            wanted.append((ref, parse_uint(count)))
        except ValueError as e:
            raise CliError(f"invalid replicas value {count}: {e}") from None
    errors: list[str] = []
    scaled: list[str] = []
    for ref, replicas in wanted:
        try:
            scaled.append(_scale_one(daemon, ref, replicas))
        except CliError as e:
            errors.append(e.message)
            continue
        click.echo(f"{ref} scaled to {replicas}")
    if not detach:
        for service_id in scaled:
            wait_for_service(daemon, service_id)
    fail(ctx, errors)


def _scale_one(daemon: Daemon, ref: str, replicas: int) -> str:
    current = daemon.get_service(ref)
    mode = current.spec.WhichOneof("mode")
    if mode == "replicated":
        current.spec.replicated.replicas = replicas
    elif mode == "replicated_job":
        current.spec.replicated_job.total_completions = replicas
    else:
        raise CliError("scale can only be used with replicated or replicated-job mode")
    daemon.update_service(current)
    return current.id


@service.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="SERVICE [SERVICE...]")
@pass_daemon
@click.pass_context
def rm(ctx: click.Context, daemon: Daemon, refs: tuple[str, ...]) -> None:
    """Remove one or more services"""
    errors: list[str] = []
    for ref in refs:
        try:
            daemon.remove_service(ref)
        except CliError as e:
            errors.append(e.message)
            continue
        click.echo(ref)
    fail(ctx, errors)


# ---- logs -----------------------------------------------------------------------------------


def parse_since(text: str, now: float) -> int:
    """docker's --since, to unix nanoseconds: a unix timestamp ("1700000000.5"), a duration
    before now ("42m", "1h30m"), or an RFC 3339 time ("2013-01-02T13:23:37Z"; no zone: local)."""
    nanos = _since_nanos(text, now)
    if not 0 <= nanos <= INT64_MAX:
        raise click.BadParameter(f'value out of range: "{text}"', param_hint="'--since'")
    return nanos


def _since_nanos(text: str, now: float) -> int:
    if not text:
        return 0
    try:
        return int(float(text) * 1_000_000_000)
    except (ValueError, OverflowError):
        pass
    try:
        return int(now * 1_000_000_000) - parse_go_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f'invalid value "{text}": use a time like 2013-01-02T13:23:37Z or a duration like 42m',
            param_hint="'--since'",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def parse_tail(text: str) -> int:
    """docker's --tail: a number of lines; "all", a negative or non-numeric value: all."""
    try:
        return max(int(text), -1)
    except ValueError:
        return -1


class LogNames:
    """Task, service and node names for the log prefixes, looked up once each."""

    def __init__(self, daemon: Daemon, *, resolve: bool, no_trunc: bool) -> None:
        self._daemon = daemon
        self._resolve = resolve
        self._no_trunc = no_trunc
        self._tasks: dict[str, objects_pb2.Task | None] = {}
        self._nodes: dict[str, str] = {}
        self._widths: dict[str, int] = {}

    def context(self, line: logs_pb2.LogMessage, *, task_ids: bool) -> str:
        ctx = line.context
        task = self._task(ctx.task_id)
        if task is None:
            slot, service_name = "", ctx.service_id
        else:
            slot = str(task.slot) if task.slot else task.node_id
            service_name = task.service_annotations.name or task.service_id
        if not self._resolve:
            service_name = ctx.service_id
        task_id = ctx.task_id if self._no_trunc else render.short_id(ctx.task_id)
        pad = self._width(ctx.service_id) - len(slot) if task is not None and task.slot else 0
        return render.log_context(
            service_name, slot, task_id, self._node(ctx.node_id), task_ids=task_ids, pad=pad
        )

    def _task(self, task_id: str) -> objects_pb2.Task | None:
        if task_id not in self._tasks:
            try:
                self._tasks[task_id] = self._daemon.get_task(task_id)
            except CliError:
                self._tasks[task_id] = None
        return self._tasks[task_id]

    def _node(self, node_id: str) -> str:
        if not self._resolve:
            return node_id
        if node_id not in self._nodes:
            try:
                self._nodes[node_id] = self._daemon.get_node(node_id).description.hostname
            except CliError:
                self._nodes[node_id] = ""
        return self._nodes[node_id] or node_id

    def _width(self, service_id: str) -> int:
        """The widest slot number of the service, for docker's alignment."""
        if service_id not in self._widths:
            try:
                tasks = self._daemon.list_tasks(service_ids=[service_id])
            except CliError:
                tasks = []
            self._widths[service_id] = max((len(str(t.slot)) for t in tasks), default=1)
        return self._widths[service_id]


@service.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option(
    "-n", "--tail", default="all", help="Number of lines to show from the end of the logs"
)
@click.option(
    "--since",
    default="",
    help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for '
    "42 minutes)",
)
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--raw", is_flag=True, help="Do not neatly format logs")
@click.option("--no-task-ids", is_flag=True, help="Do not include task IDs in output")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names in output")
@click.argument("ref", metavar="SERVICE|TASK")
@pass_daemon
def logs(
    daemon: Daemon,
    /,
    ref: str,
    follow: bool,
    tail: str,
    since: str,
    timestamps: bool,
    raw: bool,
    no_task_ids: bool,
    no_trunc: bool,
    no_resolve: bool,
) -> None:
    """Fetch the logs of a service or task"""
    request = control_pb2.ServiceLogsRequest(
        ref=ref,
        follow=follow,
        tail=parse_tail(tail),  # -1: all
        since_unix_nano=parse_since(since, render.now()),
        timestamps=timestamps,
    )
    names = LogNames(daemon, resolve=not no_resolve, no_trunc=no_trunc)
    stdout, stderr = sys.stdout.buffer, sys.stderr.buffer
    try:
        for message in daemon.service_logs(request):
            for warning in message.warnings:
                click.echo(f"warning: {warning}", err=True)
            for line in message.messages:
                prefix = ""
                if timestamps:
                    prefix = render.log_timestamp(line.unix_nano) + " "
                if not raw:
                    prefix += names.context(line, task_ids=not no_task_ids)
                out = stderr if line.stream == logs_pb2.LogMessage.STDERR else stdout
                out.write(prefix.encode() + line.data)
                out.flush()
    except KeyboardInterrupt:
        pass
