from proto import objects_pb2 as _objects_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoreAction(_message.Message):
    __slots__ = ("op", "cluster", "node", "service", "task", "network", "secret", "config", "stack")
    OP_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    op: str
    cluster: _objects_pb2.Cluster
    node: _objects_pb2.Node
    service: _objects_pb2.Service
    task: _objects_pb2.Task
    network: _objects_pb2.Network
    secret: _objects_pb2.Secret
    config: _objects_pb2.Config
    stack: _objects_pb2.Stack
    def __init__(self, op: _Optional[str] = ..., cluster: _Optional[_Union[_objects_pb2.Cluster, _Mapping]] = ..., node: _Optional[_Union[_objects_pb2.Node, _Mapping]] = ..., service: _Optional[_Union[_objects_pb2.Service, _Mapping]] = ..., task: _Optional[_Union[_objects_pb2.Task, _Mapping]] = ..., network: _Optional[_Union[_objects_pb2.Network, _Mapping]] = ..., secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ..., config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ..., stack: _Optional[_Union[_objects_pb2.Stack, _Mapping]] = ...) -> None: ...

class StoreBatch(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[StoreAction]
    def __init__(self, actions: _Optional[_Iterable[_Union[StoreAction, _Mapping]]] = ...) -> None: ...

class StoreSnapshot(_message.Message):
    __slots__ = ("index", "clusters", "nodes", "services", "tasks", "networks", "secrets", "configs", "stacks")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    CONFIGS_FIELD_NUMBER: _ClassVar[int]
    STACKS_FIELD_NUMBER: _ClassVar[int]
    index: int
    clusters: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Cluster]
    nodes: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Node]
    services: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Service]
    tasks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Task]
    networks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Network]
    secrets: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Secret]
    configs: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Config]
    stacks: _containers.RepeatedCompositeFieldContainer[_objects_pb2.Stack]
    def __init__(self, index: _Optional[int] = ..., clusters: _Optional[_Iterable[_Union[_objects_pb2.Cluster, _Mapping]]] = ..., nodes: _Optional[_Iterable[_Union[_objects_pb2.Node, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[_objects_pb2.Service, _Mapping]]] = ..., tasks: _Optional[_Iterable[_Union[_objects_pb2.Task, _Mapping]]] = ..., networks: _Optional[_Iterable[_Union[_objects_pb2.Network, _Mapping]]] = ..., secrets: _Optional[_Iterable[_Union[_objects_pb2.Secret, _Mapping]]] = ..., configs: _Optional[_Iterable[_Union[_objects_pb2.Config, _Mapping]]] = ..., stacks: _Optional[_Iterable[_Union[_objects_pb2.Stack, _Mapping]]] = ...) -> None: ...
