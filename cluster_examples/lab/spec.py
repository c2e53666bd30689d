"""What a lab is made of: its nodes, addresses and files, and the state kept between commands."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cluster_examples.lab.sh import LabError

DEFAULT_STATE_DIR = Path("/var/lib/shoal-lab")
DEFAULT_SUBNET = "172.31.0.0/24"
SWITCH_NETNS = "shoal-switch"
SWITCH_BRIDGE = "shoal-br0"
REGISTRY_PORT = 5000
NODE_NAME = re.compile(r"^n([1-9][0-9]*)$")


@dataclass(frozen=True)
class NodePaths:
    """Everything one node keeps under the lab's state dir."""

    root: Path

    @property
    def docker_root(self) -> Path:
        return self.root / "docker"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def docker_sock(self) -> Path:
        return self.root / "docker.sock"

    @property
    def docker_pid(self) -> Path:
        return self.root / "docker.pid"

    @property
    def docker_log(self) -> Path:
        return self.root / "docker.log"

    @property
    def uts(self) -> Path:
        """Bind mount that keeps the node's UTS namespace (its hostname) alive."""
        return self.root / "uts"

    @property
    def shoald_sock(self) -> Path:
        return self.root / "shoal.sock"


@dataclass
class LabState:
    """Written to <state dir>/lab.json by `up`, read by every other command."""

    subnet: str
    nodes: list[str]
    managers: int
    registry_pid: int = 0
    engine_pids: dict[str, int] = field(default_factory=dict)
    shoald_pids: dict[str, int] = field(default_factory=dict)
    partitions: list[list[str]] = field(default_factory=list)

    def node_address(self, node: str) -> str:
        return str(node_address(self.subnet, node))

    def registry_address(self) -> str:
        return f"{registry_ip(self.subnet)}:{REGISTRY_PORT}"

    def check_node(self, node: str) -> None:
        if node not in self.nodes:
            raise LabError(f"no node {node!r} in this lab; its nodes are {', '.join(self.nodes)}")

    def save(self, state_dir: Path) -> None:
        path = state_dir / "lab.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / "lab.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as e:
            raise LabError(f"{path} is unreadable ({e}); run 'shoal-lab down' to clear it") from e


def node_names(count: int) -> list[str]:
    return [f"n{k}" for k in range(1, count + 1)]


def node_index(node: str) -> int:
    m = NODE_NAME.match(node)
    if not m:
        raise LabError(f"{node!r} is not a lab node name; nodes are named n1, n2, ...")
    return int(m.group(1))


def parse_subnet(subnet: str, nodes: int) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(subnet)
    except ValueError as e:
        raise LabError(
            f"--subnet {subnet!r} is not an IPv4 network ({e}); use e.g. 172.31.0.0/24"
        ) from e
    if net.overlaps(ipaddress.IPv4Network("10.0.0.0/8")):
        raise LabError(f"--subnet {subnet} overlaps shoal's overlay pool 10.0.0.0/8; pick another")
    if net.num_addresses - 3 < nodes:
        raise LabError(f"--subnet {subnet} has room for {net.num_addresses - 3} nodes, not {nodes}")
    return net


def node_address(subnet: str, node: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Network(subnet).network_address + node_index(node)


def registry_ip(subnet: str) -> ipaddress.IPv4Address:
    """The switch bridge's own address (the last host address): the registry listens there."""
    return ipaddress.IPv4Network(subnet).broadcast_address - 1
