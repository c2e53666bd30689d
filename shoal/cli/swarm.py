"""`shoal swarm init|join|join-token|leave|update` (docker/cli cli/command/swarm)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TypeVar

import click
from google.protobuf.duration_pb2 import Duration

from proto import control_pb2, objects_pb2

from . import render
from ._client import CliError, Daemon, pass_daemon
from ._options import DEFAULT_PORT, GoDuration, ListenAddr, with_default_port

_SECOND = 10**9
_F = TypeVar("_F", bound=Callable[..., object])


@click.group()
def swarm() -> None:
    """Manage Swarm"""


def _swarm_flags(f: _F) -> _F:
    """The cluster-spec flags of docker's addSwarmFlags; None when not given."""
    options = [
        click.option(
            "--task-history-limit",
            type=int,
            show_default="5",
            help="Task history retention limit",
        ),
        click.option(
            "--dispatcher-heartbeat",
            type=GoDuration(),
            show_default="5s",
            help="Dispatcher heartbeat period (ns|us|ms|s|m|h)",
        ),
        click.option(
            "--snapshot-interval",
            type=click.IntRange(min=0),
            show_default="10000",
            help="Number of log entries between Raft snapshots",
        ),
        click.option(
            "--cert-expiry",
            type=GoDuration(),
            show_default="2160h0m0s",
            help="Validity period for node certificates (ns|us|ms|s|m|h)",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _whole_seconds(nanos: int | None, flag: str) -> int:
    """A duration flag for a field kept in whole seconds (0: the daemon's default)."""
    if nanos is None:
        return 0
    if nanos <= 0 or nanos % _SECOND:
        raise click.BadParameter("must be a positive whole number of seconds", param_hint=flag)
    return nanos // _SECOND


def _cidr(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    pools: list[str] = []
    for value in values:
        for item in filter(None, value.split(",")):
            try:
                pools.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise click.BadParameter(f"invalid CIDR address: {item}") from None
    return pools


@swarm.command("init")
@click.option(
    "--listen-addr",
    type=ListenAddr(),
    default="0.0.0.0:2377",
    show_default=True,
    help='Listen address (format: "<ip|interface>[:port]")',
)
@click.option(
    "--advertise-addr", default="", help='Advertised address (format: "<ip|interface>[:port]")'
)
@click.option(
    "--data-path-port",
    type=click.IntRange(min=0, max=65535),
    default=0,
    help="Port number to use for data path traffic (1024 - 49151). If no value is set or is "
    "set to 0, the default port (4789) is used.",
)
@click.option(
    "--default-addr-pool",
    multiple=True,
    callback=_cidr,
    help="default address pool in CIDR format",
)
@click.option(
    "--default-addr-pool-mask-length",
    type=click.IntRange(min=0, max=128),
    default=24,
    show_default=True,
    help="default address pool subnet mask length",
)
@_swarm_flags
@pass_daemon
def init(
    daemon: Daemon,
    listen_addr: str,
    advertise_addr: str,
    data_path_port: int,
    default_addr_pool: list[str],
    default_addr_pool_mask_length: int,
    task_history_limit: int | None,
    dispatcher_heartbeat: int | None,
    snapshot_interval: int | None,
    cert_expiry: int | None,
) -> None:
    """Initialize a swarm"""
    request = control_pb2.InitRequest(
        listen_addr=listen_addr,
        advertise_addr=advertise_addr,
        data_path_port=data_path_port,
        default_addr_pool=default_addr_pool,
        subnet_size=default_addr_pool_mask_length,
        dispatcher_heartbeat_seconds=_whole_seconds(
            dispatcher_heartbeat, "'--dispatcher-heartbeat'"
        ),
        task_history_limit=task_history_limit or 0,
        cert_expiry_seconds=_whole_seconds(cert_expiry, "'--cert-expiry'"),
        snapshot_interval=snapshot_interval or 0,
    )
    try:
        response = daemon.init(request)
    except CliError as e:
        if "could not choose an IP address to advertise" in e.message or (
            "could not find the system's IP address" in e.message
        ):
            raise CliError(e.message + " - specify one with --advertise-addr", e.code) from None
        raise
    cluster = daemon.get_cluster()
    port = int(listen_addr.rsplit(":", 1)[1])
    addr = _manager_addr(daemon, response.node_id, port)
    click.echo(
        render.init_message(response.node_id, cluster.root_ca.join_tokens.worker, addr), nl=False
    )


def _manager_addr(daemon: Daemon, node_id: str, port: int = DEFAULT_PORT) -> str:
    """Where to join this manager: its ManagerStatus.Addr like docker, else the info's address."""
    node = daemon.get_node(node_id)
    if node.HasField("manager_status") and node.manager_status.addr:
        return node.manager_status.addr
    return with_default_port(daemon.info().node_addr, port=port)


@swarm.command("join")
@click.option("--token", default="", help="Token for entry into the swarm")
@click.option(
    "--listen-addr",
    type=ListenAddr(),
    default="0.0.0.0:2377",
    show_default=True,
    help='Listen address (format: "<ip|interface>[:port]")',
)
@click.option(
    "--advertise-addr", default="", help='Advertised address (format: "<ip|interface>[:port]")'
)
@click.argument("remote", metavar="HOST:PORT")
@pass_daemon
def join(daemon: Daemon, token: str, listen_addr: str, advertise_addr: str, remote: str) -> None:
    """Join a swarm as a node and/or manager"""
    response = daemon.join(
        control_pb2.JoinRequest(
            remote_addrs=[remote],
            token=token,
            listen_addr=listen_addr,
            advertise_addr=advertise_addr,
        )
    )
    role = "manager" if response.role == "manager" else "worker"
    click.echo(f"This node joined a swarm as a {role}.")


@swarm.command("join-token")
@click.option("--rotate", is_flag=True, help="Rotate join token")
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.argument("role", metavar="(worker|manager)")
@pass_daemon
def join_token(daemon: Daemon, rotate: bool, quiet: bool, role: str) -> None:
    """Manage join tokens"""
    if role not in ("worker", "manager"):
        raise CliError(f"unknown role {role}")
    if rotate:
        cluster = daemon.get_cluster()
        daemon.update_cluster(
            control_pb2.UpdateClusterRequest(
                version=cluster.meta.version,
                spec=cluster.spec,
                rotate_worker_token=role == "worker",
                rotate_manager_token=role == "manager",
            )
        )
        if not quiet:
            click.echo(f"Successfully rotated {role} join token.\n")
    tokens = daemon.get_cluster().root_ca.join_tokens
    token = tokens.worker if role == "worker" else tokens.manager
    if quiet:
        click.echo(token)
        return
    node_id = daemon.info().node_id
    click.echo(render.join_command(role, token, _manager_addr(daemon, node_id)), nl=False)


@swarm.command("leave")
@click.option(
    "-f", "--force", is_flag=True, help="Force this node to leave the swarm, ignoring warnings"
)
@pass_daemon
def leave(daemon: Daemon, force: bool) -> None:
    """Leave the swarm"""
    daemon.leave(force)
    click.echo("Node left the swarm.")


@swarm.command("update")
@click.option(
    "--max-snapshots",
    type=click.IntRange(min=0),
    show_default="0",
    help="Number of additional Raft snapshots to retain",
)
@_swarm_flags
@pass_daemon
@click.pass_context
def update(
    ctx: click.Context,
    daemon: Daemon,
    max_snapshots: int | None,
    task_history_limit: int | None,
    dispatcher_heartbeat: int | None,
    snapshot_interval: int | None,
    cert_expiry: int | None,
) -> None:
    """Update the swarm"""
    given = (
        max_snapshots,
        task_history_limit,
        dispatcher_heartbeat,
        snapshot_interval,
        cert_expiry,
    )
    if all(v is None for v in given):
        click.echo(ctx.get_help())  # docker answers a flagless update with the help text
        return
    cluster = daemon.get_cluster()
    spec = objects_pb2.ClusterSpec()
    spec.CopyFrom(cluster.spec)
    if task_history_limit is not None:
        spec.orchestration.task_history_retention_limit = task_history_limit
    if dispatcher_heartbeat is not None:
        spec.dispatcher.heartbeat_period.CopyFrom(_duration(dispatcher_heartbeat))
    if max_snapshots is not None:
        spec.raft.keep_old_snapshots = max_snapshots
    if snapshot_interval is not None:
        spec.raft.snapshot_interval = snapshot_interval
    if cert_expiry is not None:
        spec.ca_config.node_cert_expiry.CopyFrom(_duration(cert_expiry))
    daemon.update_cluster(control_pb2.UpdateClusterRequest(version=cluster.meta.version, spec=spec))
    click.echo("Swarm updated.")


def _duration(nanos: int) -> Duration:
    d = Duration()
    d.FromNanoseconds(nanos)
    return d
