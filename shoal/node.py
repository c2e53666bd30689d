"""The node: what one shoald runs, composed from the manager and worker parts.

    Node.run()
      local socket (0600): Swarm (init/join/leave/info) + Control (LocalControl)
      in no swarm ........ nothing else; Control answers FAILED_PRECONDITION
      in a swarm ......... Membership: Manager (role manager) + worker side (always)

    Swarm.Init   root CA, tokens, own certificate ─▶ Manager(bootstrap) ─▶ Cluster + Node objects
    Swarm.Join   root CA from HOST:PORT+1, checked against the token ─▶ IssueNodeCertificate
                 ─▶ manager: Manager(empty) + RaftMembership.Join on the cluster port
    Swarm.Leave  quorum check ─▶ (leader: transfer) ─▶ RaftMembership.Leave ─▶ stop ─▶ wipe
    restart      state.json present ─▶ same node, same role, rejoins by itself

See docs/design/node.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import random
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from manager.allocator import ingress_network
from manager.ca import (
    MANAGER_ROLE,
    CAError,
    JoinTokens,
    NodeCredentials,
    channel_credentials,
    channel_options,
    create_root_ca,
    fetch_presented_root,
    join_channel_options,
    make_csr,
    new_node_key,
    parse_join_token,
    verify_presented_root,
)
from manager.ca.renewal import CertificateRenewer
from manager.ca.service import new_node
from manager.controlapi.forward import (
    NO_LEADER_MESSAGE,
    NOT_IN_SWARM_MESSAGE,
    WORKER_MESSAGE,
    ForwardingControl,
    LocalControl,
)
from manager.manager import ControlFactory, Manager, ManagerConfig, join_port_addr, new_raft_id
from manager.raft import LoopClock
from manager.store import (
    CAConfig,
    Cluster,
    ClusterSpec,
    DispatcherConfig,
    ManagerStatus,
    NodeRole,
    OrchestrationConfig,
    RaftConfig,
    Reachability,
    RootCA,
    new_id,
)
from manager.store import JoinTokens as StoreJoinTokens
from manager.store import Node as StoreNode
from proto import control_pb2, control_pb2_grpc, node_pb2, node_pb2_grpc
from shoal.nodestate import DataDir
from shoal.nodestate import NodeState as SavedState
from worker.agent import Agent
from worker.describe import NodeDescriber, docker_info
from worker.logs import WithLogs, docker_log_agent
from worker.networks import NodeNetworks, NoNetworks
from worker.tasks import docker_task_manager

log = logging.getLogger("shoal.node")

DEFAULT_PORT = 2377
JOIN_TIMEOUT = 60.0
ALREADY_IN_SWARM = (
    'This node is already part of a swarm. Use "shoal swarm leave" to leave this swarm and '
    "join another one."
)
NOT_IN_SWARM = "This node is not part of a swarm"


class SwarmError(Exception):
    """A Swarm API refusal: the status code and the one-line message the user reads."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NodeOptions:
    data_dir: Path
    socket: Path
    listen_addr: str = f"0.0.0.0:{DEFAULT_PORT}"
    advertise_addr: str = ""
    engine_socket: str = "/var/run/docker.sock"
    raft_tick: float = 1.0
    hostname: str = ""
    # False: containers stay in network mode none and the node makes no bridge, namespace or
    # rule (for a node run inside a test process, in the test host's own namespace)
    overlay: bool = True


# -- addresses ---------------------------------------------------------------------------------


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """ "host[:port]" -> (host, port); "[v6]:port" too."""
    addr = addr.strip()
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    if not port.isdigit() or not 0 < int(port) < 65535:
        raise SwarmError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid port in address {addr!r}")
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def route_source(toward: str) -> str:
    """The local address the kernel would use to reach `toward` (no packet is sent)."""
    with socket.socket(
        socket.AF_INET6 if ":" in toward else socket.AF_INET, socket.SOCK_DGRAM
    ) as s:
        s.connect((toward, 9))
        return str(s.getsockname()[0])


def choose_advertise(advertise: str, listen: str, toward: str | None) -> str:
    """host:port others reach this node's cluster port at (Docker's rules, simplified):
    the given address, else the listen address if specific, else the source address of the
    route to the manager (join) or of the default route (init)."""
    _, listen_port = split_addr(listen)
    if advertise:
        host, port = split_addr(advertise, listen_port)
        return join_host_port(host, port)
    listen_host, _ = split_addr(listen)
    if listen_host not in ("0.0.0.0", "::", ""):
        return join_host_port(listen_host, listen_port)
    try:
        return join_host_port(route_source(toward or "8.8.8.8"), listen_port)
    except OSError:
        raise SwarmError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "could not choose an IP address to advertise since this system has no route to "
            "the outside; specify one with --advertise-addr",
        ) from None


def check_ports_free(listen: str) -> None:
    """SwarmError unless the cluster port and the join port after it can be bound."""
    host, port = split_addr(listen)
    for p in (port, port + 1):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, p))
            except OSError as e:
                raise SwarmError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"cannot listen on {join_host_port(host, p)} ({e.strerror}): the cluster "
                    f"port {port} and the join port {port + 1} must be free; choose another "
                    "with --listen-addr",
                ) from None


# -- the node ----------------------------------------------------------------------------------


class Membership:
    """What runs while the node is in a swarm: the worker side on every node (the Agent's
    heartbeats, the CertificateRenewer) and the Manager when the role is manager. The manager
    can be started and stopped while it runs (promotion, demotion)."""

    def __init__(
        self,
        state: SavedState,
        manager: Manager | None,
        *,
        agent: Agent | None,
        renewer: CertificateRenewer | None,
    ) -> None:
        self.state = state
        self.manager = manager
        self.agent = agent
        self.renewer = renewer
        self._stopping = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._manager_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            if self.manager is not None:
                self._manager_task = tg.create_task(self.manager.run())
            if self.agent is not None:
                tg.create_task(self.agent.run())
            if self.renewer is not None:
                tg.create_task(self.renewer.run())
            await self._stopping.wait()
            self._tg = None
            if self.agent is not None:
                await self.agent.stop()
            if self.renewer is not None:
                await self.renewer.stop()
            await self.stop_manager()

    def start_manager(self, manager: Manager) -> None:
        assert self._tg is not None and self.manager is None
        self.manager = manager
        self._manager_task = self._tg.create_task(manager.run())

    async def stop_manager(self) -> None:
        manager, task = self.manager, self._manager_task
        self.manager, self._manager_task = None, None
        if manager is not None:
            await manager.stop()
        if task is not None:
            await task

    async def stop(self) -> None:
        self._stopping.set()


class Node:
    def __init__(
        self,
        options: NodeOptions,
        *,
        control_factory: ControlFactory | None = None,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.options = options
        self.data = DataDir(options.data_dir)
        self._control_factory = control_factory
        self._utcnow = utcnow
        self._hostname = options.hostname or socket.gethostname()
        self._membership: Membership | None = None
        self._creds: NodeCredentials | None = None
        self._networks: NodeNetworks | None = None  # the overlay agent of the task session
        self._membership_task: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # one init/join/leave at a time
        self.server: grpc.aio.Server | None = None

    @property
    def state(self) -> SavedState | None:
        return self._membership.state if self._membership else None

    @property
    def manager(self) -> Manager | None:
        return self._membership.manager if self._membership else None

    def _log_extra(self) -> dict[str, Any]:
        return {"node_id": self.state.node_id if self.state else ""}

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        self.data.ensure()
        saved = self.data.load_state()
        await self._serve_local()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                if saved is not None:
                    log.info(
                        "restarting as %s of cluster %s",
                        saved.role,
                        saved.cluster_id,
                        extra={"node_id": saved.node_id},
                    )
                    await self._start_membership(saved, bootstrap=False)
                    if self.manager is not None and self.manager.fresh:
                        tg.create_task(self._rejoin_raft(saved))
                await self._stopping.wait()
                await self._stop_membership()
        finally:
            self._tg = None
            if self.server is not None:
                await self.server.stop(grace=1.0)
            with contextlib.suppress(OSError):
                self.options.socket.unlink()

    async def stop(self) -> None:
        self._stopping.set()

    async def _serve_local(self) -> None:
        path = self.options.socket
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise OSError(f"{path} exists and is not a socket; remove it or choose --socket")
            path.unlink()  # left by a daemon that was killed
        server = grpc.aio.server()
        control_pb2_grpc.add_SwarmServicer_to_server(SwarmServicer(self), server)  # type: ignore[no-untyped-call]
        control_pb2_grpc.add_ControlServicer_to_server(LocalControl(self._control_target), server)  # type: ignore[no-untyped-call]
        old = os.umask(0o177)  # the socket is created 0600
        try:
            server.add_insecure_port(f"unix:{path}")
            await server.start()
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.server = server

    def _control_target(self) -> ForwardingControl | str:
        if self._membership is None:
            return NOT_IN_SWARM_MESSAGE
        manager = self._membership.manager
        if manager is None:
            return WORKER_MESSAGE
        if manager.control is None:
            return "this shoald was built without the control API"
        return manager.control

    def _new_manager(self, state: SavedState, *, bootstrap: bool) -> Manager:
        return Manager(
            ManagerConfig(
                raft_dir=self.data.raft_dir,
                data_key=self.data.data_key(create=False),
                cluster_id=state.cluster_id,
                node_id=state.node_id,
                raft_id=state.raft_id,
                listen_addr=state.listen_addr,
                advertise_addr=state.advertise_addr,
                peers=state.raft_members,
                bootstrap=bootstrap,
                tick=self.options.raft_tick,
            ),
            self._creds or self.data.certificates.load(),
            control_factory=self._control_factory,
            on_members=self._members_changed,
            utcnow=self._utcnow,
        )

    async def _start_membership(self, state: SavedState, *, bootstrap: bool) -> None:
        assert self._tg is not None
        self._creds = self.data.certificates.load()
        manager = None
        if state.is_manager:
            manager = self._new_manager(state, bootstrap=bootstrap)
            await manager.start()
        membership = Membership(
            state,
            manager,
            agent=self._new_agent(state) if state.managers else None,
            renewer=CertificateRenewer(
                store=self.data.certificates,
                renew=self._renew,
                clock=LoopClock(),
                rng=random.Random(),
                on_renewed=self._renewed,
            ),
        )
        self._membership = membership
        self._membership_task = self._tg.create_task(self._run_membership(membership))

    # -- the worker side ---------------------------------------------------------------------

    def connect(self, addr: str) -> grpc.aio.Channel:
        """Mutual TLS to a manager's cluster port with this node's current certificate."""
        creds = self._creds or self.data.certificates.load()
        return grpc.aio.secure_channel(
            addr, channel_credentials(creds.root_ca_pem, creds), options=channel_options()
        )

    def _new_agent(self, state: SavedState) -> Agent:
        return Agent(
            node_id=state.node_id,
            managers=list(state.managers),
            connect=self.connect,
            describe=NodeDescriber(
                docker_info(self.options.engine_socket), hostname=lambda: self._hostname
            ),
            clock=LoopClock(),
            on_managers=self._managers_seen,
            on_desired_role=self._change_role,
            role=state.role,
            addr=split_addr(state.advertise_addr)[0],
            tasks=self._task_session(state),
        )

    def _task_session(self, state: SavedState) -> WithLogs:
        """The node's tasks (Docker) on the overlay (the NetworkAgent: started by the task
        manager with the first network views, closed when it stops, `leave()` on swarm leave)
        and the answers to `service logs` subscriptions."""
        # The kernel side (pyroute2, nft) is loaded only by a node that is in a swarm.
        from overlay_net.agent import NetworkAgent, NetworkUnavailable

        networks: NodeNetworks = NoNetworks()
        if self.options.overlay:
            networks = NetworkAgent(
                node_id=state.node_id,
                node_addr=split_addr(state.advertise_addr)[0],
                run_dir=self._run_dir,
            )
        self._networks = networks
        tasks = docker_task_manager(
            node_id=state.node_id,
            engine_socket=self.options.engine_socket,
            data_dir=self.options.data_dir,
            hostname=self._hostname,
            clock=LoopClock(),
            networks=networks,
            network_retry=(NetworkUnavailable,),
        )
        logs, close = docker_log_agent(
            node_id=state.node_id,
            engine_socket=self.options.engine_socket,
            tasks=lambda: tasks.tasks,
            clock=LoopClock(),
        )
        return WithLogs(tasks, logs, close)

    @property
    def _run_dir(self) -> Path:
        """Where the overlay keeps its namespace mounts and address table."""
        return self.options.data_dir / "run"

    async def _leave_networks(self) -> None:
        """Remove every namespace, link and rule the overlay made, before the data dir goes
        (the task session has stopped: nothing attaches meanwhile). Nothing under the run
        dir means nothing was made."""
        networks, self._networks = self._networks, None
        if networks is None or not self._run_dir.exists():
            return
        try:
            await networks.leave()
        except Exception as e:  # the node leaves anyway; say what is left behind
            log.warning(
                "removing the overlay networks failed: %s; remove the namespaces under %s and "
                "the shoal_gwbridge link by hand",
                e,
                self._run_dir / "netns",
                extra=self._log_extra(),
            )

    def _managers_seen(self, managers: list[str]) -> None:
        membership = self._membership
        if membership is None or membership.state.is_manager or not managers:
            return  # a manager keeps its list from Raft
        if tuple(sorted(managers)) != membership.state.managers:
            membership.state = replace(membership.state, managers=tuple(sorted(managers)))
            self.data.save_state(membership.state)

    async def _renew(self, csr: bytes) -> tuple[bytes, bytes]:
        membership = self._membership
        managers = list(membership.state.managers) if membership else []
        last: Exception | None = None
        for addr in managers:
            async with self.connect(addr) as channel:
                stub = node_pb2_grpc.NodeCAStub(channel)  # type: ignore[no-untyped-call]
                try:
                    response = await stub.RenewNodeCertificate(
                        node_pb2.RenewNodeCertificateRequest(csr=csr), timeout=15
                    )
                except grpc.aio.AioRpcError as e:
                    last = e
                    continue
            return response.certificate, response.root_ca
        raise ConnectionError(f"no manager renewed the certificate ({last})")

    async def _renewed(self, creds: NodeCredentials) -> None:
        self._creds = creds
        if self.manager is not None:
            # New connections use it; the listeners keep the old one until a restart.
            self.manager.credentials = creds
        log.info(
            "node certificate renewed (%s, until %s)",
            creds.identity.role,
            creds.cert.not_valid_after_utc.isoformat(),
            extra=self._log_extra(),
        )

    async def _change_role(self, role: str) -> None:
        """The agent saw a new desired role (node promote / demote)."""
        async with self._lock:
            membership = self._membership
            if membership is None or membership.state.role == role:
                return
            log.info("changing role to %s", role, extra=self._log_extra())
            if role == "manager":
                await self._promote(membership)
            else:
                await self._demote(membership)

    async def _promote(self, membership: Membership) -> None:
        assert membership.renewer is not None
        await membership.renewer.renew_now()
        if self.data.certificates.load().identity.role != MANAGER_ROLE:
            raise SwarmError(
                grpc.StatusCode.UNAVAILABLE, "the CA did not issue a manager certificate yet"
            )
        managers = list(membership.state.managers)
        members = await self._get_members(managers)
        self.data.data_key(create=True)
        state = replace(membership.state, role="manager", raft_id=new_raft_id()).with_members(
            members
        )
        membership.state = state
        manager = self._new_manager(state, bootstrap=False)
        await manager.start()
        membership.start_manager(manager)
        await self._join_raft(state, managers)
        self.data.save_state(membership.state)
        log.info("promoted to manager", extra=self._log_extra())

    async def _demote(self, membership: Membership) -> None:
        manager = membership.manager
        if manager is not None:
            raft_id = membership.state.raft_id
            # The leader's reconciler removes this member from Raft; leave once it has. A
            # removed member may never apply its own removal, so ask the other managers.
            others = [a for a in membership.state.managers if a != membership.state.advertise_addr]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    while raft_id in manager.members:
                        with contextlib.suppress(SwarmError):
                            if others and raft_id not in await self._get_members(others):
                                break
                        await asyncio.sleep(0.2)
            await membership.stop_manager()
        assert membership.renewer is not None
        membership.state = replace(membership.state, role="worker", raft_id=0, raft_members={})
        self.data.save_state(membership.state)
        self.data.drop_raft()
        await membership.renewer.renew_now()
        log.info("demoted to worker", extra=self._log_extra())

    async def _get_members(self, managers: list[str]) -> dict[int, str]:
        for addr in managers:
            async with self.connect(addr) as channel:
                stub = node_pb2_grpc.RaftMembershipStub(channel)  # type: ignore[no-untyped-call]
                try:
                    response = await stub.GetMembers(node_pb2.GetMembersRequest(), timeout=10)
                except grpc.aio.AioRpcError:
                    continue
            return dict(response.members)
        raise SwarmError(grpc.StatusCode.UNAVAILABLE, "no manager answered; retry")

    async def _run_membership(self, membership: Membership) -> None:
        try:
            await membership.run()
        except Exception:
            # A manager that cannot go on (its Raft storage failed) takes the daemon down:
            # restarting it (systemd, the lab) is the recovery.
            log.exception("the node's swarm membership failed", extra=self._log_extra())
            self._stopping.set()
            raise

    async def _stop_membership(self) -> None:
        membership, task = self._membership, self._membership_task
        self._membership, self._membership_task = None, None
        if membership is None:
            return
        await membership.stop()
        if task is not None:
            with contextlib.suppress(Exception):
                await task

    def _members_changed(self, members: dict[int, str]) -> None:
        if self._membership is None:
            return
        state = self._membership.state.with_members(members)
        if state != self._membership.state:
            self._membership.state = state
            self.data.save_state(state)
            log.info(
                "raft members: %s",
                ", ".join(f"{k:x}={v}" for k, v in sorted(members.items())),
                extra=self._log_extra(),
            )

    # -- swarm init --------------------------------------------------------------------------

    async def init(self, request: control_pb2.InitRequest) -> control_pb2.InitResponse:
        async with self._lock:
            if self._membership is not None:
                raise SwarmError(grpc.StatusCode.FAILED_PRECONDITION, ALREADY_IN_SWARM)
            listen = self._listen(request.listen_addr)
            advertise = choose_advertise(
                request.advertise_addr or self.options.advertise_addr, listen, None
            )
            expiry = timedelta(seconds=request.cert_expiry_seconds or 90 * 24 * 3600)
            if expiry < timedelta(hours=1):
                raise SwarmError(
                    grpc.StatusCode.INVALID_ARGUMENT, "--cert-expiry must be at least 1h"
                )
            check_ports_free(listen)
            now = self._utcnow()
            cluster_id, node_id, raft_id = new_id(), new_id(), new_raft_id()
            root = create_root_ca(now)
            tokens = JoinTokens.generate(root.digest)
            key = new_node_key()
            cert = root.issue(
                make_csr(key),
                node_id=node_id,
                role=MANAGER_ROLE,
                cluster_id=cluster_id,
                now=now,
                validity=expiry,
            )
            self.data.certificates.save(NodeCredentials(key=key, cert=cert, root_ca=root.cert))
            self.data.data_key(create=True)
            state = SavedState(
                node_id=node_id,
                cluster_id=cluster_id,
                role="manager",
                listen_addr=listen,
                advertise_addr=advertise,
                raft_id=raft_id,
            ).with_members({raft_id: advertise})
            try:
                await self._start_membership(state, bootstrap=True)
                manager = self.manager
                assert manager is not None
                async with asyncio.timeout(30):
                    await manager.wait_leader()
                assert root.key is not None
                cluster = Cluster(
                    id=cluster_id,
                    spec=_cluster_spec(request, expiry),
                    root_ca=RootCA(
                        ca_cert=root.cert_pem,
                        ca_cert_hash="sha256:" + root.digest.hex(),
                        join_tokens=StoreJoinTokens(worker=tokens.worker, manager=tokens.manager),
                        ca_key=_key_pem(root.key),
                    ),
                    default_address_pool=tuple(request.default_addr_pool) or ("10.0.0.0/8",),
                    subnet_size=request.subnet_size or 24,
                    data_path_port=request.data_path_port or 4789,
                )
                node = new_node(
                    node_id,
                    MANAGER_ROLE,
                    hostname=self._hostname,
                    advertise_addr=advertise,
                    os=platform.system().lower(),
                    architecture=platform.machine(),
                )
                node = replace(
                    node,
                    manager_status=ManagerStatus(
                        raft_id=raft_id,
                        addr=advertise,
                        reachability=Reachability.REACHABLE,
                        leader=True,
                    ),
                )

                def create(tx: Any) -> None:
                    tx.create(cluster)
                    tx.create(node)
                    tx.create(ingress_network())  # like Docker's; the allocator gives it a subnet

                await manager.store.update(create)
            except BaseException:
                await self._stop_membership()
                self.data.wipe()
                raise
            self.data.save_state(state)
            log.info("swarm initialised: cluster %s", cluster_id, extra={"node_id": node_id})
            return control_pb2.InitResponse(node_id=node_id, cluster_id=cluster_id)

    def _listen(self, requested: str) -> str:
        host, port = split_addr(requested or self.options.listen_addr)
        return join_host_port(host or "0.0.0.0", port)

    # -- swarm join --------------------------------------------------------------------------

    async def join(self, request: control_pb2.JoinRequest) -> control_pb2.JoinResponse:
        async with self._lock:
            if self._membership is not None:
                raise SwarmError(grpc.StatusCode.FAILED_PRECONDITION, ALREADY_IN_SWARM)
            if not request.remote_addrs:
                raise SwarmError(grpc.StatusCode.INVALID_ARGUMENT, "give the address of a manager")
            host, port = split_addr(request.remote_addrs[0])
            remote = join_host_port(host, port)
            try:
                token = parse_join_token(request.token)
            except CAError as e:
                raise SwarmError(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
            listen = self._listen(request.listen_addr)
            advertise = choose_advertise(
                request.advertise_addr or self.options.advertise_addr, listen, host
            )
            # Nothing but a TLS ClientHello goes out before the root CA checks out.
            try:
                root = verify_presented_root(token, await fetch_presented_root(host, port + 1))
            except CAError as e:
                raise SwarmError(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
            check_ports_free(listen)  # before the cluster records a node that cannot start
            key = new_node_key()
            issued = await self._issue(remote, root.cert_pem, request.token, key, advertise, listen)
            creds = NodeCredentials(
                key=key,
                cert=_load_cert(issued.certificate),
                root_ca=root.cert,
            )
            self.data.certificates.save(creds)
            is_manager = issued.role == "manager"
            state = SavedState(
                node_id=issued.node_id,
                cluster_id=issued.cluster_id,
                role=issued.role,
                listen_addr=listen,
                advertise_addr=advertise,
                raft_id=new_raft_id() if is_manager else 0,
                managers=tuple(issued.managers),
                raft_members=dict(issued.raft_members),
            )
            try:
                if is_manager:
                    self.data.data_key(create=True)
                await self._start_membership(state, bootstrap=False)
                if is_manager:
                    await self._join_raft(state, [remote, *issued.managers])
            except BaseException:
                await self._stop_membership()
                self.data.wipe()
                raise
            self.data.save_state(self._membership.state if self._membership else state)
            log.info(
                "joined cluster %s as %s", state.cluster_id, state.role, extra=self._log_extra()
            )
            return control_pb2.JoinResponse(node_id=state.node_id, role=state.role)

    async def _issue(
        self,
        remote: str,
        root_pem: bytes,
        token: str,
        key: Any,
        advertise: str,
        listen: str,
    ) -> node_pb2.IssueNodeCertificateResponse:
        async with grpc.aio.secure_channel(
            join_port_addr(remote), channel_credentials(root_pem), options=join_channel_options()
        ) as channel:
            stub = node_pb2_grpc.NodeCAStub(channel)  # type: ignore[no-untyped-call]
            try:
                response: node_pb2.IssueNodeCertificateResponse = await stub.IssueNodeCertificate(
                    node_pb2.IssueNodeCertificateRequest(
                        token=token,
                        csr=make_csr(key),
                        hostname=self._hostname,
                        advertise_addr=advertise,
                        listen_addr=listen,
                        os=platform.system().lower(),
                        architecture=platform.machine(),
                    ),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as e:
                raise SwarmError(e.code(), e.details() or "the manager refused to join") from None
        return response

    async def _join_raft(self, state: SavedState, managers: list[str]) -> None:
        """Ask the cluster to add this manager to Raft: any manager forwards to the leader."""
        manager = self.manager
        assert manager is not None
        request = node_pb2.JoinRaftRequest(raft_id=state.raft_id, addr=state.advertise_addr)
        last: grpc.aio.AioRpcError | None = None
        async with asyncio.timeout(JOIN_TIMEOUT):
            while True:
                for addr in dict.fromkeys(managers):
                    async with manager.connect(addr) as channel:
                        stub = node_pb2_grpc.RaftMembershipStub(channel)  # type: ignore[no-untyped-call]
                        try:
                            response = await stub.Join(request, timeout=JOIN_TIMEOUT)
                        except grpc.aio.AioRpcError as e:
                            last = e
                            if e.code() not in (
                                grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED,
                            ):
                                raise SwarmError(e.code(), e.details() or "") from None
                            continue
                    self._members_changed(dict(response.members))
                    return
                if last is not None and last.details() == NO_LEADER_MESSAGE:
                    raise SwarmError(grpc.StatusCode.UNAVAILABLE, NO_LEADER_MESSAGE)
                await asyncio.sleep(0.5)

    async def _rejoin_raft(self, state: SavedState) -> None:
        # A manager that stopped after getting its certificate but before Raft took it in.
        try:
            await self._join_raft(state, list(state.managers))
        except (SwarmError, TimeoutError) as e:
            log.error("could not join Raft: %s", e, extra=self._log_extra())

    # -- swarm leave -------------------------------------------------------------------------

    async def leave(self, force: bool) -> None:
        async with self._lock:
            membership = self._membership
            if membership is None:
                raise SwarmError(grpc.StatusCode.FAILED_PRECONDITION, NOT_IN_SWARM)
            manager = membership.manager
            if manager is not None:
                if not force:
                    refusal = leave_refusal(*self._manager_counts(manager))
                    if refusal:
                        raise SwarmError(grpc.StatusCode.FAILED_PRECONDITION, refusal)
                try:
                    await self._leave_raft(manager, membership.state.raft_id)
                except (SwarmError, TimeoutError, grpc.aio.AioRpcError) as e:
                    if not force:
                        raise SwarmError(
                            grpc.StatusCode.UNAVAILABLE,
                            f"could not leave the Raft cluster ({e}); retry, or use --force",
                        ) from None
                    log.warning("leaving without Raft removal: %s", e, extra=self._log_extra())
            node_id = membership.state.node_id
            await self._stop_membership()
            await self._leave_networks()
            self.data.wipe()
            log.info("left the swarm", extra={"node_id": node_id})

    def _manager_counts(self, manager: Manager) -> tuple[int, int]:
        """(reachable, unreachable) managers, this one included, from Raft's membership and
        the reachability the store records."""
        members = manager.members
        unreachable = 0
        for node in manager.store.view().all(StoreNode):
            status = node.manager_status
            if (
                status is not None
                and status.raft_id in members
                and status.raft_id != manager.config.raft_id
                and status.reachability is Reachability.UNREACHABLE
            ):
                unreachable += 1
        return len(members) - unreachable, unreachable

    async def _leave_raft(self, manager: Manager, raft_id: int) -> None:
        members = manager.members
        if set(members) <= {raft_id}:
            return  # the last manager: nothing to hand over
        async with asyncio.timeout(20):
            if manager.is_leader:
                others = [m for m in members if m != raft_id]
                await manager.driver.transfer_leadership(others[0])
            request = node_pb2.LeaveRaftRequest(raft_id=raft_id)
            while True:
                leader = await manager.wait_leader()
                addr = manager.members.get(leader)
                if addr and leader != raft_id:
                    async with manager.connect(addr) as channel:
                        stub = node_pb2_grpc.RaftMembershipStub(channel)  # type: ignore[no-untyped-call]
                        try:
                            await stub.Leave(request, timeout=15)
                            return
                        except grpc.aio.AioRpcError as e:
                            if e.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                await asyncio.sleep(0.2)

    # -- swarm info --------------------------------------------------------------------------

    def info(self) -> control_pb2.InfoResponse:
        state = self.state
        if state is None:
            return control_pb2.InfoResponse(local_node_state="inactive")
        response = control_pb2.InfoResponse(
            local_node_state="active",
            node_id=state.node_id,
            node_addr=split_addr(state.advertise_addr)[0],
            cluster_id=state.cluster_id,
            control_available=state.is_manager,
            remote_managers=list(state.managers),
        )
        manager = self.manager
        if manager is not None:
            view = manager.store.view()
            nodes = view.all(StoreNode)
            response.nodes = len(nodes)
            response.managers = sum(1 for n in nodes if n.role is NodeRole.MANAGER)
            response.remote_managers[:] = sorted(set(manager.members.values()))
            if not manager.driver.leader:
                response.error = NO_LEADER_MESSAGE
        return response


def leave_refusal(reachable: int, unreachable: int) -> str:
    """Docker's refusal for a manager whose leaving would cost the swarm its Raft quorum
    ("" when leaving is safe). Counts include the leaving manager."""
    head = "You are attempting to leave the swarm on a node that is participating as a manager. "
    if reachable + unreachable <= 1:
        return (
            head + "Removing the last manager erases all current state of the swarm. "
            "Use `--force` to ignore this message."
        )
    if reachable - 1 <= unreachable:
        return (
            head + f"Removing this node leaves {reachable - 1} managers out of "
            f"{reachable + unreachable}. Without a Raft quorum your swarm will be inaccessible. "
            "Use `--force` to suppress this message."
        )
    return ""


def _cluster_spec(request: control_pb2.InitRequest, expiry: timedelta) -> ClusterSpec:
    return ClusterSpec(
        orchestration=OrchestrationConfig(
            task_history_retention_limit=request.task_history_limit or 5
        ),
        raft=RaftConfig(snapshot_interval=request.snapshot_interval or 10_000),
        dispatcher=DispatcherConfig(
            heartbeat_period=timedelta(seconds=request.dispatcher_heartbeat_seconds or 5)
        ),
        ca_config=CAConfig(node_cert_expiry=expiry),
    )


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem


def _load_cert(pem: bytes) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


# -- the Swarm service (local socket) ----------------------------------------------------------


class SwarmServicer(control_pb2_grpc.SwarmServicer):
    """Thin: decode, call the node, encode; SwarmError becomes the status the CLI prints."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def Init(
        self, request: control_pb2.InitRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.InitResponse:
        response: control_pb2.InitResponse = await self._call(context, self._node.init(request))
        return response

    async def Join(
        self, request: control_pb2.JoinRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.JoinResponse:
        response: control_pb2.JoinResponse = await self._call(context, self._node.join(request))
        return response

    async def Leave(
        self, request: control_pb2.LeaveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        await self._call(context, self._node.leave(request.force))
        return control_pb2.Empty()

    async def Info(
        self, request: control_pb2.InfoRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.InfoResponse:
        return self._node.info()

    async def _call(self, context: grpc.aio.ServicerContext, work: Any) -> Any:
        try:
            return await work
        except SwarmError as e:
            await context.abort(e.code, e.message)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "timed out; check that the managers are reachable and more than half are online",
            )
        except (OSError, CAError) as e:
            log.warning("swarm request failed: %s", e)
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
