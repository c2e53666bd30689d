"""Tasks: `service ps` / `node ps` rows (docker/cli cli/command/task/formatter.go)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from proto import objects_pb2

from ._common import (
    Row,
    _seconds,
    ellipsis,
    human_duration,
    image_without_digest,
    pretty,
    short_id,
)

TASK_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Image": "IMAGE",
    "Node": "NODE",
    "DesiredState": "DESIRED STATE",
    "CurrentState": "CURRENT STATE",
    "Error": "ERROR",
    "Ports": "PORTS",
}
TASK_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}"
    "\t{{.Error}}\t{{.Ports}}"
)
MAX_ERROR_LENGTH = 30  # docker's task formatter


def task_state(state: int) -> str:
    """A TaskState as the Docker API spells it ("running")."""
    return objects_pb2.TaskState.Name(state).lower()


def _port(p: objects_pb2.PortConfig) -> str:
    return f"*:{p.published_port}->{p.target_port}/{p.protocol or 'tcp'}"


def task_name(task: objects_pb2.Task, service_name: str) -> str:
    suffix = str(task.slot) if task.slot else task.node_id
    return f"{service_name}.{suffix}"


def task_rows(
    tasks: Iterable[objects_pb2.Task],
    *,
    service_names: Mapping[str, str],
    node_names: Mapping[str, str],
    now: float,
    trunc: bool = True,
) -> list[Row]:
    """`service ps` / `node ps` rows, docker's order (name, then newest first) with the older
    tasks of a slot shown as ` \\_ name`."""
    named = [(task_name(t, service_names.get(t.service_id, t.service_id)), t) for t in tasks]
    named.sort(key=lambda nt: (nt[0], -_seconds(nt[1].meta.created_at)))
    rows: list[Row] = []
    previous = ""
    for name, t in named:
        shown = f" \\_ {name}" if name == previous else name
        previous = name
        error = ellipsis(t.status.err, MAX_ERROR_LENGTH) if trunc else t.status.err
        image = t.spec.container.image
        ports = t.status.port_status.ports if t.status.HasField("port_status") else []
        rows.append(
            {
                "ID": short_id(t.id) if trunc else t.id,
                "Name": shown,
                "Image": image_without_digest(image) if trunc else image,
                "Node": node_names.get(t.node_id, t.node_id),
                "DesiredState": pretty(task_state(t.desired_state)),
                "CurrentState": current_state(t, now),
                "Error": f'"{error}"' if error else "",
                "Ports": ",".join(_port(p) for p in ports),
            }
        )
    return rows


def current_state(task: objects_pb2.Task, now: float) -> str:
    """ "Running 5 seconds ago"."""
    since = human_duration(now - _seconds(task.status.timestamp)).lower()
    return f"{pretty(task_state(task.status.state))} {since} ago"
