"""`shoal`: the command-line client, with docker's Swarm commands, flags and output."""

from __future__ import annotations

import click

from ._client import DEFAULT_HOST, Daemon
from .configs import config
from .info import info
from .networks import network
from .nodes import node
from .secrets import secret
from .services import service
from .swarm import swarm

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shoal", prog_name="shoal")
@click.option(
    "-H",
    "--host",
    envvar="SHOAL_HOST",
    default=DEFAULT_HOST,
    show_default=True,
    metavar="unix:///PATH",
    help="Daemon socket to connect to (env SHOAL_HOST).",
)
@click.pass_context
def cli(ctx: click.Context, host: str) -> None:
    """Manage a shoal cluster the way you manage Docker Swarm."""
    daemon = Daemon(host)
    ctx.obj = daemon
    ctx.call_on_close(daemon.close)


cli.add_command(swarm)
cli.add_command(node)
cli.add_command(service)
cli.add_command(secret)
cli.add_command(config)
cli.add_command(network)
cli.add_command(info)


def main() -> None:
    cli(prog_name="shoal")
