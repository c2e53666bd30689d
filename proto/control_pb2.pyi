from proto import objects_pb2 as _objects_pb2
from proto import logs_pb2 as _logs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("ref", "force")
    REF_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    force: bool
    def __init__(self, ref: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeList(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_objects_pb2.Node, _Mapping]]] = ...) -> None: ...

class SecretList(_message.Message):
    __slots__ = ("secrets",)
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Secret]
    def __init__(self, secrets: _Optional[_Iterable[_Union[_objects_pb2.Secret, _Mapping]]] = ...) -> None: ...

class ConfigList(_message.Message):
    __slots__ = ("configs",)
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    configs: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Config]
    def __init__(self, configs: _Optional[_Iterable[_Union[_objects_pb2.Config, _Mapping]]] = ...) -> None: ...

class NetworkList(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Network]
    def __init__(self, networks: _Optional[_Iterable[_Union[_objects_pb2.Network, _Mapping]]] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _objects_pb2.NetworkSpec
    def __init__(self, spec: _Optional[_Union[_objects_pb2.NetworkSpec, _Mapping]] = ...) -> None: ...

class ServiceList(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Service]
    def __init__(self, services: _Optional[_Iterable[_Union[_objects_pb2.Service, _Mapping]]] = ...) -> None: ...

class TaskList(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[_objects_pb2.Task, _Mapping]]] = ...) -> None: ...

class CreateServiceRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _objects_pb2.ServiceSpec
    def __init__(self, spec: _Optional[_Union[_objects_pb2.ServiceSpec, _Mapping]] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("ref", "version", "spec")
    REF_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ref: str
    version: int
    spec: _objects_pb2.ServiceSpec
    def __init__(self, ref: _Optional[str] = ..., version: _Optional[int] = ..., spec: _Optional[_Union[_objects_pb2.ServiceSpec, _Mapping]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("service_ids", "node_ids", "desired_states")
    SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_STATES_FIELD_NUMBER: _ClassVar[int]
    service_ids: _containers.RepeatedScalarFieldContainer[str]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    desired_states: _containers.RepeatedScalarFieldContainer[_objects_pb2.TaskState]
    def __init__(self, service_ids: _Optional[_Iterable[str]] = ..., node_ids: _Optional[_Iterable[str]] = ..., desired_states: _Optional[_Iterable[_Union[_objects_pb2.TaskState, str]]] = ...) -> None: ...

class UpdateClusterRequest(_message.Message):
    __slots__ = ("version", "spec", "rotate_worker_token", "rotate_manager_token")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ROTATE_WORKER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROTATE_MANAGER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    version: int
    spec: _objects_pb2.ClusterSpec
    rotate_worker_token: bool
    rotate_manager_token: bool
    def __init__(self, version: _Optional[int] = ..., spec: _Optional[_Union[_objects_pb2.ClusterSpec, _Mapping]] = ..., rotate_worker_token: _Optional[bool] = ..., rotate_manager_token: _Optional[bool] = ...) -> None: ...

class UpdateNodeRequest(_message.Message):
    __slots__ = ("ref", "version", "spec")
    REF_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ref: str
    version: int
    spec: _objects_pb2.NodeSpec
    def __init__(self, ref: _Optional[str] = ..., version: _Optional[int] = ..., spec: _Optional[_Union[_objects_pb2.NodeSpec, _Mapping]] = ...) -> None: ...

class CreateSecretRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _objects_pb2.SecretSpec
    def __init__(self, spec: _Optional[_Union[_objects_pb2.SecretSpec, _Mapping]] = ...) -> None: ...

class CreateConfigRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _objects_pb2.ConfigSpec
    def __init__(self, spec: _Optional[_Union[_objects_pb2.ConfigSpec, _Mapping]] = ...) -> None: ...

class InitRequest(_message.Message):
    __slots__ = ("listen_addr", "advertise_addr", "data_path_port", "default_addr_pool", "subnet_size", "dispatcher_heartbeat_seconds", "task_history_limit", "cert_expiry_seconds", "snapshot_interval")
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_PORT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ADDR_POOL_FIELD_NUMBER: _ClassVar[int]
    SUBNET_SIZE_FIELD_NUMBER: _ClassVar[int]
    DISPATCHER_HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TASK_HISTORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CERT_EXPIRY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    listen_addr: str
    advertise_addr: str
    data_path_port: int
    default_addr_pool: _containers.RepeatedScalarFieldContainer[str]
    subnet_size: int
    dispatcher_heartbeat_seconds: int
    task_history_limit: int
    cert_expiry_seconds: int
    snapshot_interval: int
    def __init__(self, listen_addr: _Optional[str] = ..., advertise_addr: _Optional[str] = ..., data_path_port: _Optional[int] = ..., default_addr_pool: _Optional[_Iterable[str]] = ..., subnet_size: _Optional[int] = ..., dispatcher_heartbeat_seconds: _Optional[int] = ..., task_history_limit: _Optional[int] = ..., cert_expiry_seconds: _Optional[int] = ..., snapshot_interval: _Optional[int] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ("node_id", "cluster_id")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cluster_id: str
    def __init__(self, node_id: _Optional[str] = ..., cluster_id: _Optional[str] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("remote_addrs", "token", "listen_addr", "advertise_addr")
    REMOTE_ADDRS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    remote_addrs: _containers.RepeatedScalarFieldContainer[str]
    token: str
    listen_addr: str
    advertise_addr: str
    def __init__(self, remote_addrs: _Optional[_Iterable[str]] = ..., token: _Optional[str] = ..., listen_addr: _Optional[str] = ..., advertise_addr: _Optional[str] = ...) -> None: ...

class JoinResponse(_message.Message):
    __slots__ = ("node_id", "role")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: str
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class LeaveRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("local_node_state", "node_id", "node_addr", "cluster_id", "control_available", "error", "remote_managers", "nodes", "managers")
    LOCAL_NODE_STATE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTROL_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REMOTE_MANAGERS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    local_node_state: str
    node_id: str
    node_addr: str
    cluster_id: str
    control_available: bool
    error: str
    remote_managers: _containers.RepeatedScalarFieldContainer[str]
    nodes: int
    managers: int
    def __init__(self, local_node_state: _Optional[str] = ..., node_id: _Optional[str] = ..., node_addr: _Optional[str] = ..., cluster_id: _Optional[str] = ..., control_available: _Optional[bool] = ..., error: _Optional[str] = ..., remote_managers: _Optional[_Iterable[str]] = ..., nodes: _Optional[int] = ..., managers: _Optional[int] = ...) -> None: ...

class ServiceLogsRequest(_message.Message):
    __slots__ = ("ref", "follow", "tail", "since_unix_nano", "timestamps")
    REF_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    ref: str
    follow: bool
    tail: int
    since_unix_nano: int
    timestamps: bool
    def __init__(self, ref: _Optional[str] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ..., since_unix_nano: _Optional[int] = ..., timestamps: _Optional[bool] = ...) -> None: ...

class ServiceLogsMessage(_message.Message):
    __slots__ = ("messages", "warnings")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_logs_pb2.LogMessage]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, messages: _Optional[_Iterable[_Union[_logs_pb2.LogMessage, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
