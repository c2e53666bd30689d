"""`shoald`: the node daemon. A worker on every host, a manager where the node's role says so.

    shoald [--data-dir /var/lib/shoal] [--listen-addr 0.0.0.0:2377] [--advertise-addr ADDR]
           [--engine-socket /var/run/docker.sock] [--socket /run/shoal/shoal.sock]
           [--log-level info] [--raft-tick 1.0]

Logs go to stderr, one line per event, as key=value pairs (`ts level logger node_id msg`).
SIGTERM (or SIGINT) stops it cleanly. See docs/design/node.md.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from manager.manager import ControlFactory
from manager.store import Store
from shoal.node import Node, NodeOptions

# Extra fields a record may carry (logging's `extra=`), printed after the message.
_FIELDS = ("node_id", "raft_id", "service_id", "task_id", "peer")


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t\\'):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class KeyValueFormatter(logging.Formatter):
    """One line per record: ts=... level=... logger=... node_id=... msg="..." [error="..."]."""

    def __init__(self, node_id: Callable[[], str]) -> None:
        super().__init__()
        self._node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        node_id = getattr(record, "node_id", None)
        raft_id = getattr(record, "raft_id", None)
        if isinstance(node_id, int):  # manager.raft logs its Raft member id as node_id
            node_id, raft_id = None, f"{node_id:x}"
        fields: dict[str, object] = {
            "ts": ts,
            "level": record.levelname.lower(),
            "logger": record.name,
            "node_id": node_id or self._node_id(),
            "raft_id": raft_id or "",
            "msg": record.getMessage(),
        }
        for key in _FIELDS[2:]:
            if key in record.__dict__:
                fields[key] = record.__dict__[key]
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return " ".join(f"{k}={_quote(v)}" for k, v in fields.items() if v != "")


def default_control_factory() -> ControlFactory | None:
    """CTL's Control servicer (manager.controlapi.ControlServicer) when it is present."""
    try:
        from manager.controlapi import ControlServicer
    except ImportError:
        return None

    def make(store: Store) -> Any:
        return ControlServicer(store, clock=lambda: datetime.now(UTC))

    return make


async def run_daemon(node: Node) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(node.stop()))
    await node.run()


def make_cli(control_factory: Callable[[], ControlFactory | None]) -> click.Command:
    @click.command(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="shoal", prog_name="shoald")
    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("/var/lib/shoal"),
        show_default=True,
        help="Where the node keeps its identity, certificates and Raft data.",
    )
    @click.option(
        "--listen-addr",
        default="0.0.0.0:2377",
        show_default=True,
        help="Cluster port (mutual TLS); the join port is this port + 1.",
    )
    @click.option(
        "--advertise-addr",
        default="",
        help="Address (host[:port]) other nodes reach this one at. Default: chosen at init/join.",
    )
    @click.option(
        "--engine-socket",
        default="/var/run/docker.sock",
        show_default=True,
        help="The Docker Engine API socket.",
    )
    @click.option(
        "--socket",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path("/run/shoal/shoal.sock"),
        show_default=True,
        help="The local API socket the CLI talks to (created 0600).",
    )
    @click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        default="info",
        show_default=True,
    )
    @click.option(
        "--raft-tick",
        type=click.FloatRange(min=0.01),
        default=1.0,
        show_default=True,
        help="Seconds per Raft tick (election after 10 ticks, heartbeat every tick).",
    )
    def cli(
        data_dir: Path,
        listen_addr: str,
        advertise_addr: str,
        engine_socket: str,
        socket: Path,
        log_level: str,
        raft_tick: float,
    ) -> None:
        """The shoal node daemon: a worker on every host, a manager where the node's role
        says so."""
        node = Node(
            NodeOptions(
                data_dir=data_dir,
                socket=socket,
                listen_addr=listen_addr,
                advertise_addr=advertise_addr,
                engine_socket=engine_socket,
                raft_tick=raft_tick,
            ),
            control_factory=control_factory(),
        )
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            KeyValueFormatter(lambda: node.state.node_id if node.state is not None else "")
        )
        logging.basicConfig(level=log_level.upper(), handlers=[handler], force=True)
        log = logging.getLogger("shoald")
        log.info("shoald starting: data dir %s, socket %s", data_dir, socket)
        try:
            asyncio.run(run_daemon(node))
        except Exception as e:
            log.error("shoald stopped: %s", _first_error(e), exc_info=e)
            sys.exit(1)
        log.info("shoald stopped")

    return cli


def _first_error(e: BaseException) -> BaseException:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


cli = make_cli(default_control_factory)


def main() -> None:
    cli(prog_name="shoald")


if __name__ == "__main__":
    main()
