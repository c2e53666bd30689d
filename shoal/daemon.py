"""`shoald`: the node daemon. Its flags and run loop arrive with the control-plane issue."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shoal", prog_name="shoald")
def cli() -> None:
    """The shoal node daemon: a worker on every host, a manager where the node's role says so."""


def main() -> None:
    cli(prog_name="shoald")
