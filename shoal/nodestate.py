"""A node's data directory: who it is, its certificates, its Raft data.

    <data-dir>/                 0700
        state.json              0600  node id, cluster id, role, raft id, addresses, managers,
                                      the Raft members' addresses (managers)
        certificates/           0700  node.key (0600), node.crt, root-ca.crt (manager.ca)
        raft/                         WAL + snapshots, encrypted with the data key (managers)
        raft-data.key           0600  the 32-byte AES key of raft/ (no autolock yet)

`state.json` is written atomically (temp file, fsync, rename, fsync of the directory), after
the certificates, so a node whose state file exists has everything it needs to come back as
the same node. `wipe` removes all of it (`swarm leave`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from manager.ca import CredentialStore, new_data_key
from manager.ca.keystore import write_atomic

STATE_FILE = "state.json"
DATA_KEY_FILE = "raft-data.key"
STATE_VERSION = 1


class NodeStateError(Exception):
    """The data directory holds something this shoald cannot use; the message says what to do."""


@dataclass(frozen=True)
class NodeState:
    node_id: str
    cluster_id: str
    role: str  # "manager" | "worker"
    listen_addr: str  # host:port of the cluster port
    advertise_addr: str  # host:port others reach the cluster port at
    raft_id: int = 0  # managers
    managers: tuple[str, ...] = ()  # cluster addresses of the managers, last known
    raft_members: Mapping[int, str] = field(default_factory=dict)  # managers: raft id -> addr

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    def with_members(self, members: Mapping[int, str]) -> NodeState:
        return replace(
            self, raft_members=dict(members), managers=tuple(sorted(set(members.values())))
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["version"] = STATE_VERSION
        data["managers"] = list(self.managers)
        data["raft_members"] = {str(k): v for k, v in sorted(self.raft_members.items())}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> NodeState:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"state format version {data.get('version')!r} is not supported")
        if data["role"] not in ("manager", "worker"):
            raise ValueError(f"unknown role {data['role']!r}")
        return cls(
            node_id=str(data["node_id"]),
            cluster_id=str(data["cluster_id"]),
            role=str(data["role"]),
            listen_addr=str(data["listen_addr"]),
            advertise_addr=str(data["advertise_addr"]),
            raft_id=int(data.get("raft_id", 0)),
            managers=tuple(str(a) for a in data.get("managers", ())),
            raft_members={int(k): str(v) for k, v in data.get("raft_members", {}).items()},
        )


class DataDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE

    @property
    def raft_dir(self) -> Path:
        return self.path / "raft"

    @property
    def certificates(self) -> CredentialStore:
        return CredentialStore(self.path / "certificates")

    def ensure(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def load_state(self) -> NodeState | None:
        """The saved state, or None for a node in no swarm."""
        try:
            text = self.state_file.read_text()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise NodeStateError(f"cannot read {self.state_file}: {e.strerror}") from None
        try:
            return NodeState.from_json(text)
        except (ValueError, KeyError, TypeError) as e:
            raise NodeStateError(
                f"{self.state_file} is damaged ({e}); if this node cannot be repaired, remove "
                f"{self.path} and join the swarm again"
            ) from None

    def save_state(self, state: NodeState) -> None:
        self.ensure()
        write_atomic(self.state_file, state.to_json().encode(), 0o600)

    def data_key(self, *, create: bool) -> bytes:
        """The Raft data key; a new one when `create` (a new manager)."""
        path = self.path / DATA_KEY_FILE
        if create:
            key = new_data_key()
            self.ensure()
            write_atomic(path, key, 0o600)
            return key
        try:
            key = path.read_bytes()
        except OSError as e:
            raise NodeStateError(
                f"cannot read the Raft data key {path}: {e.strerror}; without it this "
                f"manager's Raft data cannot be read: remove {self.path} and join again"
            ) from None
        if len(key) != 32:
            raise NodeStateError(f"the Raft data key {path} is damaged ({len(key)} bytes)")
        return key

    def drop_raft(self) -> None:
        """A demoted manager's Raft data and its key."""
        shutil.rmtree(self.raft_dir, ignore_errors=True)
        (self.path / DATA_KEY_FILE).unlink(missing_ok=True)

    def wipe(self) -> None:
        """Forget the swarm: state first (so a crash midway leaves a node in no swarm)."""
        self.state_file.unlink(missing_ok=True)
        for name in ("certificates", "raft"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        (self.path / DATA_KEY_FILE).unlink(missing_ok=True)
