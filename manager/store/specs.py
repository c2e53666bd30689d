"""What a service asks for: the task template (container, resources, placement, restart policy,
networks, log driver), the service mode, update/rollback settings and the endpoint.

Names and defaults follow Docker's swarm-mode API (swarmkit `api/specs.proto` and
`api/defaults/service.go`). Durations are `timedelta`; CPU is in nano-CPUs (1e9 = one CPU).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta


class RestartCondition(enum.Enum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class FailureAction(enum.Enum):
    PAUSE = "pause"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class UpdateOrder(enum.Enum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class EndpointMode(enum.Enum):
    VIP = "vip"
    DNSRR = "dnsrr"


class PortProtocol(enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class PublishMode(enum.Enum):
    INGRESS = "ingress"
    HOST = "host"


class MountType(enum.Enum):
    BIND = "bind"
    VOLUME = "volume"
    TMPFS = "tmpfs"


# -- container ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mount:
    type: MountType = MountType.VOLUME
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_propagation: str = ""  # bind: rprivate (default), private, rshared, ...
    volume_nocopy: bool = False
    volume_labels: Mapping[str, str] = field(default_factory=dict)
    volume_driver: str = ""
    volume_driver_options: Mapping[str, str] = field(default_factory=dict)
    tmpfs_size_bytes: int = 0
    tmpfs_mode: int = 0


@dataclass(frozen=True, slots=True)
class FileTarget:
    """Where a secret or config appears in the container, and its owner and mode."""

    name: str = ""  # relative: under /run/secrets (secrets) or / (configs); or absolute
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


@dataclass(frozen=True, slots=True)
class SecretReference:
    secret_id: str = ""
    secret_name: str = ""
    file: FileTarget = field(default_factory=FileTarget)


@dataclass(frozen=True, slots=True)
class ConfigReference:
    config_id: str = ""
    config_name: str = ""
    file: FileTarget = field(default_factory=FileTarget)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """`test` as in Docker: ["NONE"], ["CMD", args...] or ["CMD-SHELL", command]."""

    test: tuple[str, ...] = ()
    interval: timedelta = timedelta(0)  # 0 means the engine default (30s)
    timeout: timedelta = timedelta(0)
    retries: int = 0
    start_period: timedelta = timedelta(0)
    start_interval: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str = ""
    soft: int = 0
    hard: int = 0


@dataclass(frozen=True, slots=True)
class DNSConfig:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    image: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # container labels
    command: tuple[str, ...] = ()  # the entrypoint
    args: tuple[str, ...] = ()
    hostname: str = ""
    env: tuple[str, ...] = ()  # "KEY=value"
    dir: str = ""  # working directory
    user: str = ""
    groups: tuple[str, ...] = ()
    tty: bool = False
    open_stdin: bool = False
    read_only: bool = False
    init: bool | None = None  # None: the engine's default
    stop_signal: str = ""
    stop_grace_period: timedelta = timedelta(seconds=10)
    mounts: tuple[Mount, ...] = ()
    secrets: tuple[SecretReference, ...] = ()
    configs: tuple[ConfigReference, ...] = ()
    healthcheck: HealthConfig | None = None
    hosts: tuple[str, ...] = ()  # "IP host [alias...]"
    dns_config: DNSConfig | None = None
    capability_add: tuple[str, ...] = ()
    capability_drop: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    # --with-registry-auth: base64 JSON credentials handed to the engine's pull; never printed
    registry_auth: str = field(default="", repr=False)


# -- task template -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    nano_cpus: int = 0
    memory_bytes: int = 0
    pids: int = 0  # limits only


@dataclass(frozen=True, slots=True)
class ResourceRequirements:
    limits: Resources = field(default_factory=Resources)
    reservations: Resources = field(default_factory=Resources)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    condition: RestartCondition = RestartCondition.ANY
    delay: timedelta = timedelta(seconds=5)
    max_attempts: int = 0  # 0: unlimited
    window: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Platform:
    architecture: str = ""
    os: str = ""


@dataclass(frozen=True, slots=True)
class PlacementPreference:
    spread: str = ""  # e.g. "node.labels.zone"


@dataclass(frozen=True, slots=True)
class Placement:
    constraints: tuple[str, ...] = ()  # "node.role==manager", "node.labels.zone!=b"
    preferences: tuple[PlacementPreference, ...] = ()
    max_replicas: int = 0  # per node; 0: unlimited
    platforms: tuple[Platform, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkAttachmentConfig:
    target: str = ""  # network id (or name, before the control API resolves it)
    aliases: tuple[str, ...] = ()
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Driver:
    name: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    container: ContainerSpec = field(default_factory=ContainerSpec)
    resources: ResourceRequirements = field(default_factory=ResourceRequirements)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    placement: Placement = field(default_factory=Placement)
    networks: tuple[NetworkAttachmentConfig, ...] = ()
    log_driver: Driver | None = None
    force_update: int = 0  # bumped by `service update --force`


# -- service -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplicatedService:
    replicas: int = 1


@dataclass(frozen=True, slots=True)
class GlobalService:
    pass


@dataclass(frozen=True, slots=True)
class ReplicatedJob:
    max_concurrent: int = 1
    total_completions: int = 1


@dataclass(frozen=True, slots=True)
class GlobalJob:
    pass


ServiceMode = ReplicatedService | GlobalService | ReplicatedJob | GlobalJob


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """Rolling update (and rollback) settings; swarmkit's defaults."""

    parallelism: int = 1  # 0: all at once
    delay: timedelta = timedelta(0)
    failure_action: FailureAction = FailureAction.PAUSE
    monitor: timedelta = timedelta(seconds=5)
    max_failure_ratio: float = 0.0
    order: UpdateOrder = UpdateOrder.STOP_FIRST


@dataclass(frozen=True, slots=True)
class PortConfig:
    name: str = ""
    protocol: PortProtocol = PortProtocol.TCP
    target_port: int = 0
    published_port: int = 0  # 0: allocated from 30000-32767 (ingress mode)
    publish_mode: PublishMode = PublishMode.INGRESS


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    mode: EndpointMode = EndpointMode.VIP
    ports: tuple[PortConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    task_template: TaskSpec = field(default_factory=TaskSpec)
    mode: ServiceMode = field(default_factory=ReplicatedService)
    update_config: UpdateConfig = field(default_factory=UpdateConfig)
    rollback_config: UpdateConfig = field(default_factory=UpdateConfig)
    endpoint_spec: EndpointSpec = field(default_factory=EndpointSpec)
