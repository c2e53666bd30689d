"""Docker-shaped views of the store's objects: `ls` rows and tables, inspect JSON, pretty text.

The one place where proto/objects_pb2 messages become what docker's CLI prints, following
docker/cli's cli/command/{node,secret,config}/formatter.go and cli/command/system/info.go:
column headers, `{{json .}}` row keys, the Docker API JSON shape, go-units' humanised times
and sizes, and Go's text/tabwriter layout (minwidth 10, padding 3).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from proto import control_pb2, objects_pb2

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
Row: TypeAlias = dict[str, JSON]

NODE_HEADERS = {
    "ID": "ID",
    "Self": "",
    "Hostname": "HOSTNAME",
    "Status": "STATUS",
    "Availability": "AVAILABILITY",
    "ManagerStatus": "MANAGER STATUS",
    "EngineVersion": "ENGINE VERSION",
}
SECRET_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}
CONFIG_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}
# docker's defaultSecretTableFormat and defaultConfigTableFormat, for format_rows
SECRET_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
CONFIG_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"

# ---- Go and go-units formatting ----


def pretty(value: str) -> str:
    """docker's formatter.PrettyPrint: first letter upper, the rest lower ("ready" -> "Ready")."""
    if len(value) <= 1:
        return value.lower()
    return value[0].upper() + value[1:].lower()


def human_duration(seconds: float) -> str:
    """go-units HumanDuration ("Less than a second", "About a minute", "3 hours", ...)."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize ("7.704GiB")."""
    unit = 0
    while size >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{_BINARY_UNITS[unit]}"


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _fraction(ts: Timestamp) -> str:
    digits = f"{ts.nanos:09d}".rstrip("0")
    return f".{digits}" if digits else ""


def rfc3339(ts: Timestamp) -> str:
    """A time as the Docker API's JSON carries it (Go's RFC3339Nano in UTC)."""
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}{_fraction(ts)}Z"


def go_time(ts: Timestamp) -> str:
    """Go's time.Time.String() in UTC ("2016-06-16 22:52:44.9910662 +0000 UTC")."""
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}{_fraction(ts)} +0000 UTC"


def ago(ts: Timestamp, now: float) -> str:
    return human_duration(now - _seconds(ts)) + " ago"


def _nanos(d: Duration) -> int:
    return d.seconds * 10**9 + d.nanos


def _human_nanos(d: Duration) -> str:
    return human_duration(_nanos(d) / 1e9)


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key of fvbommel/sortorder.NaturalLess ("node2" before "node10")."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


# ---- tables (Go text/tabwriter, as docker's formatter uses it) ----

_MIN_WIDTH = 10
_PADDING = 3


def tabwrite(lines: Sequence[str]) -> str:
    """Align tab-separated `lines` like tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)."""
    cells = [line.split("\t") for line in lines]
    out: list[str] = []
    _format_block(cells, [], 0, len(cells), out)
    return "".join(line + "\n" for line in out)


def _format_block(
    cells: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(cells[this]) - 1:
            this += 1
            continue
        _write_lines(cells, widths, line0, this, out)
        line0 = this
        width = _MIN_WIDTH
        while this < line1 and column < len(cells[this]) - 1:
            width = max(width, len(cells[this][column]) + _PADDING)
            this += 1
        _format_block(cells, [*widths, width], line0, this, out)
        line0 = this
    _write_lines(cells, widths, line0, line1, out)


def _write_lines(
    cells: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    for line in cells[line0:line1]:
        out.append(
            "".join(c.ljust(widths[j]) if j < len(widths) else c for j, c in enumerate(line))
        )


# ---- --format templates (the `{{.Field}}` / `{{json .Field}}` subset of Go templates) ----

_ACTION = re.compile(r"{{-?\s*(json\s+)?\.([\w.]*)\s*-?}}")


def _lookup(obj: JSON, path: str) -> JSON | None:
    for part in filter(None, path.split(".")):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _text(value: JSON | None) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def expand(template: str, obj: JSON) -> str:
    """Fill `{{.A.B}}` and `{{json .A}}` in `template` from `obj` (other actions are left as is)."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def action(m: re.Match[str]) -> str:
        value = _lookup(obj, m.group(2))
        if m.group(1):
            return json.dumps(value, separators=(",", ":"))
        return _text(value)

    return _ACTION.sub(action, template)


def format_rows(fmt: str, rows: Sequence[Row], headers: Mapping[str, str]) -> str:
    """Rows through a user's --format: "json" (one JSON array), "table TEMPLATE" or TEMPLATE."""
    if fmt == "json":
        return json.dumps(list(rows)) + "\n"
    if fmt.startswith("table"):
        template = fmt.removeprefix("table").strip(" ")
        header_row: JSON = {k: v for k, v in headers.items()}
        lines = [expand(template, header_row)] + [expand(template, r) for r in rows]
        return tabwrite(lines)
    return "".join(expand(fmt, r) + "\n" for r in rows)


def format_inspect(fmt: str, objects: Sequence[Row]) -> str:
    """Inspect output: the indented array by default, `json` one line per object, or a template."""
    if not fmt:
        return json.dumps(list(objects), indent=4, ensure_ascii=False) + "\n"
    if fmt == "json":
        return "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects)
    return "".join(expand(fmt, o) + "\n" for o in objects)


# ---- nodes ----


def node_row(node: objects_pb2.Node, self_id: str) -> Row:
    manager_status = ""
    if node.HasField("manager_status"):
        ms = node.manager_status
        manager_status = "Leader" if ms.leader else pretty(ms.reachability)
    return {
        "ID": node.id,
        "Self": node.id == self_id,
        "Hostname": node.description.hostname,
        "Status": pretty(node.status.state),
        "Availability": pretty(node.spec.availability),
        "ManagerStatus": manager_status,
        "EngineVersion": node.description.engine.engine_version,
    }


def sort_nodes(nodes: Iterable[objects_pb2.Node]) -> list[objects_pb2.Node]:
    return sorted(nodes, key=lambda n: natural_key(n.description.hostname))


def node_table(nodes: Sequence[objects_pb2.Node], self_id: str) -> str:
    """`docker node ls`: "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\\t{{.Hostname}}..."."""
    lines = ["ID  \tHOSTNAME\tSTATUS\tAVAILABILITY\tMANAGER STATUS\tENGINE VERSION"]
    for node in nodes:
        r = node_row(node, self_id)
        mark = "*" if r["Self"] else " "
        lines.append(
            f"{r['ID']} {mark}\t{r['Hostname']}\t{r['Status']}\t{r['Availability']}"
            f"\t{r['ManagerStatus']}\t{r['EngineVersion']}"
        )
    return tabwrite(lines)


def node_inspect(node: objects_pb2.Node) -> Row:
    """A node in the Docker API's shape (GET /nodes/{id})."""
    spec: Row = {}
    if node.spec.name:
        spec["Name"] = node.spec.name
    spec["Labels"] = dict(node.spec.labels)
    spec["Role"] = node.spec.role
    spec["Availability"] = node.spec.availability
    desc = node.description
    status: Row = {"State": node.status.state}
    if node.status.message:
        status["Message"] = node.status.message
    status["Addr"] = node.status.addr
    out: Row = {
        "ID": node.id,
        "Version": {"Index": node.meta.version},
        "CreatedAt": rfc3339(node.meta.created_at),
        "UpdatedAt": rfc3339(node.meta.updated_at),
        "Spec": spec,
        "Description": {
            "Hostname": desc.hostname,
            "Platform": {"Architecture": desc.platform.architecture, "OS": desc.platform.os},
            "Resources": {
                "NanoCPUs": desc.resources.nano_cpus,
                "MemoryBytes": desc.resources.memory_bytes,
            },
            "Engine": {
                "EngineVersion": desc.engine.engine_version,
                "Labels": dict(desc.engine.labels),
            },
        },
        "Status": status,
    }
    if node.HasField("manager_status"):
        ms = node.manager_status
        out["ManagerStatus"] = {
            "Leader": ms.leader,
            "Reachability": ms.reachability,
            "Addr": ms.addr,
        }
    return out


def _label_lines(title: str, labels: Mapping[str, str]) -> list[str]:
    if not labels:
        return []
    return [title] + [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(labels.items())]


def node_pretty(node: objects_pb2.Node) -> str:
    """`docker node inspect --pretty` (nodeInspectPrettyTemplate)."""
    desc = node.description
    lines = [f"ID:\t\t\t{node.id}"]
    if node.spec.name:
        lines.append(f"Name:\t\t\t{node.spec.name}")
    lines += _label_lines("Labels:", node.spec.labels)
    lines += [
        f"Hostname:              \t{desc.hostname}",
        f"Joined at:             \t{pretty(go_time(node.meta.created_at))}",
        "Status:",
        f" State:\t\t\t{pretty(node.status.state)}",
    ]
    if node.status.message:
        lines.append(f" Message:              \t{pretty(node.status.message)}")
    lines.append(f" Availability:         \t{pretty(node.spec.availability)}")
    if node.status.addr:
        lines.append(f" Address:\t\t{node.status.addr}")
    if node.HasField("manager_status"):
        ms = node.manager_status
        lines += [
            "Manager Status:",
            f" Address:\t\t{ms.addr}",
            f" Raft Status:\t\t{pretty(ms.reachability)}",
            f" Leader:\t\t{'Yes' if ms.leader else 'No'}",
        ]
    memory = bytes_size(desc.resources.memory_bytes) if desc.resources.memory_bytes else ""
    lines += [
        "Platform:",
        f" Operating System:\t{desc.platform.os}",
        f" Architecture:\t\t{desc.platform.architecture}",
        "Resources:",
        f" CPUs:\t\t\t{desc.resources.nano_cpus // 10**9}",
        f" Memory:\t\t{memory}",
        f"Engine Version:\t\t{desc.engine.engine_version}",
    ]
    lines += _label_lines("Engine Labels:", desc.engine.labels)
    return "\n".join(lines) + "\n"


# ---- secrets and configs ----


def _labels_csv(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def secret_row(secret: objects_pb2.Secret, now: float) -> Row:
    return {
        "ID": secret.id,
        "Name": secret.spec.name,
        "Driver": "",
        "CreatedAt": ago(secret.meta.created_at, now),
        "UpdatedAt": ago(secret.meta.updated_at, now),
        "Labels": _labels_csv(secret.spec.labels),
    }


def config_row(config: objects_pb2.Config, now: float) -> Row:
    return {
        "ID": config.id,
        "Name": config.spec.name,
        "CreatedAt": ago(config.meta.created_at, now),
        "UpdatedAt": ago(config.meta.updated_at, now),
        "Labels": _labels_csv(config.spec.labels),
    }


def secret_inspect(secret: objects_pb2.Secret) -> Row:
    """A secret in the Docker API's shape; its data is never shown."""
    return {
        "ID": secret.id,
        "Version": {"Index": secret.meta.version},
        "CreatedAt": rfc3339(secret.meta.created_at),
        "UpdatedAt": rfc3339(secret.meta.updated_at),
        "Spec": {"Name": secret.spec.name, "Labels": dict(secret.spec.labels)},
    }


def config_inspect(config: objects_pb2.Config) -> Row:
    """A config in the Docker API's shape, Spec.Data base64 as Go's JSON encodes []byte."""
    return {
        "ID": config.id,
        "Version": {"Index": config.meta.version},
        "CreatedAt": rfc3339(config.meta.created_at),
        "UpdatedAt": rfc3339(config.meta.updated_at),
        "Spec": {
            "Name": config.spec.name,
            "Labels": dict(config.spec.labels),
            "Data": base64.b64encode(config.spec.data).decode(),
        },
    }


def secret_pretty(secret: objects_pb2.Secret) -> str:
    """`docker secret inspect --pretty` (secretInspectPrettyTemplate)."""
    lines = [f"ID:              {secret.id}", f"Name:              {secret.spec.name}"]
    lines += _label_lines("Labels:", secret.spec.labels)
    lines += [
        "Driver:            ",
        f"Created at:        {pretty(go_time(secret.meta.created_at))}",
        f"Updated at:        {pretty(go_time(secret.meta.updated_at))}",
    ]
    return "\n".join(lines) + "\n"


def config_pretty(config: objects_pb2.Config) -> str:
    """`docker config inspect --pretty` (configInspectPrettyTemplate)."""
    lines = [f"ID:\t\t\t{config.id}", f"Name:\t\t\t{config.spec.name}"]
    lines += _label_lines("Labels:", config.spec.labels)
    lines += [
        f"Created at:            \t{pretty(go_time(config.meta.created_at))}",
        f"Updated at:            \t{pretty(go_time(config.meta.updated_at))}",
        "Data:",
        config.spec.data.decode(errors="replace"),
    ]
    return "\n".join(lines) + "\n"


# ---- the swarm ----


def join_command(role: str, token: str, addr: str) -> str:
    """The "To add a worker/manager ..." paragraph of swarm init and join-token."""
    return (
        f"To add a {role} to this swarm, run the following command:\n\n"
        f"    shoal swarm join --token {token} {addr}\n\n"
    )


def init_message(node_id: str, worker_token: str, addr: str) -> str:
    return (
        f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
        + join_command("worker", worker_token, addr)
        + "To add a manager to this swarm, run 'shoal swarm join-token manager'"
        " and follow the instructions.\n"
    )


def cluster_spec(spec: objects_pb2.ClusterSpec) -> Row:
    """A ClusterSpec in the Docker API's swarm.Spec shape."""
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "Orchestration": {
            "TaskHistoryRetentionLimit": spec.orchestration.task_history_retention_limit
        },
        "Raft": {
            "SnapshotInterval": spec.raft.snapshot_interval,
            "KeepOldSnapshots": spec.raft.keep_old_snapshots,
            "LogEntriesForSlowFollowers": spec.raft.log_entries_for_slow_followers,
            "ElectionTick": spec.raft.election_tick,
            "HeartbeatTick": spec.raft.heartbeat_tick,
        },
        "Dispatcher": {"HeartbeatPeriod": _nanos(spec.dispatcher.heartbeat_period)},
        "CAConfig": {"NodeCertExpiry": _nanos(spec.ca_config.node_cert_expiry)},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": spec.encryption_config.auto_lock_managers},
    }


def cluster_info(cluster: objects_pb2.Cluster) -> Row:
    """The Docker API's swarm.ClusterInfo (no join tokens)."""
    return {
        "ID": cluster.id,
        "Version": {"Index": cluster.meta.version},
        "CreatedAt": rfc3339(cluster.meta.created_at),
        "UpdatedAt": rfc3339(cluster.meta.updated_at),
        "Spec": cluster_spec(cluster.spec),
        "RootRotationInProgress": False,
        "DefaultAddrPool": list(cluster.default_address_pool),
        "SubnetSize": cluster.subnet_size,
        "DataPathPort": cluster.data_path_port,
    }


def swarm_info(info: control_pb2.InfoResponse, cluster: objects_pb2.Cluster | None) -> Row:
    """The `Swarm` object of Docker's GET /info."""
    out: Row = {
        "NodeID": info.node_id,
        "NodeAddr": info.node_addr,
        "LocalNodeState": info.local_node_state,
        "ControlAvailable": info.control_available,
        "Error": info.error,
        "RemoteManagers": [{"Addr": a} for a in info.remote_managers],
    }
    if info.control_available:
        out["Nodes"] = info.nodes
        out["Managers"] = info.managers
    if cluster is not None:
        out["Cluster"] = cluster_info(cluster)
    return out


def swarm_info_text(info: control_pb2.InfoResponse, cluster: objects_pb2.Cluster | None) -> str:
    """The Swarm part of `docker info` (cli/command/system/info.go printSwarmInfo)."""
    lines = ["Server:", f" Swarm: {info.local_node_state}"]
    if info.local_node_state in ("inactive", "locked"):
        return "\n".join(lines) + "\n"
    lines.append(f"  NodeID: {info.node_id}")
    if info.error:
        lines.append(f"  Error: {info.error}")
    lines.append(f"  Is Manager: {_go_bool(info.control_available)}")
    if (
        cluster is not None
        and info.control_available
        and not info.error
        and info.local_node_state != "error"
    ):
        spec = cluster.spec
        lines += [
            f"  ClusterID: {cluster.id}",
            f"  Managers: {info.managers}",
            f"  Nodes: {info.nodes}",
        ]
        if cluster.default_address_pool:
            pools = "".join(p + "  " for p in cluster.default_address_pool)
            lines += [f"  Default Address Pool: {pools}", f"  SubnetSize: {cluster.subnet_size}"]
        if cluster.data_path_port > 0:
            lines.append(f"  Data Path Port: {cluster.data_path_port}")
        lines += [
            "  Orchestration:",
            f"   Task History Retention Limit: {spec.orchestration.task_history_retention_limit}",
            "  Raft:",
            f"   Snapshot Interval: {spec.raft.snapshot_interval}",
            f"   Number of Old Snapshots to Retain: {spec.raft.keep_old_snapshots}",
            f"   Heartbeat Tick: {spec.raft.heartbeat_tick}",
            f"   Election Tick: {spec.raft.election_tick}",
            "  Dispatcher:",
            f"   Heartbeat Period: {_human_nanos(spec.dispatcher.heartbeat_period)}",
            "  CA Configuration:",
            f"   Expiry Duration: {_human_nanos(spec.ca_config.node_cert_expiry)}",
            "   Force Rotate: 0",
            f"  Autolock Managers: {_go_bool(spec.encryption_config.auto_lock_managers)}",
            "  Root Rotation In Progress: false",
        ]
    lines.append(f"  Node Address: {info.node_addr}")
    if info.remote_managers:
        lines.append("  Manager Addresses:")
        lines += [f"   {a}" for a in sorted(info.remote_managers)]
    return "\n".join(lines) + "\n"


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def now() -> float:
    return time.time()
