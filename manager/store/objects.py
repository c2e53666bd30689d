"""The objects the store keeps: Cluster, Node, Service, Task, Network, Secret, Config, Stack.

Frozen dataclasses: a change is a new object (`dataclasses.replace`) written through a
transaction. Every object has an `id` and a `meta` (version = Raft index of its last change,
created_at, updated_at); what the user asked for is in `spec`, what the cluster observed or
allocated is beside it. Names and defaults follow Docker's swarm-mode API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from manager.store.specs import (
    EndpointSpec,
    PortConfig,
    Resources,
    ServiceSpec,
    TaskSpec,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Meta:
    version: int = 0  # Raft index of the last change; 0 until first committed
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


# -- cluster -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrchestrationConfig:
    task_history_retention_limit: int = 5


@dataclass(frozen=True, slots=True)
class RaftConfig:
    snapshot_interval: int = 10_000
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 500
    heartbeat_tick: int = 1
    election_tick: int = 10


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    heartbeat_period: timedelta = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class CAConfig:
    node_cert_expiry: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    auto_lock_managers: bool = False


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    name: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    raft: RaftConfig = field(default_factory=RaftConfig)
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    ca_config: CAConfig = field(default_factory=CAConfig)
    encryption_config: EncryptionConfig = field(default_factory=EncryptionConfig)
    task_defaults_log_driver: str = ""


@dataclass(frozen=True, slots=True)
class JoinTokens:
    worker: str = field(default="", repr=False)
    manager: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class RootCA:
    """The cluster's root certificate and key (PEM): every manager can sign node certificates.
    The key travels only in the (encrypted) Raft log and snapshots; Control never returns it."""

    ca_cert: bytes = b""
    ca_cert_hash: str = ""  # the digest that join tokens carry
    join_tokens: JoinTokens = field(default_factory=JoinTokens)
    ca_key: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: ClusterSpec = field(default_factory=ClusterSpec)
    root_ca: RootCA = field(default_factory=RootCA)
    # fixed at `swarm init`
    default_address_pool: tuple[str, ...] = ("10.0.0.0/8",)
    subnet_size: int = 24
    data_path_port: int = 4789
    removed_nodes: tuple[str, ...] = ()  # their certificates are refused from then on


# -- node --------------------------------------------------------------------------------------


class NodeRole(enum.Enum):
    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(enum.Enum):
    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(enum.Enum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(enum.Enum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


class IssuanceState(enum.Enum):
    PENDING = "pending"
    RENEW = "renew"
    ISSUED = "issued"
    FAILED = "failed"
    ROTATE = "rotate"


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    role: NodeRole = NodeRole.WORKER  # desired role
    availability: NodeAvailability = NodeAvailability.ACTIVE


@dataclass(frozen=True, slots=True)
class PlatformDescription:
    architecture: str = ""  # x86_64, aarch64 (as the engine reports it)
    os: str = ""  # linux


@dataclass(frozen=True, slots=True)
class EngineDescription:
    engine_version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeDescription:
    hostname: str = ""
    platform: PlatformDescription = field(default_factory=PlatformDescription)
    resources: Resources = field(default_factory=Resources)
    engine: EngineDescription = field(default_factory=EngineDescription)
    routes: tuple[str, ...] = ()  # the node's own IPv4 route prefixes (no overlay over them)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    addr: str = ""


@dataclass(frozen=True, slots=True)
class ManagerStatus:
    raft_id: int = 0
    addr: str = ""  # host:port of the Raft/cluster listener
    reachability: Reachability = Reachability.UNKNOWN
    leader: bool = False


@dataclass(frozen=True, slots=True)
class NodeCertificate:
    role: NodeRole = NodeRole.WORKER
    csr: bytes = b""
    state: IssuanceState = IssuanceState.PENDING
    err: str = ""
    certificate: bytes = b""
    cn: str = ""


@dataclass(frozen=True, slots=True)
class NetworkAttachment:
    """A task's (or a node's ingress sandbox's) place on a network."""

    network_id: str = ""
    addresses: tuple[str, ...] = ()  # CIDR form, e.g. "10.0.1.5/24"
    aliases: tuple[str, ...] = ()
    mac: str = ""


@dataclass(frozen=True, slots=True)
class Node:
    id: str = ""  # the node's certificate CN
    meta: Meta = field(default_factory=Meta)
    spec: NodeSpec = field(default_factory=NodeSpec)
    description: NodeDescription = field(default_factory=NodeDescription)
    status: NodeStatus = field(default_factory=NodeStatus)
    manager_status: ManagerStatus | None = None
    role: NodeRole = NodeRole.WORKER  # observed role (the certificate's)
    certificate: NodeCertificate = field(default_factory=NodeCertificate)
    attachments: tuple[NetworkAttachment, ...] = ()  # the ingress sandbox address


# -- service -----------------------------------------------------------------------------------


class UpdateState(enum.Enum):
    UNKNOWN = "unknown"
    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    state: UpdateState = UpdateState.UNKNOWN
    started_at: datetime | None = None
    completed_at: datetime | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class VirtualIP:
    network_id: str = ""
    addr: str = ""  # CIDR form


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the allocator gave the service: its VIPs and its published ports."""

    spec: EndpointSpec = field(default_factory=EndpointSpec)
    ports: tuple[PortConfig, ...] = ()
    virtual_ips: tuple[VirtualIP, ...] = ()


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_iteration: int = 0
    last_execution: datetime | None = None


@dataclass(frozen=True, slots=True)
class Service:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: ServiceSpec = field(default_factory=ServiceSpec)
    spec_version: int = 0  # bumped on every spec change; tasks record the one they ran
    previous_spec: ServiceSpec | None = None  # for rollback
    previous_spec_version: int = 0
    update_status: UpdateStatus | None = None
    endpoint: Endpoint | None = None
    job_status: JobStatus | None = None
    pending_delete: bool = False  # removed, waiting for its resources to be freed


# -- task --------------------------------------------------------------------------------------


class TaskState(enum.IntEnum):
    """Swarm's task states and numbers; a task only ever moves forward (up)."""

    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    STARTING = 384
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832

    @property
    def terminal(self) -> bool:
        return self > TaskState.RUNNING


@dataclass(frozen=True, slots=True)
class PortStatus:
    ports: tuple[PortConfig, ...] = ()  # host-mode ports as published on the node


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class TaskStatus:
    state: TaskState = TaskState.NEW
    timestamp: datetime = EPOCH
    message: str = ""  # what happened, e.g. "started"
    err: str = ""  # why it failed, shown in the ERROR column of `service ps`
    container: ContainerStatus | None = None
    port_status: PortStatus | None = None
    applied_by: str = ""  # the manager (scheduler) or node that set this state


@dataclass(frozen=True, slots=True)
class ServiceAnnotations:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    service_id: str = ""
    slot: int = 0  # replicated services and jobs; 0 for global ones
    node_id: str = ""  # set by the scheduler (global: at creation)
    spec: TaskSpec = field(default_factory=TaskSpec)  # copied from the service
    spec_version: int = 0  # the service's spec_version this task was made from
    service_annotations: ServiceAnnotations = field(default_factory=ServiceAnnotations)
    desired_state: TaskState = TaskState.NEW
    status: TaskStatus = field(default_factory=TaskStatus)
    networks: tuple[NetworkAttachment, ...] = ()
    endpoint: Endpoint | None = None
    job_iteration: int | None = None

    @property
    def name(self) -> str:
        """The name `service ps` shows: service.slot (or service.node for global tasks)."""
        suffix = str(self.slot) if self.slot else self.node_id
        return f"{self.service_annotations.name}.{suffix}"


# -- networks, secrets, configs, stacks --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IPAMConfig:
    subnet: str = ""
    gateway: str = ""
    range: str = ""


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    driver: str = "overlay"
    driver_options: Mapping[str, str] = field(default_factory=dict)
    ipam_configs: tuple[IPAMConfig, ...] = ()  # --subnet/--gateway/--ip-range
    attachable: bool = False
    internal: bool = False
    ingress: bool = False


@dataclass(frozen=True, slots=True)
class Network:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: NetworkSpec = field(default_factory=NetworkSpec)
    vxlan_id: int = 0  # allocated
    subnet: str = ""  # allocated (or the spec's)
    gateway: str = ""
    pending_delete: bool = False


@dataclass(frozen=True, slots=True)
class SecretSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    data: bytes = field(default=b"", repr=False)  # never printed or logged


@dataclass(frozen=True, slots=True)
class Secret:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: SecretSpec = field(default_factory=SecretSpec)


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Config:
    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: ConfigSpec = field(default_factory=ConfigSpec)


@dataclass(frozen=True, slots=True)
class StackSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    compose: bytes = b""  # the resolved compose file that was deployed


@dataclass(frozen=True, slots=True)
class Stack:
    """A deployed compose file: the names of what it created (each object also carries the
    label com.docker.stack.namespace=<stack>)."""

    id: str = ""
    meta: Meta = field(default_factory=Meta)
    spec: StackSpec = field(default_factory=StackSpec)
    services: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()


StoreObject = Cluster | Node | Service | Task | Network | Secret | Config | Stack

__all__ = [
    "EPOCH",
    "CAConfig",
    "Cluster",
    "ClusterSpec",
    "Config",
    "ConfigSpec",
    "ContainerStatus",
    "DispatcherConfig",
    "EncryptionConfig",
    "Endpoint",
    "EngineDescription",
    "IPAMConfig",
    "IssuanceState",
    "JobStatus",
    "JoinTokens",
    "ManagerStatus",
    "Meta",
    "Network",
    "NetworkAttachment",
    "NetworkSpec",
    "Node",
    "NodeAvailability",
    "NodeCertificate",
    "NodeDescription",
    "NodeRole",
    "NodeSpec",
    "NodeState",
    "NodeStatus",
    "OrchestrationConfig",
    "PlatformDescription",
    "PortStatus",
    "RaftConfig",
    "Reachability",
    "RootCA",
    "Secret",
    "SecretSpec",
    "Service",
    "ServiceAnnotations",
    "Stack",
    "StackSpec",
    "StoreObject",
    "Task",
    "TaskSpec",
    "TaskState",
    "TaskStatus",
    "UpdateState",
    "UpdateStatus",
    "VirtualIP",
]
