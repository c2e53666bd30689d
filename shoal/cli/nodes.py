"""`shoal node ls|inspect|ps|update|promote|demote|rm` (docker/cli cli/command/node)."""

from __future__ import annotations

from collections.abc import Callable

import click

from proto import objects_pb2

from . import render
from ._client import CliError, Daemon, ObjectGroup, pass_daemon
from ._filters import filter_nodes
from ._options import Filter, Label, filters_to_map, list_options


@click.group(cls=ObjectGroup)
def node() -> None:
    """Manage Swarm nodes"""


@node.command("ls")
@list_options
@pass_daemon
def ls(daemon: Daemon, quiet: bool, fmt: str, filters: tuple[tuple[str, str], ...]) -> None:
    """List nodes in the swarm"""
    nodes = render.sort_nodes(filter_nodes(daemon.list_nodes(), filters_to_map(filters)))
    if quiet:
        click.echo("".join(n.id + "\n" for n in nodes), nl=False)
        return
    self_id = daemon.info().node_id if nodes else ""
    if fmt in ("", "table"):
        click.echo(render.node_table(nodes, self_id), nl=False)
    else:
        rows = [render.node_row(n, self_id) for n in nodes]
        click.echo(render.format_rows(fmt, rows, render.NODE_HEADERS), nl=False)


@node.command("inspect")
@click.option("-f", "--format", "fmt", default="", help="Format output: json, pretty or a template")
@click.option("--pretty", is_flag=True, help="Print the information in a human friendly format")
@click.argument("refs", nargs=-1, required=True, metavar="self|NODE [NODE...]")
@pass_daemon
@click.pass_context
def inspect(
    ctx: click.Context, daemon: Daemon, fmt: str, pretty: bool, refs: tuple[str, ...]
) -> None:
    """Display detailed information on one or more nodes"""
    if pretty:
        fmt = "pretty"
    if fmt.startswith("pretty") and fmt != "pretty":
        raise CliError("cannot supply extra formatting options to the pretty template")
    nodes: list[objects_pb2.Node] = []
    errors: list[str] = []
    for ref in refs:
        try:
            nodes.append(daemon.get_node(daemon.node_ref(ref)))
        except CliError as e:
            errors.append(e.message)
    if fmt == "pretty":
        click.echo("".join(render.node_pretty(n) for n in nodes), nl=False)
    else:
        click.echo(render.format_inspect(fmt, [render.node_inspect(n) for n in nodes]), nl=False)
    fail(ctx, errors)


def fail(ctx: click.Context, errors: list[str]) -> None:
    """Report each failure of a multi-object command, then exit 1 if there were any."""
    for message in errors:
        click.echo(f"Error: {message}", err=True)
    if errors:
        ctx.exit(1)


def _update_nodes(
    daemon: Daemon,
    refs: tuple[str, ...],
    merge: Callable[[objects_pb2.Node], bool],
    success: Callable[[str], None],
) -> None:
    """docker's updateNodes: read, merge (False: nothing to do), write back with the version."""
    for ref in refs:
        current = daemon.get_node(daemon.node_ref(ref))
        if not merge(current):
            continue
        daemon.update_node(current)
        success(ref)


@node.command("update")
@click.option("--availability", help='Availability of the node ("active", "pause", "drain")')
@click.option("--role", help='Role of the node ("worker", "manager")')
@click.option(
    "--label-add", type=Label(), multiple=True, help='Add or update a node label ("key=value")'
)
@click.option("--label-rm", multiple=True, help="Remove a node label if exists")
@click.argument("ref", metavar="NODE")
@pass_daemon
def update(
    daemon: Daemon,
    availability: str | None,
    role: str | None,
    label_add: tuple[tuple[str, str], ...],
    label_rm: tuple[str, ...],
    ref: str,
) -> None:
    """Update a node"""

    def merge(n: objects_pb2.Node) -> bool:
        if role is not None:
            n.spec.role = role
        if availability is not None:
            n.spec.availability = availability
        for key, value in label_add:
            n.spec.labels[key] = value
        for key in label_rm:
            if key not in n.spec.labels:
                raise CliError(f"key {key} doesn't exist in node's labels")
            del n.spec.labels[key]
        return True

    _update_nodes(daemon, (ref,), merge, lambda r: click.echo(r))


@node.command("promote")
@click.argument("refs", nargs=-1, required=True, metavar="NODE [NODE...]")
@pass_daemon
def promote(daemon: Daemon, refs: tuple[str, ...]) -> None:
    """Promote one or more nodes to manager in the swarm"""

    def merge(n: objects_pb2.Node) -> bool:
        if n.spec.role == "manager":
            click.echo(f"Node {n.id} is already a manager.")
            return False
        n.spec.role = "manager"
        return True

    _update_nodes(
        daemon, refs, merge, lambda r: click.echo(f"Node {r} promoted to a manager in the swarm.")
    )


@node.command("demote")
@click.argument("refs", nargs=-1, required=True, metavar="NODE [NODE...]")
@pass_daemon
def demote(daemon: Daemon, refs: tuple[str, ...]) -> None:
    """Demote one or more nodes from manager in the swarm"""

    def merge(n: objects_pb2.Node) -> bool:
        if n.spec.role == "worker":
            click.echo(f"Node {n.id} is already a worker.")
            return False
        n.spec.role = "worker"
        return True

    _update_nodes(daemon, refs, merge, lambda r: click.echo(f"Manager {r} demoted in the swarm."))


@node.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force remove a node from the swarm")
@click.argument("refs", nargs=-1, required=True, metavar="NODE [NODE...]")
@pass_daemon
@click.pass_context
def rm(ctx: click.Context, daemon: Daemon, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more nodes from the swarm"""
    errors: list[str] = []
    for ref in refs:
        try:
            daemon.remove_node(daemon.node_ref(ref), force)
        except CliError as e:
            errors.append(e.message)
            continue
        click.echo(ref)
    fail(ctx, errors)


@node.command("ps")
@click.option(
    "-f", "--filter", "filters", type=Filter(), multiple=True,
    help="Filter output based on conditions provided",
)  # fmt: skip
@click.option("--format", "fmt", default="", help="Pretty-print tasks using a Go template")
@click.option("--no-resolve", is_flag=True, help="Do not map IDs to Names")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.argument("refs", nargs=-1, metavar="[NODE...]")
@pass_daemon
def ps(
    daemon: Daemon,
    filters: tuple[tuple[str, str], ...],
    fmt: str,
    no_resolve: bool,
    no_trunc: bool,
    quiet: bool,
    refs: tuple[str, ...],
) -> None:
    """List tasks running on one or more nodes, defaults to current node"""
    from .services import print_tasks  # services imports this module's `fail`

    ids = [daemon.get_node(daemon.node_ref(ref)).id for ref in refs or ("self",)]
    print_tasks(
        daemon,
        daemon.list_tasks(node_ids=ids),
        filters=filters,
        fmt=fmt,
        no_resolve=no_resolve,
        no_trunc=no_trunc,
        quiet=quiet,
    )
