"""`shoal network create|inspect|ls|rm` (docker/cli cli/command/network).

Every shoal network is a swarm-scoped overlay, so `-d` defaults to overlay (Docker's default,
bridge, is a local network shoal does not have). Flag values are checked here with Docker's
messages; what the daemon refuses (another driver, `-o encrypted`, a subnet in use, removing a
network that is in use) comes back as its one-line error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import click

from proto import objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._filters import _check, _labels_match
from ._ipam import ipam_configs, parse_gateways, parse_ip_ranges
from ._options import FlagValue, Label, csv_fields, filters_to_map, list_options
from .nodes import fail

NETWORK_FILTERS = ("driver", "id", "label", "name", "scope", "type")
INGRESS_WARNING = (
    "WARNING! Before removing the routing-mesh network, make sure all the nodes in your swarm "
    "run the same shoal version. Otherwise, removal may not be effective and functionality of "
    "newly created ingress networks will be impaired.\nAre you sure you want to continue?"
)


@click.group(cls=ObjectGroup)
def network() -> None:
    """Manage networks"""


def _driver_option(text: str) -> tuple[str, str]:
    """-o/--opt `key=value`, or `key` alone (an empty value), as docker's MapOpts."""
    key, _, value = text.partition("=")
    return key, value


def _flat(values: Sequence[tuple[str, ...]]) -> list[str]:
    return [item for group in values for item in group]


@network.command("create")
@click.option(
    "-d", "--driver", default="overlay", show_default=True, help="Driver to manage the Network"
)
@click.option(
    "-o", "--opt", "opts", multiple=True, type=FlagValue("map", _driver_option),
    help="Set driver specific options",
)  # fmt: skip
@click.option("--label", "labels", multiple=True, type=Label(), help="Set metadata on a network")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--ingress", is_flag=True, help="Create swarm routing-mesh network")
@click.option(
    "--subnet", "subnets", multiple=True,
    help="Subnet in CIDR format that represents a network segment",
)  # fmt: skip
@click.option(
    "--ip-range", "ip_ranges", multiple=True, type=FlagValue("cidr", parse_ip_ranges),
    help="Allocate container ip from a sub-range",
)  # fmt: skip
@click.option(
    "--gateway", "gateways", multiple=True, type=FlagValue("ip", parse_gateways),
    help="IPv4 or IPv6 Gateway for the master subnet",
)  # fmt: skip
@click.argument("name", metavar="NETWORK")
@pass_daemon
def create(
    daemon: Daemon,
    /,
    driver: str,
    opts: tuple[tuple[str, str], ...],
    labels: tuple[tuple[str, str], ...],
    internal: bool,
    attachable: bool,
    ingress: bool,
    subnets: tuple[str, ...],
    ip_ranges: tuple[tuple[str, ...], ...],
    gateways: tuple[tuple[str, ...], ...],
    name: str,
) -> None:
    """Create a network"""
    try:
        ipam = ipam_configs(
            [s.strip() for value in subnets for s in csv_fields(value)],
            _flat(ip_ranges),
            _flat(gateways),
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    spec = objects_pb2.NetworkSpec(
        name=name,
        labels=dict(labels),
        driver=driver,
        driver_options=dict(opts),
        ipam_configs=ipam,
        attachable=attachable,
        internal=internal,
        ingress=ingress,
    )
    click.echo(daemon.create_network(spec).id)


def _matches(value: str, patterns: list[str]) -> bool:
    """docker's filters.Match: equal to, or matching as a regular expression, any pattern."""
    for pattern in patterns:
        if value == pattern:
            return True
        try:
            if re.search(pattern, value):
                return True
        except re.error:
            continue
    return False


def filter_networks(
    networks: Sequence[objects_pb2.Network], filters: Mapping[str, list[str]]
) -> list[objects_pb2.Network]:
    """`network ls --filter` as docker's daemon applies it: keys AND, values OR; id and name
    match as regular expressions; every shoal network is a custom, swarm-scoped one."""
    _check(filters, NETWORK_FILTERS)
    for kind in filters.get("type", []):
        if kind not in ("custom", "builtin"):
            raise CliError(f"Invalid filter: 'type'='{kind}'")
    checks: dict[str, Callable[[objects_pb2.Network, list[str]], bool]] = {
        "driver": lambda n, v: (n.spec.driver or "overlay") in v,
        "id": lambda n, v: _matches(n.id, v),
        "name": lambda n, v: _matches(n.spec.name, v),
        "label": lambda n, v: _labels_match(n.spec.labels, v),
        "scope": lambda n, v: "swarm" in v,
        "type": lambda n, v: "custom" in v,
    }
    return [n for n in networks if all(checks[k](n, v) for k, v in filters.items())]


@network.command("ls")
@list_options
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@pass_daemon
def ls(
    daemon: Daemon,
    quiet: bool,
    fmt: str,
    filters: tuple[tuple[str, str], ...],
    no_trunc: bool,
) -> None:
    """List networks"""
    networks = filter_networks(daemon.list_networks(), filters_to_map(filters))
    networks.sort(key=lambda n: render.natural_key(n.spec.name))
    rows = [render.network_row(n, trunc=not no_trunc) for n in networks]
    if quiet:
        click.echo("".join(f"{r['ID']}\n" for r in rows), nl=False)
        return
    table = render.NETWORK_TABLE if fmt in ("", "table") else fmt
    click.echo(render.format_rows(table, rows, render.NETWORK_HEADERS), nl=False)


@network.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output using a custom template")
@click.argument("refs", nargs=-1, required=True, metavar="NETWORK [NETWORK...]")
@pass_daemon
@click.pass_context
def inspect(ctx: click.Context, daemon: Daemon, fmt: str, refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks"""
    found: list[objects_pb2.Network] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(daemon.get_network(ref))
        except CliError as e:
            errors.append(e.message)
    click.echo(render.format_inspect(fmt, [render.network_inspect(n) for n in found]), nl=False)
    fail(ctx, errors)


def _confirmed_ingress_removal(daemon: Daemon, ref: str) -> bool:
    """Docker asks before removing the routing-mesh network; no answer (no terminal) is no."""
    try:
        if not daemon.get_network(ref).spec.ingress:
            return True
    except CliError:
        return True  # the removal reports it
    try:
        return click.confirm(INGRESS_WARNING, default=False)
    except click.Abort:
        click.echo()
        return False


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("refs", nargs=-1, required=True, metavar="NETWORK [NETWORK...]")
@pass_daemon
@click.pass_context
def rm(ctx: click.Context, daemon: Daemon, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more networks"""
    errors: list[str] = []
    for ref in refs:
        if not _confirmed_ingress_removal(daemon, ref):
            continue
        try:
            daemon.remove_network(ref)
        except CliError as e:
            if not (force and e.code is not None and e.code.name == "NOT_FOUND"):
                errors.append(e.message)
            continue
        click.echo(ref)
    fail(ctx, errors)
