"""Raft consensus for the managers: a pure core, WAL and snapshot storage, a driver, a transport.

    core.RaftNode      deterministic state machine: step/tick/propose -> ready()/advance()
    storage.Storage    WAL segments + snapshot files, fsynced, CRC-checked, optional cipher
    driver.RaftDriver  the asyncio loop: persist, send, apply, resolve proposals
    transport          gRPC streams between managers (GrpcTransport), in-memory for tests

See docs/design/raft.md.
"""

from manager.raft.cipher import Cipher, NullCipher
from manager.raft.clock import Clock, FakeClock, LoopClock
from manager.raft.core import Config, RaftNode, Status
from manager.raft.driver import DriverOptions, RaftDriver, StateMachine
from manager.raft.errors import (
    ClusterMismatchError,
    ConfChangeInProgress,
    CorruptLogError,
    NotLeader,
    ProposalDropped,
    ProposalLost,
    RaftError,
    StorageError,
    WrongKeyError,
)
from manager.raft.storage import Restored, Storage
from manager.raft.transport import GrpcTransport, InMemoryNetwork

__all__ = [
    "Cipher",
    "Clock",
    "ClusterMismatchError",
    "ConfChangeInProgress",
    "Config",
    "CorruptLogError",
    "DriverOptions",
    "FakeClock",
    "GrpcTransport",
    "InMemoryNetwork",
    "LoopClock",
    "NotLeader",
    "NullCipher",
    "ProposalDropped",
    "ProposalLost",
    "RaftDriver",
    "RaftError",
    "RaftNode",
    "Restored",
    "StateMachine",
    "Status",
    "Storage",
    "StorageError",
    "WrongKeyError",
]
