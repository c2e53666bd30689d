"""Fixtures of the overlay tests: namespaces under a tmp dir, two fake nodes, one overlay.

    overlay_root           a fresh directory under /tmp, removed after
    netns_factory("name")  a network namespace bind-mounted at <root>/netns/name, removed after
    two_nodes              nodes A 198.18.0.1 and B 198.18.0.2: namespaces on a veth underlay,
                           each with its own run_dir (what they made there is removed after)
    overlay                network 4097 / 10.250.0.0/24 sandboxed on both nodes, container
                           namespaces ctrA 10.250.0.2 (on A) and ctrB 10.250.0.3 (on B)
                           attached, peers programmed on both

Code that makes devices "in the host namespace" runs with the thread inside a fake node
(`with in_netns(node.ns): ...`), so nothing is created in the real host's namespace. The
overlay_net calls are blocking (pyroute2's sync API refuses a thread with a running event
loop): an async test runs them through asyncio.to_thread, entering the node in that thread.
Everything is torn down even when a test fails; the node namespaces go last.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from manager.dispatcher.networks import NetworkPeer
from manager.store import Network, NetworkSpec
from overlay_net.endpoint import attach_endpoint
from overlay_net.netns import create_netns, in_netns, remove_netns
from overlay_net.sandbox import NetworkSandbox
from tests.integration.overlay.support import FakeNode, mounts_under, veth_between

UNDERLAY = "198.18.0.0/24"  # the benchmarking range: nothing real uses it
NETWORK = Network(
    id="0v3r1ayn3tw0rk0000000000",
    spec=NetworkSpec(name="testnet"),
    vxlan_id=4097,
    subnet="10.250.0.0/24",
    gateway="10.250.0.1",
)
DATA_PATH_PORT = 4789


class NetnsFactory:
    """Creates namespaces under `root`; `cleanup()` removes them, last made first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Path] = []

    def __call__(self, name: str) -> Path:
        path = self.root / name
        create_netns(path)
        self.made.append(path)
        return path

    def cleanup(self) -> None:
        errors: list[Exception] = []
        for path in reversed(self.made):
            try:
                remove_netns(path)
            except Exception as e:
                errors.append(e)
        self.made.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def overlay_root() -> Iterator[Path]:
    """A fresh directory for namespaces and run dirs; removed after, unless something is
    still mounted below it (then the test fails, naming it).

    Not pytest's tmp_path: a concurrent pytest session prunes old tmp_path directories, and
    must never find one with our bind mounts in it."""
    if os.geteuid() != 0:
        pytest.skip("the overlay tests need root (network namespaces, bind mounts)")
    root = Path(tempfile.mkdtemp(prefix="shoal-overlay-test-"))
    try:
        yield root
    finally:
        left = mounts_under(root)
        if left:
            raise AssertionError(f"still mounted after the test: {', '.join(left)}")
        shutil.rmtree(root)


@pytest.fixture
def netns_factory(overlay_root: Path) -> Iterator[NetnsFactory]:
    factory = NetnsFactory(overlay_root / "netns")
    try:
        yield factory
    finally:
        factory.cleanup()


def clear_run_dir(node: FakeNode) -> None:
    """Remove every namespace the code under test mounted in the node's run_dir."""
    for path in sorted((node.run_dir / "netns").glob("*")):
        with contextlib.suppress(Exception), in_netns(node.ns):
            NetworkSandbox.at(path).remove()  # vxlan0 first: its socket is in the node
        remove_netns(path)


@pytest.fixture
def two_nodes(
    netns_factory: NetnsFactory, overlay_root: Path
) -> Iterator[tuple[FakeNode, FakeNode]]:
    a = FakeNode("nodeA", netns_factory("test-nodeA"), "198.18.0.1", overlay_root / "A" / "run")
    b = FakeNode("nodeB", netns_factory("test-nodeB"), "198.18.0.2", overlay_root / "B" / "run")
    try:
        veth_between(a.ns, f"{a.addr}/24", b.ns, f"{b.addr}/24", name="underlay0")
        yield a, b
    finally:
        for node in (a, b):
            clear_run_dir(node)


@dataclass
class Overlay:
    nodes: tuple[FakeNode, FakeNode]
    network: Network
    peers: list[NetworkPeer]
    containers: dict[str, Path]  # node id -> the container namespace there
    sandboxes: dict[str, NetworkSandbox] = field(default_factory=dict)  # node id -> sandbox

    def node(self, node_id: str) -> FakeNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def set_peers(self, node_id: str, peers: list[NetworkPeer]) -> None:
        with in_netns(self.node(node_id).ns):
            self.sandboxes[node_id].set_peers(peers, local_node_id=node_id)


def container_peer(node: FakeNode, host: int, task_id: str) -> NetworkPeer:
    return NetworkPeer(
        address=f"10.250.0.{host}/24",
        mac=f"02:42:0a:fa:00:{host:02x}",
        node_id=node.node_id,
        node_addr=node.addr,
        task_id=task_id,
        serving=True,
    )


@pytest.fixture
def overlay(two_nodes: tuple[FakeNode, FakeNode], netns_factory: NetnsFactory) -> Overlay:
    a, b = two_nodes
    peers = [container_peer(a, 2, "taskA"), container_peer(b, 3, "taskB")]
    ov = Overlay(
        two_nodes,
        NETWORK,
        peers,
        {"nodeA": netns_factory("test-ctrA"), "nodeB": netns_factory("test-ctrB")},
    )
    for node, peer in zip(two_nodes, peers, strict=True):
        with in_netns(node.ns):
            sandbox = NetworkSandbox.ensure(
                NETWORK, run_dir=node.run_dir, node_addr=node.addr, data_path_port=DATA_PATH_PORT
            )
            attach_endpoint(
                sandbox,
                ov.containers[node.node_id],
                key=peer.task_id,
                ifname="eth0",
                address=peer.address,
                mac=peer.mac,
            )
            sandbox.set_peers(peers, local_node_id=node.node_id)
        ov.sandboxes[node.node_id] = sandbox
    return ov  # two_nodes removes the sandboxes, netns_factory the containers
