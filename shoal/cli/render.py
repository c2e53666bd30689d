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
from typing import TypeAlias, cast

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


# ---- networks (docker/cli cli/command/network/formatter.go; GET /networks/{id}) ----

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
# the overlay driver's state, as docker shows it in a network's Options
VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def network_row(network: objects_pb2.Network, *, trunc: bool = True) -> Row:
    """A `network ls` row; every network shoal has is a swarm-scoped overlay."""
    return {
        "ID": short_id(network.id) if trunc else network.id,
        "Name": network.spec.name,
        "Driver": network.spec.driver or "overlay",
        "Scope": "swarm",
        "IPv4": "true",
        "IPv6": "false",
        "Internal": _go_bool(network.spec.internal),
        "Labels": _labels_csv(network.spec.labels),
        "CreatedAt": go_time(network.meta.created_at),
    }


def _ipam_entry(subnet: str, ip_range: str, gateway: str) -> Row:
    out: Row = {"Subnet": subnet}
    _put(out, "IPRange", ip_range)
    _put(out, "Gateway", gateway)
    return out


def _ipam_configs(network: objects_pb2.Network) -> list[JSON]:
    """The allocated subnet and gateway (with the range asked for), or what the spec asks for
    until the allocator has seen the network."""
    requested = network.spec.ipam_configs
    if not network.subnet:
        return [_ipam_entry(c.subnet, c.range, c.gateway) for c in requested]
    ip_range = next((c.range for c in requested if c.subnet == network.subnet), "")
    return [_ipam_entry(network.subnet, ip_range, network.gateway)]


def network_inspect(network: objects_pb2.Network) -> Row:
    """A network in the Docker API's shape, as a manager shows a swarm network."""
    spec = network.spec
    options: dict[str, JSON] = dict(spec.driver_options)
    if network.vxlan_id:
        options[VXLAN_ID_OPTION] = str(network.vxlan_id)
    return {
        "Name": spec.name,
        "Id": network.id,
        "Created": rfc3339(network.meta.created_at),
        "Scope": "swarm",
        "Driver": spec.driver or "overlay",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": _ipam_configs(network)},
        "Internal": spec.internal,
        "Attachable": spec.attachable,
        "Ingress": spec.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": options,
        "Labels": dict(spec.labels),
    }


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


# ---- services and tasks (docker/cli cli/command/service/formatter.go, task/formatter.go) ----

SERVICE_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Mode": "MODE",
    "Replicas": "REPLICAS",
    "Image": "IMAGE",
    "Ports": "PORTS",
}
SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
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


def short_id(object_id: str) -> str:
    """docker's stringid.TruncateID."""
    return object_id[:12]


def task_state(state: int) -> str:
    """A TaskState as the Docker API spells it ("running")."""
    return objects_pb2.TaskState.Name(state).lower()


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def image_without_digest(image: str) -> str:
    """`nginx:1.27@sha256:...` as `nginx:1.27` (docker trims the digest unless --no-trunc)."""
    return image.split("@", 1)[0]


def service_mode(spec: objects_pb2.ServiceSpec) -> str:
    return {
        "replicated": "replicated",
        "global": "global",
        "replicated_job": "replicated job",
        "global_job": "global job",
    }.get(spec.WhichOneof("mode") or "replicated", "replicated")


def _running(t: objects_pb2.Task) -> bool:
    """Running and meant to be: a job's task is desired COMPLETE while it runs."""
    return t.status.state == objects_pb2.RUNNING and t.desired_state <= objects_pb2.COMPLETE


def service_replicas(service: objects_pb2.Service, tasks: Sequence[objects_pb2.Task]) -> str:
    """REPLICAS of `service ls`: running/desired; jobs also completed/total, counting only the
    current job iteration's tasks (swarmkit's ListServiceStatuses, docker's formatter)."""
    spec = service.spec
    mode = spec.WhichOneof("mode") or "replicated"
    if mode in ("replicated_job", "global_job"):
        iteration = service.job_status.job_iteration  # 0 until the first update
        tasks = [t for t in tasks if t.job_iteration == iteration]
    running = sum(1 for t in tasks if _running(t))
    completed = sum(1 for t in tasks if t.status.state == objects_pb2.COMPLETE)
    if mode == "replicated":
        text = f"{running}/{spec.replicated.replicas}"
        max_per_node = spec.task_template.placement.max_replicas
        return f"{text} (max {max_per_node} per node)" if max_per_node else text
    if mode == "global":
        desired = sum(1 for t in tasks if t.desired_state == objects_pb2.RUNNING)
        return f"{running}/{desired}"
    if mode == "replicated_job":
        # desired is the concurrency, whatever is left to run: docker shows a finished
        # 3-task job as "0/3 (3/3 completed)"
        job = spec.replicated_job
        return f"{running}/{job.max_concurrent} ({completed}/{job.total_completions} completed)"
    # global job: desired is the tasks still to complete; the total adds the completed ones
    desired = sum(
        1
        for t in tasks
        if t.desired_state == objects_pb2.RUNNING
        or (t.desired_state == objects_pb2.COMPLETE and t.status.state != objects_pb2.COMPLETE)
    )
    return f"{running}/{desired} ({completed}/{desired + completed} completed)"


def _port(p: objects_pb2.PortConfig) -> str:
    return f"*:{p.published_port}->{p.target_port}/{p.protocol or 'tcp'}"


def published_ports(service: objects_pb2.Service) -> Sequence[objects_pb2.PortConfig]:
    """The ports as allocated (published ports filled in); before the allocator has seen the
    service, those of its spec."""
    if service.HasField("endpoint"):
        return service.endpoint.ports
    return service.spec.endpoint_spec.ports


def _range(first: int, last: int) -> str:
    return f"{first}-{last}" if last > first else str(first)


def service_ports(service: objects_pb2.Service) -> str:
    """PORTS of `service ls` (docker's service formatter): the ingress-published ports by
    protocol and port, consecutive ones merged ("*:8080-8081->80-81/tcp"); host-mode ports
    are not shown (they are in `service ps`)."""
    ingress = [p for p in published_ports(service) if (p.publish_mode or "ingress") == "ingress"]
    ingress.sort(key=lambda p: (p.protocol or "tcp", p.published_port))
    shown: list[str] = []
    # the current range: protocol, first and last published port, first and last target
    protocol, p_first, p_last, t_first, t_last = "", 0, 0, 0, 0
    for p in ingress:
        proto = p.protocol or "tcp"
        # Go's uint32 arithmetic: a port below the range's end is not "consecutive"
        next_published = (p.published_port - p_last) % 2**32 <= 1
        next_target = (p.target_port - t_last) % 2**32 <= 1
        overlaps = t_last != t_first and p.target_port <= t_last
        if proto == protocol and next_published and next_target and not overlaps:
            p_last, t_last = p.published_port, p.target_port
            continue
        if p_first > 0:
            shown.append(f"*:{_range(p_first, p_last)}->{_range(t_first, t_last)}/{protocol}")
        protocol, p_first, p_last = proto, p.published_port, p.published_port
        t_first = t_last = p.target_port
    if p_first > 0:
        shown.append(f"*:{_range(p_first, p_last)}->{_range(t_first, t_last)}/{protocol}")
    return ", ".join(shown)


def service_row(service: objects_pb2.Service, tasks: Sequence[objects_pb2.Task]) -> Row:
    return {
        "ID": short_id(service.id),
        "Name": service.spec.name,
        "Mode": service_mode(service.spec),
        "Replicas": service_replicas(service, tasks),
        "Image": image_without_digest(service.spec.task_template.container.image),
        "Ports": service_ports(service),
    }


def sort_services(services: Iterable[objects_pb2.Service]) -> list[objects_pb2.Service]:
    return sorted(services, key=lambda s: natural_key(s.spec.name))


def task_name(task: objects_pb2.Task, service_name: str) -> str:
    suffix = str(task.slot) if task.slot else task.node_id
    return f"{service_name}.{suffix}"


def log_timestamp(unix_nano: int) -> str:
    """RFC 3339 with nine fraction digits, as `service logs -t` aligns them."""
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    moment = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{nanos:09d}Z"


def log_context(
    service_name: str, slot_or_node: str, task_id: str, node: str, *, task_ids: bool, pad: int
) -> str:
    """docker's `web.1.abc123def456@node2` (without task ids: `web.1@node2`), padded so the
    columns line up when slot numbers have different widths."""
    name = f"{service_name}.{slot_or_node}"
    if task_ids:
        name += f".{task_id}"
    return f"{name}@{node}{' ' * max(pad, 0)}    | "


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


# ---- service inspect ----


def _put(out: Row, key: str, value: object) -> None:
    """Go's `omitempty` (`value` is JSON: rows and lists of rows)."""
    if value not in (None, "", 0, False, [], {}):
        out[key] = cast(JSON, value)


def _file(f: objects_pb2.FileTarget) -> Row:
    return {"Name": f.name, "UID": f.uid, "GID": f.gid, "Mode": f.mode}


def _mount(m: objects_pb2.Mount) -> Row:
    out: Row = {"Type": m.type, "Source": m.source, "Target": m.target}
    _put(out, "ReadOnly", m.read_only)
    _put(out, "Consistency", m.consistency)
    if m.bind_propagation:
        out["BindOptions"] = {"Propagation": m.bind_propagation}
    if m.type == "volume" and (m.volume_nocopy or m.volume_labels or m.volume_driver):
        volume: Row = {}
        _put(volume, "NoCopy", m.volume_nocopy)
        _put(volume, "Labels", dict(m.volume_labels))
        if m.volume_driver:
            volume["DriverConfig"] = {
                "Name": m.volume_driver,
                "Options": dict(m.volume_driver_options),
            }
        out["VolumeOptions"] = volume
    if m.type == "tmpfs" and (m.tmpfs_size_bytes or m.tmpfs_mode):
        tmpfs: Row = {}
        _put(tmpfs, "SizeBytes", m.tmpfs_size_bytes)
        _put(tmpfs, "Mode", m.tmpfs_mode)
        out["TmpfsOptions"] = tmpfs
    return out


def _container_spec(c: objects_pb2.ContainerSpec) -> Row:
    out: Row = {"Image": c.image}
    _put(out, "Labels", dict(c.labels))
    _put(out, "Command", list(c.command))
    _put(out, "Args", list(c.args))
    _put(out, "Hostname", c.hostname)
    _put(out, "Env", list(c.env))
    _put(out, "Dir", c.dir)
    _put(out, "User", c.user)
    _put(out, "Groups", list(c.groups))
    _put(out, "TTY", c.tty)
    _put(out, "OpenStdin", c.open_stdin)
    _put(out, "ReadOnly", c.read_only)
    _put(out, "Mounts", [_mount(m) for m in c.mounts])
    _put(out, "StopSignal", c.stop_signal)
    if c.HasField("stop_grace_period"):
        out["StopGracePeriod"] = _nanos(c.stop_grace_period)
    if c.HasField("healthcheck"):
        h = c.healthcheck
        health: Row = {"Test": list(h.test)}
        _put(health, "Interval", _nanos(h.interval))
        _put(health, "Timeout", _nanos(h.timeout))
        _put(health, "StartPeriod", _nanos(h.start_period))
        _put(health, "Retries", h.retries)
        out["Healthcheck"] = health
    _put(out, "Hosts", list(c.hosts))
    if c.HasField("dns_config"):
        dns: Row = {}
        _put(dns, "Nameservers", list(c.dns_config.nameservers))
        _put(dns, "Search", list(c.dns_config.search))
        _put(dns, "Options", list(c.dns_config.options))
        out["DNSConfig"] = dns
    secrets = [
        {"File": _file(s.file), "SecretID": s.secret_id, "SecretName": s.secret_name}
        for s in c.secrets
    ]
    _put(out, "Secrets", secrets)
    configs = [
        {"File": _file(s.file), "ConfigID": s.config_id, "ConfigName": s.config_name}
        for s in c.configs
    ]
    _put(out, "Configs", configs)
    out["Isolation"] = "default"
    if c.HasField("init"):
        out["Init"] = c.init
    _put(out, "Sysctls", dict(c.sysctls))
    _put(out, "CapabilityAdd", list(c.capability_add))
    _put(out, "CapabilityDrop", list(c.capability_drop))
    ulimits = [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in c.ulimits]
    _put(out, "Ulimits", ulimits)
    return out


def _resources(r: objects_pb2.Resources, pids: bool) -> Row:
    out: Row = {}
    _put(out, "NanoCPUs", r.nano_cpus)
    _put(out, "MemoryBytes", r.memory_bytes)
    if pids:
        _put(out, "Pids", r.pids)
    return out


def _network_attachment(n: objects_pb2.NetworkAttachmentConfig) -> Row:
    out: Row = {"Target": n.target}
    _put(out, "Aliases", list(n.aliases))
    _put(out, "DriverOpts", dict(n.driver_opts))
    return out


def _task_template(t: objects_pb2.TaskSpec) -> Row:
    restart = t.restart_policy
    placement: Row = {}
    _put(placement, "Constraints", list(t.placement.constraints))
    prefs = [{"Spread": {"SpreadDescriptor": p.spread}} for p in t.placement.preferences]
    _put(placement, "Preferences", prefs)
    _put(placement, "MaxReplicas", t.placement.max_replicas)
    platforms = [{"Architecture": p.architecture, "OS": p.os} for p in t.placement.platforms]
    _put(placement, "Platforms", platforms)
    restart_row: Row = {
        "Condition": restart.condition or "any",
        "Delay": _nanos(restart.delay),
        "MaxAttempts": restart.max_attempts,
    }
    _put(restart_row, "Window", _nanos(restart.window))
    out: Row = {
        "ContainerSpec": _container_spec(t.container),
        "Resources": {
            "Limits": _resources(t.resources.limits, True),
            "Reservations": _resources(t.resources.reservations, False),
        },
        "RestartPolicy": restart_row,
        "Placement": placement,
    }
    _put(out, "Networks", [_network_attachment(n) for n in t.networks])
    out["ForceUpdate"] = t.force_update
    out["Runtime"] = "container"
    return out


def _update_config(u: objects_pb2.UpdateConfig) -> Row:
    out: Row = {"Parallelism": u.parallelism}
    _put(out, "Delay", _nanos(u.delay))
    out["FailureAction"] = u.failure_action or "pause"
    out["Monitor"] = _nanos(u.monitor)
    out["MaxFailureRatio"] = u.max_failure_ratio
    out["Order"] = u.order or "stop-first"
    return out


def _port_config(p: objects_pb2.PortConfig) -> Row:
    out: Row = {}
    _put(out, "Name", p.name)
    out["Protocol"] = p.protocol or "tcp"
    out["TargetPort"] = p.target_port
    _put(out, "PublishedPort", p.published_port)
    out["PublishMode"] = p.publish_mode or "ingress"
    return out


def _mode(spec: objects_pb2.ServiceSpec) -> Row:
    mode = spec.WhichOneof("mode") or "replicated"
    if mode == "replicated":
        return {"Replicated": {"Replicas": spec.replicated.replicas}}
    if mode == "global":
        return {"Global": {}}
    if mode == "replicated_job":
        job = spec.replicated_job
        return {
            "ReplicatedJob": {
                "MaxConcurrent": job.max_concurrent,
                "TotalCompletions": job.total_completions,
            }
        }
    return {"GlobalJob": {}}


def _endpoint_spec(e: objects_pb2.EndpointSpec) -> Row:
    out: Row = {"Mode": e.mode or "vip"}
    _put(out, "Ports", [_port_config(p) for p in e.ports])
    return out


def service_spec(spec: objects_pb2.ServiceSpec) -> Row:
    """A ServiceSpec in the Docker API's swarm.ServiceSpec shape."""
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": _task_template(spec.task_template),
        "Mode": _mode(spec),
        "UpdateConfig": _update_config(spec.update_config),
        "RollbackConfig": _update_config(spec.rollback_config),
        "EndpointSpec": _endpoint_spec(spec.endpoint_spec),
    }


def service_inspect(service: objects_pb2.Service) -> Row:
    """A service in the Docker API's shape (GET /services/{id})."""
    out: Row = {
        "ID": service.id,
        "Version": {"Index": service.meta.version},
        "CreatedAt": rfc3339(service.meta.created_at),
        "UpdatedAt": rfc3339(service.meta.updated_at),
        "Spec": service_spec(service.spec),
    }
    if service.HasField("previous_spec"):
        out["PreviousSpec"] = service_spec(service.previous_spec)
    # Endpoint: what the allocator made of the spec (published ports filled in, a VIP per
    # network); Endpoint.Spec is the spec it allocated from
    e = service.endpoint
    allocated = e.spec if e.HasField("spec") else service.spec.endpoint_spec
    endpoint: Row = {"Spec": _endpoint_spec(allocated)}
    _put(endpoint, "Ports", [_port_config(p) for p in e.ports])
    _put(
        endpoint, "VirtualIPs", [{"NetworkID": v.network_id, "Addr": v.addr} for v in e.virtual_ips]
    )
    out["Endpoint"] = endpoint
    if service.HasField("update_status"):
        u = service.update_status
        status: Row = {"State": u.state}
        if u.HasField("started_at"):
            status["StartedAt"] = rfc3339(u.started_at)
        if u.HasField("completed_at"):
            status["CompletedAt"] = rfc3339(u.completed_at)
        status["Message"] = u.message
        out["UpdateStatus"] = status
    return out


def go_duration(d: Duration) -> str:
    """Go's time.Duration.String() ("5s", "1m30s", "1h0m0s", "500ms")."""
    ns = _nanos(d)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _update_lines(title: str, u: objects_pb2.UpdateConfig, order: str) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{u.parallelism}"]
    if _nanos(u.delay):
        lines.append(f" Delay:\t\t{go_duration(u.delay)}")
    lines.append(f" On failure:\t{u.failure_action or 'pause'}")
    if _nanos(u.monitor):
        lines.append(f" Monitoring Period: {go_duration(u.monitor)}")
    lines.append(f" Max failure ratio: {u.max_failure_ratio:g}")
    lines.append(f" {order} order:{' ' * (6 if order == 'Update' else 4)}{u.order or 'stop-first'}")
    return lines


def _resource_lines(t: objects_pb2.TaskSpec) -> list[str]:
    limits, reservations = t.resources.limits, t.resources.reservations
    lines: list[str] = []
    if reservations.nano_cpus or reservations.memory_bytes:
        lines.append(" Reservations:")
        if reservations.nano_cpus:
            lines.append(f"  CPU:\t\t{reservations.nano_cpus / 1e9:g}")
        if reservations.memory_bytes:
            lines.append(f"  Memory:\t{bytes_size(reservations.memory_bytes)}")
    if limits.nano_cpus or limits.memory_bytes or limits.pids:
        lines.append(" Limits:")
        if limits.nano_cpus:
            lines.append(f"  CPU:\t\t{limits.nano_cpus / 1e9:g}")
        if limits.memory_bytes:
            lines.append(f"  Memory:\t{bytes_size(limits.memory_bytes)}")
        if limits.pids:
            lines.append(f"  PIDs:\t\t{limits.pids}")
    return ["Resources:", *lines] if lines else []


def service_pretty(service: objects_pb2.Service) -> str:
    """`docker service inspect --pretty` (serviceInspectPrettyTemplate)."""
    spec = service.spec
    t = spec.task_template
    c = t.container
    lines = [f"ID:\t\t{service.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines += ["Labels:"] + [
            f" {k}={v}" if v else f" {k}" for k, v in sorted(spec.labels.items())
        ]
    mode = service_mode(spec)
    lines.append(f"Service Mode:\t{' '.join(w.capitalize() for w in mode.split())}")
    if mode == "replicated":
        lines.append(f" Replicas:\t{spec.replicated.replicas}")
    if service.HasField("update_status") and service.update_status.state:
        u = service.update_status
        lines += ["UpdateStatus:", f" State:\t\t{u.state}", f" Message:\t{u.message}"]
    if t.placement.constraints or t.placement.preferences or t.placement.max_replicas:
        lines.append("Placement:")
        if t.placement.constraints:
            lines.append(f" Constraints:\t[{' '.join(t.placement.constraints)}]")
        if t.placement.preferences:
            prefs = " ".join(f"spread={p.spread}" for p in t.placement.preferences)
            lines.append(f" Preferences:   [{prefs}]")
        if t.placement.max_replicas:
            lines.append(f" Max Replicas Per Node:   {t.placement.max_replicas}")
    lines += _update_lines("UpdateConfig", spec.update_config, "Update")
    lines += _update_lines("RollbackConfig", spec.rollback_config, "Rollback")
    lines += ["ContainerSpec:", f" Image:\t\t{c.image}"]
    if c.args:
        lines.append(f" Args:\t\t{''.join(a + ' ' for a in c.args)}")
    if c.env:
        lines.append(f" Env:\t\t{''.join(e + ' ' for e in c.env)}")
    if c.dir:
        lines.append(f" Dir:\t\t{c.dir}")
    if c.HasField("init"):
        lines.append(f" Init:\t\t{_go_bool(c.init)}")
    if c.user:
        lines.append(f" User: {c.user}")
    if c.capability_add or c.capability_drop:
        lines.append("Capabilities:")
        if c.capability_add:
            lines.append(f" Add: {', '.join(c.capability_add)}")
        if c.capability_drop:
            lines.append(f" Drop: {', '.join(c.capability_drop)}")
    if c.sysctls:
        lines += ["SysCtls:"] + [f" {k}: {v}" for k, v in sorted(c.sysctls.items())]
    if c.ulimits:
        lines += ["Ulimits:"] + [f" {u.name}: {u.soft}:{u.hard}" for u in c.ulimits]
    if c.mounts:
        lines.append("Mounts:")
        for m in c.mounts:
            lines += [
                f" Target:\t{m.target}",
                f"  Source:\t{m.source}",
                f"  ReadOnly:\t{_go_bool(m.read_only)}",
                f"  Type:\t\t{m.type}",
            ]
    if c.configs:
        lines.append("Configs:")
        for cr in c.configs:
            lines += [f" Target:\t{cr.file.name}", f"  Source:\t{cr.config_name}"]
    if c.secrets:
        lines.append("Secrets:")
        for sr in c.secrets:
            lines += [f" Target:\t{sr.file.name}", f"  Source:\t{sr.secret_name}"]
    lines += _resource_lines(t)
    if t.networks:
        lines.append("Networks:" + "".join(f" {n.target}" for n in t.networks) + " ")
    lines.append(f"Endpoint Mode:\t{spec.endpoint_spec.mode or 'vip'}")
    ports = published_ports(service)
    if ports:
        lines.append("Ports:")
        for p in ports:
            lines += [
                f" PublishedPort = {p.published_port}",
                f"  Protocol = {p.protocol or 'tcp'}",
                f"  TargetPort = {p.target_port}",
                f"  PublishMode = {p.publish_mode or 'ingress'}",
            ]
    if c.HasField("healthcheck"):
        h = c.healthcheck
        lines += [
            " Healthcheck:",
            f"  Interval = {go_duration(h.interval)}",
            f"  Retries = {h.retries}",
            f"  StartPeriod =\t{go_duration(h.start_period)}",
            f"  Timeout =\t{go_duration(h.timeout)}",
        ]
        if h.test:
            lines += ["  Tests:"] + [f"\t Test = {x}" for x in h.test]
    return "\n".join(lines) + "\n"


# ---- service create/scale progress (docker/cli cli/command/service/progress) ----

# docker's numberedStates: how far along a task is, out of 9
PROGRESS_STEPS = {
    "new": 1,
    "allocated": 2,
    "pending": 3,
    "assigned": 4,
    "accepted": 5,
    "preparing": 6,
    "ready": 7,
    "starting": 8,
    "running": 9,
}
_LONGEST_STATE = max(len(s) for s in PROGRESS_STEPS)


def progress_bar(state: str) -> str:
    """The `[=====>     ]` bar docker draws on a terminal for a task's state."""
    current = PROGRESS_STEPS.get(state, 0)
    filled = min(int(current / len(PROGRESS_STEPS) * 100) // 2, 50)
    return f"[{'=' * filled}>{' ' * (50 - filled)}]"


def progress_line(slot_id: str, task: objects_pb2.Task, bar: bool) -> str:
    """`1/3: running   [=====...>]`, or `1/3: <error>` for a task that failed."""
    if task.status.err:
        return f"{slot_id}: {ellipsis(task.status.err, 60)}"
    state = task_state(task.status.state)
    text = f"{slot_id}: {state:<{_LONGEST_STATE}}"
    return f"{text} {progress_bar(state)}" if bar else text.rstrip()
