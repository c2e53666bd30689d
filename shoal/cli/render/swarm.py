"""The swarm: the `swarm init`/`join-token` messages, the cluster and the Swarm part of
`info` (docker/cli cli/command/system/info.go; GET /info)."""

from __future__ import annotations

from proto import control_pb2, objects_pb2

from ._common import Row, _go_bool, _human_nanos, _nanos, rfc3339


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
