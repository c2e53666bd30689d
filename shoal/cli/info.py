"""`shoal info`: the Swarm section of `docker info`."""

from __future__ import annotations

import json

import click

from proto import objects_pb2

from . import render
from ._client import Daemon, pass_daemon


@click.command("info")
@click.option("-f", "--format", "fmt", default="", help="Format output: json or a template")
@pass_daemon
def info(daemon: Daemon, fmt: str) -> None:
    """Display system-wide information"""
    swarm = daemon.info()
    cluster: objects_pb2.Cluster | None = None
    if swarm.control_available and swarm.local_node_state == "active":
        cluster = daemon.get_cluster()
    if not fmt:
        click.echo(render.swarm_info_text(swarm, cluster), nl=False)
        return
    obj: render.Row = {"Swarm": render.swarm_info(swarm, cluster)}
    if fmt == "json":
        click.echo(json.dumps(obj, separators=(",", ":")))
    else:
        click.echo(render.expand(fmt, obj))
