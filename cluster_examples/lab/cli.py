"""shoal-lab's command line: the interface DESIGN.md fixes ("Fixed interfaces", "Lab")."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from cluster_examples.lab.lab import Lab
from cluster_examples.lab.sh import LabError
from cluster_examples.lab.spec import DEFAULT_STATE_DIR, DEFAULT_SUBNET

P = ParamSpec("P")
R = TypeVar("R")


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """LabError becomes `Error: <message>` on stderr and exit status 1, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LabError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(
                "Error: interrupted; run 'shoal-lab down' to remove what was created", err=True
            )
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("SHOAL_LAB_DIR", str(DEFAULT_STATE_DIR)),
    show_default=f"$SHOAL_LAB_DIR or {DEFAULT_STATE_DIR}",
    help="Where the lab keeps its engines, registry and state.",
)
@click.pass_context
def cli(ctx: click.Context, state_dir: Path) -> None:
    """A multi-node shoal cluster on this host, one network namespace per node."""
    ctx.obj = Lab(state_dir.absolute())


@cli.command()
@click.option("--nodes", type=int, required=True, help="Number of nodes (n1..nN).")
@click.option("--managers", type=int, default=1, show_default=True, help="How many are managers.")
@click.option("--subnet", default=DEFAULT_SUBNET, show_default=True, help="The lab's underlay.")
@click.pass_obj
@one_line_errors
def up(lab: Lab, nodes: int, managers: int, subnet: str) -> None:
    """Start a lab of NODES nodes, each with its own engine, and the lab registry."""
    state = lab.up(nodes, managers, subnet)
    click.echo(
        f"lab up: {len(state.nodes)} nodes on {state.subnet}, registry {state.registry_address()}"
    )
    for node in state.nodes:
        click.echo(f"  {node}  {state.node_address(node)}")


@cli.command()
@click.pass_obj
@one_line_errors
def down(lab: Lab) -> None:
    """Remove everything the lab created: processes, namespaces, links, mounts, state."""
    removed = lab.down()
    click.echo(
        "lab down: removed " + (", ".join(removed) if removed else "nothing (no lab was up)")
    )


@cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("node")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
@one_line_errors
def exec_(lab: Lab, node: str, cmd: tuple[str, ...]) -> None:
    """Run CMD inside NODE's namespaces, with DOCKER_HOST and SHOAL_HOST set for that node."""
    argv, env = lab.exec_argv(node, list(cmd))
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        raise LabError(f"cannot run {cmd[0]}: {e.strerror}") from e


@cli.command()
@click.argument("node")
@click.pass_obj
@one_line_errors
def ip(lab: Lab, node: str) -> None:
    """Print NODE's address."""
    state = lab.state()
    state.check_node(node)
    click.echo(state.node_address(node))


@cli.command(name="registry")
@click.pass_obj
@one_line_errors
def registry_(lab: Lab) -> None:
    """Print the lab registry's host:port (images are $(shoal-lab registry)/web:1)."""
    click.echo(lab.state().registry_address())


@cli.command()
@click.argument("node")
@click.pass_obj
@one_line_errors
def kill(lab: Lab, node: str) -> None:
    """SIGKILL NODE's shoald."""
    click.echo(f"{node}: killed shoald (pid {lab.kill(node)})")


@cli.command()
@click.argument("node")
@click.pass_obj
@one_line_errors
def start(lab: Lab, node: str) -> None:
    """Start NODE's processes that are not running."""
    started = lab.start(node)
    click.echo(f"{node}: started {', '.join(started)}" if started else f"{node}: already running")


@cli.command()
@click.argument("nodes", nargs=-1, required=True)
@click.pass_obj
@one_line_errors
def partition(lab: Lab, nodes: tuple[str, ...]) -> None:
    """Cut NODES off from the rest of the lab (they still reach each other)."""
    groups = lab.partition(list(nodes))
    click.echo("partitions: " + " | ".join(" ".join(g) for g in groups) + " | the rest")


@cli.command()
@click.pass_obj
@one_line_errors
def heal(lab: Lab) -> None:
    """Remove every partition."""
    lab.heal()
    click.echo("partitions healed")


@cli.command()
@click.pass_obj
@one_line_errors
def status(lab: Lab) -> None:
    """Show the lab's nodes, their engines and daemons, and partitions."""
    state, rows = lab.status()
    click.echo(
        f"subnet {state.subnet}, registry {state.registry_address()}, {state.managers} manager(s)"
    )
    click.echo(f"{'NODE':<6}{'ADDRESS':<16}{'ENGINE':<24}{'SHOALD':<24}PARTITION")
    for r in rows:
        click.echo(f"{r.name:<6}{r.address:<16}{r.engine:<24}{r.shoald:<24}{r.partition}")


def main() -> None:
    cli(prog_name="shoal-lab")
