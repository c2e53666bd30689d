from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetRootCACertificateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRootCACertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    def __init__(self, certificate: _Optional[bytes] = ...) -> None: ...

class IssueNodeCertificateRequest(_message.Message):
    __slots__ = ("token", "csr", "hostname", "advertise_addr", "listen_addr", "os", "architecture")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    token: str
    csr: bytes
    hostname: str
    advertise_addr: str
    listen_addr: str
    os: str
    architecture: str
    def __init__(self, token: _Optional[str] = ..., csr: _Optional[bytes] = ..., hostname: _Optional[str] = ..., advertise_addr: _Optional[str] = ..., listen_addr: _Optional[str] = ..., os: _Optional[str] = ..., architecture: _Optional[str] = ...) -> None: ...

class IssueNodeCertificateResponse(_message.Message):
    __slots__ = ("node_id", "certificate", "root_ca", "cluster_id", "role", "managers", "raft_members")
    class RaftMembersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    RAFT_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    certificate: bytes
    root_ca: bytes
    cluster_id: str
    role: str
    managers: _containers.RepeatedScalarFieldContainer[str]
    raft_members: _containers.ScalarMap[int, str]
    def __init__(self, node_id: _Optional[str] = ..., certificate: _Optional[bytes] = ..., root_ca: _Optional[bytes] = ..., cluster_id: _Optional[str] = ..., role: _Optional[str] = ..., managers: _Optional[_Iterable[str]] = ..., raft_members: _Optional[_Mapping[int, str]] = ...) -> None: ...

class RenewNodeCertificateRequest(_message.Message):
    __slots__ = ("csr",)
    CSR_FIELD_NUMBER: _ClassVar[int]
    csr: bytes
    def __init__(self, csr: _Optional[bytes] = ...) -> None: ...

class RenewNodeCertificateResponse(_message.Message):
    __slots__ = ("certificate", "root_ca", "role")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    root_ca: bytes
    role: str
    def __init__(self, certificate: _Optional[bytes] = ..., root_ca: _Optional[bytes] = ..., role: _Optional[str] = ...) -> None: ...

class JoinRaftRequest(_message.Message):
    __slots__ = ("raft_id", "addr", "node_id")
    RAFT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    raft_id: int
    addr: str
    node_id: str
    def __init__(self, raft_id: _Optional[int] = ..., addr: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class JoinRaftResponse(_message.Message):
    __slots__ = ("members",)
    class MembersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.ScalarMap[int, str]
    def __init__(self, members: _Optional[_Mapping[int, str]] = ...) -> None: ...

class LeaveRaftRequest(_message.Message):
    __slots__ = ("raft_id",)
    RAFT_ID_FIELD_NUMBER: _ClassVar[int]
    raft_id: int
    def __init__(self, raft_id: _Optional[int] = ...) -> None: ...

class LeaveRaftResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMembersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
