"""`shoal config create|inspect|ls|rm` (docker/cli cli/command/config)."""

from __future__ import annotations

import sys

import click

from proto import objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._filters import filter_by_spec
from ._options import Filter, Label, filters_to_map
from .nodes import fail
from .secrets import read_data


@click.group(cls=ObjectGroup)
def config() -> None:
    """Manage Swarm configs"""


@config.command("create")
@click.option("-l", "--label", "labels", type=Label(), multiple=True, help="Config labels")
@click.argument("name", metavar="CONFIG")
@click.argument("file", metavar="file|-")
@pass_daemon
def create(daemon: Daemon, labels: tuple[tuple[str, str], ...], name: str, file: str) -> None:
    """Create a config from a file or STDIN"""
    data = read_data(sys.stdin.buffer, file)
    spec = objects_pb2.ConfigSpec(name=name, labels=dict(labels), data=data)
    click.echo(daemon.create_config(spec).id)


@config.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output: json, pretty or a template")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.argument("refs", nargs=-1, required=True, metavar="CONFIG [CONFIG...]")
@pass_daemon
@click.pass_context
def inspect(
    ctx: click.Context, daemon: Daemon, fmt: str, pretty: bool, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more configs"""
    if pretty:
        fmt = "pretty"
    found: list[objects_pb2.Config] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(daemon.get_config(ref))
        except CliError as e:
            errors.append(e.message)
    if fmt == "pretty":
        click.echo("".join(render.config_pretty(c) for c in found), nl=False)
    else:
        click.echo(render.format_inspect(fmt, [render.config_inspect(c) for c in found]), nl=False)
    fail(ctx, errors)


@config.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option(
    "--format", "fmt", default="", help="Format output: table (default), json, or a template"
)
@click.option(
    "-f", "--filter", "filters", type=Filter(), multiple=True,
    help="Filter output based on conditions provided",
)  # fmt: skip
@pass_daemon
def ls(daemon: Daemon, quiet: bool, fmt: str, filters: tuple[tuple[str, str], ...]) -> None:
    """List configs"""
    configs = filter_by_spec(daemon.list_configs(), filters_to_map(filters))
    configs.sort(key=lambda c: render.natural_key(c.spec.name))
    if quiet:
        click.echo("".join(c.id + "\n" for c in configs), nl=False)
        return
    now = render.now()
    rows = [render.config_row(c, now) for c in configs]
    if fmt in ("", "table"):
        click.echo(render.config_table(rows), nl=False)
    else:
        click.echo(render.format_rows(fmt, rows, render.CONFIG_HEADERS), nl=False)


@config.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="CONFIG [CONFIG...]")
@pass_daemon
@click.pass_context
def rm(ctx: click.Context, daemon: Daemon, refs: tuple[str, ...]) -> None:
    """Remove one or more configs"""
    errors: list[str] = []
    for ref in refs:
        try:
            daemon.remove_config(ref)
        except CliError as e:
            errors.append(e.message)
            continue
        click.echo(ref)
    fail(ctx, errors)
