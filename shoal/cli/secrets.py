"""`shoal secret create|inspect|ls|rm` (docker/cli cli/command/secret)."""

from __future__ import annotations

import sys
from typing import BinaryIO

import click

from proto import objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._filters import filter_by_spec
from ._options import Filter, Label, filters_to_map
from .nodes import fail

# swarmkit's MaxSecretSize; read twice that so the daemon, not a truncation, rejects big data
MAX_SECRET_SIZE = 500 * 1024


def read_data(stdin: BinaryIO, name: str) -> bytes:
    """The data of `secret create NAME FILE|-` (docker's readSecretData)."""
    if name == "-":
        data = stdin.read(2 * MAX_SECRET_SIZE)
        if not data:
            raise CliError("error reading from STDIN: data is empty")
        return data
    try:
        with open(name, "rb") as f:
            data = f.read(2 * MAX_SECRET_SIZE)
    except OSError as e:
        raise CliError(
            f"error reading from {name}: open {name}: {(e.strerror or str(e)).lower()}"
        ) from None
    if not data:
        raise CliError(f"error reading from {name}: data is empty")
    return data


@click.group(cls=ObjectGroup)
def secret() -> None:
    """Manage Swarm secrets"""


@secret.command("create")
@click.option("-l", "--label", "labels", type=Label(), multiple=True, help="Secret labels")
@click.argument("name", metavar="SECRET")
@click.argument("file", required=False, default="", metavar="[file|-]")
@pass_daemon
def create(daemon: Daemon, labels: tuple[tuple[str, str], ...], name: str, file: str) -> None:
    """Create a secret from a file or STDIN as content"""
    if not file:
        raise CliError("secret file is required")
    data = read_data(sys.stdin.buffer, file)
    spec = objects_pb2.SecretSpec(name=name, labels=dict(labels), data=data)
    click.echo(daemon.create_secret(spec).id)


@secret.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output: json, pretty or a template")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.argument("refs", nargs=-1, required=True, metavar="SECRET [SECRET...]")
@pass_daemon
@click.pass_context
def inspect(
    ctx: click.Context, daemon: Daemon, fmt: str, pretty: bool, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more secrets"""
    if pretty:
        fmt = "pretty"
    found: list[objects_pb2.Secret] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(daemon.get_secret(ref))
        except CliError as e:
            errors.append(e.message)
    if fmt == "pretty":
        click.echo("".join(render.secret_pretty(s) for s in found), nl=False)
    else:
        click.echo(render.format_inspect(fmt, [render.secret_inspect(s) for s in found]), nl=False)
    fail(ctx, errors)


@secret.command("ls")
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
    """List secrets"""
    secrets = filter_by_spec(daemon.list_secrets(), filters_to_map(filters))
    secrets.sort(key=lambda s: render.natural_key(s.spec.name))
    if quiet:
        click.echo("".join(s.id + "\n" for s in secrets), nl=False)
        return
    now = render.now()
    rows = [render.secret_row(s, now) for s in secrets]
    if fmt in ("", "table"):
        click.echo(render.secret_table(rows), nl=False)
    else:
        click.echo(render.format_rows(fmt, rows, render.SECRET_HEADERS), nl=False)


@secret.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="SECRET [SECRET...]")
@pass_daemon
@click.pass_context
def rm(ctx: click.Context, daemon: Daemon, refs: tuple[str, ...]) -> None:
    """Remove one or more secrets"""
    errors: list[str] = []
    for ref in refs:
        try:
            daemon.remove_secret(ref)
        except CliError as e:
            errors.append(e.message)
            continue
        click.echo(ref)
    fail(ctx, errors)
