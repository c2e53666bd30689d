from proto import objects_pb2 as _objects_pb2
from google.protobuf.internal import containers as _containers
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
