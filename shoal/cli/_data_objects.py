"""`create|inspect|ls|rm` for Swarm's data objects, secrets and configs.

docker/cli's cli/command/secret and cli/command/config are near copies; here the commands are
written once and each kind is a `DataObject`: its name, its daemon calls, its render functions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Generic, TypeVar

import click

from proto import objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._filters import filter_by_spec
from ._options import Label, filters_to_map, list_options
from .nodes import fail

# swarmkit's MaxSecretSize; read twice that so the daemon, not a truncation, rejects big data
MAX_SECRET_SIZE = 500 * 1024

_O = TypeVar("_O", objects_pb2.Secret, objects_pb2.Config)
_S = TypeVar("_S", objects_pb2.SecretSpec, objects_pb2.ConfigSpec)


@dataclass(frozen=True)
class DataObject(Generic[_O, _S]):
    """What differs between `shoal secret ...` and `shoal config ...`."""

    name: str  # "secret": the group, metavars, help texts and messages are made from it
    create_help: str
    # docker's `secret create` takes FILE optionally (a secret may come from a driver) and
    # says "secret file is required" itself; `config create` leaves that to its usage line.
    file_optional: bool
    spec: type[_S]
    create: Callable[[Daemon, _S], _O]
    get: Callable[[Daemon, str], _O]
    list_all: Callable[[Daemon], list[_O]]
    remove: Callable[[Daemon, str], None]
    row: Callable[[_O, float], render.Row]
    headers: Mapping[str, str]
    table_format: str  # `ls` without --format
    inspect: Callable[[_O], render.Row]
    pretty: Callable[[_O], str]


def read_data(stdin: BinaryIO, name: str) -> bytes:
    """The data of `create NAME FILE|-` (docker's readSecretData)."""
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


def object_group(kind: DataObject[_O, _S]) -> click.Group:
    """The `shoal <kind.name>` group with its create, inspect, ls and rm commands."""
    noun, plural, metavar = kind.name, f"{kind.name}s", kind.name.upper()
    refs_metavar = f"{metavar} [{metavar}...]"
    file_argument = (
        click.argument("file", required=False, default="", metavar="[file|-]")
        if kind.file_optional
        else click.argument("file", metavar="file|-")
    )

    @click.group(noun, cls=ObjectGroup, help=f"Manage Swarm {plural}")
    def group() -> None:
        pass

    @group.command("create", help=kind.create_help)
    @click.option(
        "-l", "--label", "labels", type=Label(), multiple=True, help=f"{noun.capitalize()} labels"
    )
    @click.argument("name", metavar=metavar)
    @file_argument
    @pass_daemon
    def create(daemon: Daemon, labels: tuple[tuple[str, str], ...], name: str, file: str) -> None:
        if kind.file_optional and not file:
            raise CliError(f"{noun} file is required")
        data = read_data(sys.stdin.buffer, file)
        spec = kind.spec(name=name, labels=dict(labels), data=data)
        click.echo(kind.create(daemon, spec).id)

    @group.command("inspect", help=f"Display detailed information on one or more {plural}")
    @click.option(
        "-f", "--format", "fmt", default="", help="Format output: json, pretty or a template"
    )
    @click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
    @click.argument("refs", nargs=-1, required=True, metavar=refs_metavar)
    @pass_daemon
    @click.pass_context
    def inspect(
        ctx: click.Context, daemon: Daemon, fmt: str, pretty: bool, refs: tuple[str, ...]
    ) -> None:
        if pretty:
            fmt = "pretty"
        found: list[_O] = []
        errors: list[str] = []
        for ref in refs:
            try:
                found.append(kind.get(daemon, ref))
            except CliError as e:
                errors.append(e.message)
        if fmt == "pretty":
            click.echo("".join(kind.pretty(o) for o in found), nl=False)
        else:
            click.echo(render.format_inspect(fmt, [kind.inspect(o) for o in found]), nl=False)
        fail(ctx, errors)

    @group.command("ls", help=f"List {plural}")
    @list_options
    @pass_daemon
    def ls(daemon: Daemon, quiet: bool, fmt: str, filters: tuple[tuple[str, str], ...]) -> None:
        objects = filter_by_spec(kind.list_all(daemon), filters_to_map(filters))
        objects.sort(key=lambda o: render.natural_key(o.spec.name))
        if quiet:
            click.echo("".join(o.id + "\n" for o in objects), nl=False)
            return
        if fmt in ("", "table"):
            fmt = kind.table_format
        now = render.now()
        rows = [kind.row(o, now) for o in objects]
        click.echo(render.format_rows(fmt, rows, kind.headers), nl=False)

    @group.command("rm", help=f"Remove one or more {plural}")
    @click.argument("refs", nargs=-1, required=True, metavar=refs_metavar)
    @pass_daemon
    @click.pass_context
    def rm(ctx: click.Context, daemon: Daemon, refs: tuple[str, ...]) -> None:
        errors: list[str] = []
        for ref in refs:
            try:
                kind.remove(daemon, ref)
            except CliError as e:
                errors.append(e.message)
                continue
            click.echo(ref)
        fail(ctx, errors)

    return group
