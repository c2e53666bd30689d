"""shoal-lab's command line."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A multi-node shoal cluster on this host, one network namespace per node."""


def main() -> None:
    cli(prog_name="shoal-lab")
