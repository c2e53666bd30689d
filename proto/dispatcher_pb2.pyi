from proto import objects_pb2 as _objects_pb2
from proto import logs_pb2 as _logs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "addr", "description")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addr: str
    description: _objects_pb2.NodeDescription
    def __init__(self, node_id: _Optional[str] = ..., addr: _Optional[str] = ..., description: _Optional[_Union[_objects_pb2.NodeDescription, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("accepted", "period_seconds", "leader_addr", "managers", "desired_role")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    period_seconds: float
    leader_addr: str
    managers: _containers.RepeatedScalarFieldContainer[str]
    desired_role: str
    def __init__(self, accepted: _Optional[bool] = ..., period_seconds: _Optional[float] = ..., leader_addr: _Optional[str] = ..., managers: _Optional[_Iterable[str]] = ..., desired_role: _Optional[str] = ...) -> None: ...

class AssignmentsRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class AssignmentChange(_message.Message):
    __slots__ = ("action", "task", "secret", "config", "network")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UPDATE: _ClassVar[AssignmentChange.Action]
        REMOVE: _ClassVar[AssignmentChange.Action]
    UPDATE: AssignmentChange.Action
    REMOVE: AssignmentChange.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    action: AssignmentChange.Action
    task: _objects_pb2.Task
    secret: _objects_pb2.Secret
    config: _objects_pb2.Config
    network: NetworkView
    def __init__(self, action: _Optional[_Union[AssignmentChange.Action, str]] = ..., task: _Optional[_Union[_objects_pb2.Task, _Mapping]] = ..., secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ..., config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ..., network: _Optional[_Union[NetworkView, _Mapping]] = ...) -> None: ...

class NetworkPeer(_message.Message):
    __slots__ = ("address", "mac", "node_id", "node_addr", "task_id", "task_name", "service_id", "aliases", "serving")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    address: str
    mac: str
    node_id: str
    node_addr: str
    task_id: str
    task_name: str
    service_id: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    serving: bool
    def __init__(self, address: _Optional[str] = ..., mac: _Optional[str] = ..., node_id: _Optional[str] = ..., node_addr: _Optional[str] = ..., task_id: _Optional[str] = ..., task_name: _Optional[str] = ..., service_id: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., serving: _Optional[bool] = ...) -> None: ...

class NetworkService(_message.Message):
    __slots__ = ("service_id", "name", "endpoint_mode", "vip", "ports", "aliases")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_MODE_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name: str
    endpoint_mode: str
    vip: str
    ports: _containers.RepeatedCompositeFieldContainer[_objects_pb2.PortConfig]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_id: _Optional[str] = ..., name: _Optional[str] = ..., endpoint_mode: _Optional[str] = ..., vip: _Optional[str] = ..., ports: _Optional[_Iterable[_Union[_objects_pb2.PortConfig, _Mapping]]] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkView(_message.Message):
    __slots__ = ("network", "peers", "services", "data_path_port")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_PORT_FIELD_NUMBER: _ClassVar[int]
    network: _objects_pb2.Network
    peers: _containers.RepeatedCompositeFieldContainer[NetworkPeer]
    services: _containers.RepeatedCompositeFieldContainer[NetworkService]
    data_path_port: int
    def __init__(self, network: _Optional[_Union[_objects_pb2.Network, _Mapping]] = ..., peers: _Optional[_Iterable[_Union[NetworkPeer, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[NetworkService, _Mapping]]] = ..., data_path_port: _Optional[int] = ...) -> None: ...

class AssignmentsMessage(_message.Message):
    __slots__ = ("type", "sequence", "applies_to", "changes")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        COMPLETE: _ClassVar[AssignmentsMessage.Type]
        INCREMENTAL: _ClassVar[AssignmentsMessage.Type]
    COMPLETE: AssignmentsMessage.Type
    INCREMENTAL: AssignmentsMessage.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    APPLIES_TO_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    type: AssignmentsMessage.Type
    sequence: int
    applies_to: int
    changes: _containers.RepeatedCompositeFieldContainer[AssignmentChange]
    def __init__(self, type: _Optional[_Union[AssignmentsMessage.Type, str]] = ..., sequence: _Optional[int] = ..., applies_to: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[AssignmentChange, _Mapping]]] = ...) -> None: ...

class TaskStatusUpdate(_message.Message):
    __slots__ = ("task_id", "status")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    status: _objects_pb2.TaskStatus
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[_Union[_objects_pb2.TaskStatus, _Mapping]] = ...) -> None: ...

class UpdateTaskStatusRequest(_message.Message):
    __slots__ = ("node_id", "updates")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    updates: _containers.RepeatedCompositeFieldContainer[TaskStatusUpdate]
    def __init__(self, node_id: _Optional[str] = ..., updates: _Optional[_Iterable[_Union[TaskStatusUpdate, _Mapping]]] = ...) -> None: ...

class UpdateTaskStatusResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogSubscriptionsRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class LogSubscription(_message.Message):
    __slots__ = ("id", "service_ids", "task_ids", "follow", "tail", "since_unix_nano", "close")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    id: str
    service_ids: _containers.RepeatedScalarFieldContainer[str]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    follow: bool
    tail: int
    since_unix_nano: int
    close: bool
    def __init__(self, id: _Optional[str] = ..., service_ids: _Optional[_Iterable[str]] = ..., task_ids: _Optional[_Iterable[str]] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ..., since_unix_nano: _Optional[int] = ..., close: _Optional[bool] = ...) -> None: ...

class PublishLogsMessage(_message.Message):
    __slots__ = ("subscription_id", "messages", "close")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    messages: _containers.RepeatedCompositeFieldContainer[_logs_pb2.LogMessage]
    close: bool
    def __init__(self, subscription_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_logs_pb2.LogMessage, _Mapping]]] = ..., close: _Optional[bool] = ...) -> None: ...

class PublishLogsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
