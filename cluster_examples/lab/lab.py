"""A shoal cluster on one host: the lab's commands, composed from its parts.

up:   preflight -> clear leftovers -> switch + registry -> nodes in parallel
      (namespace, veth, UTS namespace, dockerd) -> test images -> shoald on every node
      -> swarm init on n1, join n2..nM as managers, the rest as workers -> lab.json
down: shoalds stopped -> containers removed through each engine -> engines, registry
      stopped -> leftovers
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from cluster_examples.lab import (
    cleanup,
    engine,
    images,
    network,
    preflight,
    registry,
    shoald,
)
from cluster_examples.lab.sh import LabError, in_netns, netns_exists, run
from cluster_examples.lab.spec import (
    SWITCH_NETNS,
    LabState,
    NodePaths,
    node_names,
    parse_subnet,
)


@dataclass(frozen=True)
class NodeStatus:
    name: str
    address: str
    engine: str
    shoald: str
    partition: str


class Lab:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def paths(self, node: str) -> NodePaths:
        return NodePaths(self.state_dir / node)

    def state(self) -> LabState:
        state = LabState.load(self.state_dir)
        if state is None:
            raise LabError("no lab is up; start one with 'shoal-lab up --nodes 3'")
        return state

    # up / down

    def up(self, nodes: int, managers: int, subnet: str) -> LabState:
        if nodes < 1:
            raise LabError(f"--nodes must be at least 1, not {nodes}")
        if not 1 <= managers <= nodes:
            raise LabError(f"--managers must be between 1 and --nodes ({nodes}), not {managers}")
        parse_subnet(subnet, nodes)
        preflight.check_host()
        self._refuse_if_up()
        cleanup.remove_everything(self.state_dir)
        self.state_dir.mkdir(parents=True)
        OWNER_FILE.write_text(f"{self.state_dir}\n")
        state = LabState(subnet=subnet, nodes=node_names(nodes), managers=managers)
        state.save(self.state_dir)  # from here on, `down` knows what to remove
        try:
            network.create_switch(subnet)
            state.registry_pid = registry.start(self.state_dir, state.registry_address())
            state.save(self.state_dir)
            asyncio.run(self._start_nodes(state))
            state.save(self.state_dir)
            images.build_and_push(self.paths("n1").docker_sock, state.registry_address())
            self._start_shoalds(state)
            shoald.form_cluster(
                state.nodes,
                state.managers,
                {n: self.paths(n).shoald_sock for n in state.nodes},
                {n: state.node_address(n) for n in state.nodes},
            )
        except BaseException:
            self.down()
            raise
        return state

    async def _start_nodes(self, state: LabState) -> None:
        async with asyncio.TaskGroup() as tg:
            tasks = {
                n: tg.create_task(asyncio.to_thread(self._start_node, state, n))
                for n in state.nodes
            }
        state.engine_pids = {n: t.result() for n, t in tasks.items()}

    def _start_shoalds(self, state: LabState) -> None:
        for node in state.nodes:
            state.shoald_pids[node] = shoald.start(node, self.paths(node), state.node_address(node))
            state.save(self.state_dir)

    def _start_node(self, state: LabState, node: str) -> int:
        paths = self.paths(node)
        paths.root.mkdir(parents=True, exist_ok=True)
        network.create_node(state.subnet, node)
        engine.make_uts(paths, node)
        return engine.start(node, paths, state.registry_address())

    def _refuse_if_up(self) -> None:
        self._refuse_if_another_lab_owns_the_host()
        state = LabState.load(self.state_dir)
        if state is not None and netns_exists(SWITCH_NETNS) and _alive(state):
            raise LabError(
                f"a lab of {len(state.nodes)} nodes is already up; run 'shoal-lab down' first"
            )

    def _refuse_if_another_lab_owns_the_host(self) -> None:
        """Namespace names are fixed, so one lab runs per host: never tear down a live lab
        that another state dir started."""
        try:
            owner = Path(OWNER_FILE.read_text().strip())
        except OSError:
            return
        other = LabState.load(owner) if owner != self.state_dir else None
        if other is not None and _alive(other):
            raise LabError(
                f"another lab is up on this host (state dir {owner}); run "
                f"'shoal-lab --state-dir {owner} down' first"
            )

    def down(self) -> list[str]:
        self._refuse_if_another_lab_owns_the_host()
        state = LabState.load(self.state_dir)
        if state is not None:
            for pid in state.shoald_pids.values():
                engine.stop(pid)
            for node, pid in state.engine_pids.items():
                if engine.alive(pid):
                    self._remove_containers(node)
            for pid in [
                *state.engine_pids.values(),
                state.registry_pid,
            ]:
                engine.stop(pid)
        removed = cleanup.remove_everything(self.state_dir)
        OWNER_FILE.unlink(missing_ok=True)
        return removed

    def _remove_containers(self, node: str) -> None:
        docker = images.docker(self.paths(node).docker_sock)
        ids = run([*docker, "ps", "-aq"], check=False).split()
        if ids:
            run([*docker, "rm", "-f", *ids], check=False)

    # node processes

    def kill(self, node: str) -> int:
        """SIGKILL the node's shoald, like a crash."""
        state = self.state()
        state.check_node(node)
        pid = state.shoald_pids.get(node, 0)
        if not engine.alive(pid):
            raise LabError(f"{node} runs no shoald to kill; start it with 'shoal-lab start {node}'")
        os.kill(pid, signal.SIGKILL)
        return pid

    def start(self, node: str) -> list[str]:
        """Start whatever of the node's processes is not running; say what was started."""
        state = self.state()
        state.check_node(node)
        started = []
        if not engine.alive(state.engine_pids.get(node, 0)):
            state.engine_pids[node] = engine.start(node, self.paths(node), state.registry_address())
            started.append(f"dockerd (pid {state.engine_pids[node]})")
            state.save(self.state_dir)
        if not engine.alive(state.shoald_pids.get(node, 0)):
            paths = self.paths(node)
            state.shoald_pids[node] = shoald.start(node, paths, state.node_address(node))
            started.append(f"shoald (pid {state.shoald_pids[node]})")
        state.save(self.state_dir)
        return started

    # network

    def partition(self, nodes: list[str]) -> list[list[str]]:
        state = self.state()
        for node in nodes:
            state.check_node(node)
        group = sorted(set(nodes), key=nodes.index)
        others = [[n for n in g if n not in group] for g in state.partitions]
        state.partitions = [g for g in others if g] + [group]
        network.apply_partitions(state.partitions)
        state.save(self.state_dir)
        return state.partitions

    def heal(self) -> None:
        state = self.state()
        state.partitions = []
        network.apply_partitions([])
        state.save(self.state_dir)

    # inspection

    def exec_argv(self, node: str, cmd: list[str]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment that run `cmd` inside the node, pointed at its daemons."""
        state = self.state()
        state.check_node(node)
        if not cmd:
            raise LabError("nothing to run; usage: shoal-lab exec NODE -- CMD...")
        paths = self.paths(node)
        argv = [str(a) for a in in_netns(f"shoal-{node}", [f"--uts={paths.uts}", *cmd])]
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{paths.docker_sock}",
            "SHOAL_HOST": f"unix://{paths.shoald_sock}",
        }
        return argv, env

    def status(self) -> tuple[LabState, list[NodeStatus]]:
        state = self.state()
        rows = []
        for node in state.nodes:
            pid = state.engine_pids.get(node, 0)
            up = engine.alive(pid) and engine.ping(self.paths(node).docker_sock)
            spid = state.shoald_pids.get(node, 0)
            group = next((i + 1 for i, g in enumerate(state.partitions) if node in g), 0)
            rows.append(
                NodeStatus(
                    name=node,
                    address=state.node_address(node),
                    engine=f"running (pid {pid})" if up else "down",
                    shoald=f"running (pid {spid})" if engine.alive(spid) else "not running",
                    partition=f"partition {group}" if group else "-",
                )
            )
        return state, rows


OWNER_FILE = Path("/run/shoal-lab.owner")  # the state dir of the lab that holds the namespaces


def _alive(state: LabState) -> bool:
    pids = [state.registry_pid, *state.engine_pids.values(), *state.shoald_pids.values()]
    return any(engine.alive(p) for p in pids)
