"""Nodes: `node ls` rows and table, inspect JSON and `--pretty` text
(docker/cli cli/command/node/formatter.go; GET /nodes/{id})."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proto import objects_pb2

from ._common import Row, _label_lines, bytes_size, go_time, natural_key, pretty, rfc3339
from ._format import tabwrite

NODE_HEADERS = {
    "ID": "ID",
    "Self": "",
    "Hostname": "HOSTNAME",
    "Status": "STATUS",
    "Availability": "AVAILABILITY",
    "ManagerStatus": "MANAGER STATUS",
    "EngineVersion": "ENGINE VERSION",
}


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
