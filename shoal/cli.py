"""`shoal`: the command-line client. Commands arrive with the control-plane issue."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shoal", prog_name="shoal")
def cli() -> None:
    """Manage a shoal cluster the way you manage Docker Swarm."""


def main() -> None:
    cli(prog_name="shoal")
