from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogContext(_message.Message):
    __slots__ = ("service_id", "node_id", "task_id")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    node_id: str
    task_id: str
    def __init__(self, service_id: _Optional[str] = ..., node_id: _Optional[str] = ..., task_id: _Optional[str] = ...) -> None: ...

class LogMessage(_message.Message):
    __slots__ = ("context", "unix_nano", "stream", "data")
    class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STDOUT: _ClassVar[LogMessage.Stream]
        STDERR: _ClassVar[LogMessage.Stream]
    STDOUT: LogMessage.Stream
    STDERR: LogMessage.Stream
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    context: LogContext
    unix_nano: int
    stream: LogMessage.Stream
    data: bytes
    def __init__(self, context: _Optional[_Union[LogContext, _Mapping]] = ..., unix_nano: _Optional[int] = ..., stream: _Optional[_Union[LogMessage.Stream, str]] = ..., data: _Optional[bytes] = ...) -> None: ...
