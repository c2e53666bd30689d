"""The manager runtime: Raft, the replicated store, and the manager's gRPC servers.

    Storage.open(<data>/raft, cipher=AES-GCM) ─▶ RaftNode (bootstrap | empty | restored)
        ─▶ RaftDriver(state machine = Store) ─▶ GrpcTransport (mutual TLS, peers = members)
    Store ◀── RaftProposer(driver)

    cluster port (mutual TLS)            join port = cluster port + 1 (server TLS only)
      Raft            managers             NodeCA.GetRootCACertificate    anyone
      Control         managers (forwarding wrapper: a follower forwards writes to the leader)
      RaftMembership  managers             NodeCA.IssueNodeCertificate    anyone with a token
      NodeCA.Issue/GetRoot (forwarded joins), NodeCA.Renew (any node)
      Dispatcher      any node (heartbeats; a follower redirects to the leader)

    while this manager leads: Dispatcher.run (nodes Down after missed heartbeats),
    MembershipReconciler.run (reachability, leader flag, promote/demote), the assignment
    streams and task status intake, the log broker (`service logs`; a follower relays the
    leader's stream), the orchestrators, the allocator (networks, addresses, published ports:
    before the scheduler places a task that needs them) and the scheduler

Every RPC on both ports goes through manager.ca's AuthorizationInterceptor with the table in
`authorization_policy()`; a node listed in the Cluster object's `removed_nodes` is refused.
`run()` owns everything in one TaskGroup; `stop()` ends it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from manager.allocator import Allocator, host_routes
from manager.ca import (
    RAFT_SERVICE,
    AESGCMCipher,
    AuthorizationInterceptor,
    AuthorizationPolicy,
    Authorizer,
    NodeCredentials,
    RootCA,
    channel_credentials,
    channel_options,
    join_server_credentials,
    server_credentials,
)
from manager.ca.service import (
    GET_ROOT_METHOD,
    ISSUE_METHOD,
    RAFT_MEMBERSHIP_SERVICE,
    RENEW_METHOD,
    NodeCAServicer,
    RaftMembershipServicer,
)
from manager.controlapi.forward import ForwardingControl, LeaderLink
from manager.dispatcher import (
    DISPATCHER_SERVICE,
    AssignmentDispatcher,
    Dispatcher,
    DispatcherServicer,
    TaskStatusIntake,
)
from manager.dispatcher import add_to_server as add_dispatcher
from manager.logbroker import LogBroker
from manager.logbroker_wire import service_logs
from manager.membership import MembershipReconciler
from manager.orchestrator import (
    ConstraintEnforcer,
    GlobalOrchestrator,
    JobsOrchestrator,
    ReplicatedOrchestrator,
    RestartSupervisor,
    TaskReaper,
    WallClock,
)
from manager.raft import Config, DriverOptions, LoopClock, RaftDriver, RaftNode, Storage
from manager.raft.transport import GrpcTransport
from manager.raft.types import ConfState, HardState
from manager.scheduler import Scheduler
from manager.store import Cluster, RaftProposer, Store
from proto import control_pb2, control_pb2_grpc, node_pb2_grpc

log = logging.getLogger(__name__)

CONTROL_SERVICE = "shoal.control.Control"
MAX_MESSAGE_BYTES = 64 << 20
_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]
_SERVER_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),
]

# The leader's reconcilers (docs/design/orchestrator.md), started on every term as leader.
_ORCHESTRATORS = (
    ReplicatedOrchestrator,
    GlobalOrchestrator,
    JobsOrchestrator,
    RestartSupervisor,
    TaskReaper,
    ConstraintEnforcer,
)

ControlFactory = Callable[[Store], Any]
Extension = Callable[["Manager", grpc.aio.Server], None]


def authorization_policy() -> AuthorizationPolicy:
    """Who may call what on the manager's ports (fail closed: anything else is refused)."""
    return AuthorizationPolicy.build(
        managers=[RAFT_SERVICE, CONTROL_SERVICE, RAFT_MEMBERSHIP_SERVICE],
        any_node=[RENEW_METHOD, DISPATCHER_SERVICE],
        unauthenticated=[ISSUE_METHOD, GET_ROOT_METHOD],
    )


def join_port_addr(addr: str) -> str:
    """The join listener of a cluster address: same host, port + 1."""
    host, _, port = addr.rpartition(":")
    return f"{host}:{int(port) + 1}"


def new_raft_id(rng: random.Random | None = None) -> int:
    """A random positive 63-bit Raft id."""
    return (rng or random.SystemRandom()).randrange(1, 1 << 63)


@dataclass(frozen=True)
class ManagerConfig:
    raft_dir: Path
    data_key: bytes
    cluster_id: str
    node_id: str
    raft_id: int
    listen_addr: str  # host:port of the cluster port (the join port is port + 1)
    advertise_addr: str
    peers: Mapping[int, str] = field(default_factory=dict)  # known raft id -> addr
    bootstrap: bool = False  # swarm init: a new one-member Raft cluster
    tick: float = 1.0
    election_tick: int = 10
    snapshot_interval: int = 10_000


class Manager:
    def __init__(
        self,
        config: ManagerConfig,
        credentials: NodeCredentials,
        *,
        control_factory: ControlFactory | None = None,
        extensions: tuple[Extension, ...] = (),
        on_members: Callable[[dict[int, str]], None] = lambda _m: None,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.credentials = credentials
        self._control_factory = control_factory
        self._extensions = extensions
        self._on_members = on_members
        self._utcnow = utcnow
        self._stopping = asyncio.Event()
        self._started = False
        self.fresh = False  # an empty Raft log that is not a bootstrap: must join Raft
        self.control: ForwardingControl | None = None

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        storage, restored = Storage.open(
            cfg.raft_dir,
            cluster_id=cfg.cluster_id,
            node_id=cfg.raft_id,
            cipher=AESGCMCipher(cfg.data_key),
        )
        self.storage = storage
        empty = (
            restored.hard_state == HardState()
            and not restored.entries
            and restored.snapshot is None
        )
        raft_config = Config(
            id=cfg.raft_id, election_tick=cfg.election_tick, seed=random.randrange(1 << 30)
        )
        if empty and cfg.bootstrap:
            core = RaftNode(raft_config, bootstrap=ConfState(voters=frozenset({cfg.raft_id})))
            core.campaign()  # the only voter: lead at once instead of after an election timeout
        else:
            self.fresh = empty
            core = RaftNode(
                raft_config,
                hard_state=restored.hard_state,
                snapshot=restored.snapshot,
                entries=restored.entries,
            )
        self.store = Store()
        self.cluster_server = grpc.aio.server(
            interceptors=[AuthorizationInterceptor(self._authorizer(), self._utcnow)],
            options=_SERVER_OPTIONS,
        )
        self.join_server = grpc.aio.server(
            interceptors=[AuthorizationInterceptor(self._authorizer(), self._utcnow)],
            options=_SERVER_OPTIONS,
        )
        # Raft is served by the cluster-port server, behind its authorization interceptor; peers
        # are dialed with mutual TLS and checked by role name, not by address.
        self.transport = GrpcTransport(
            node_id=cfg.raft_id,
            cluster_id=cfg.cluster_id,
            listen="",
            shared_server=self.cluster_server,
            channel_credentials=channel_credentials(self.credentials.root_ca_pem, self.credentials),
            channel_options=channel_options(),
        )
        peers = dict(cfg.peers)
        peers[cfg.raft_id] = cfg.advertise_addr
        self.driver = RaftDriver(
            core,
            storage,
            self.transport,
            self.store,
            peers=peers,
            snapshot=restored.snapshot,
            options=DriverOptions(tick_interval=cfg.tick, snapshot_interval=cfg.snapshot_interval),
        )
        self.store.attach(RaftProposer(self.driver))
        self.link = LeaderLink(self.driver, connect=self.connect)
        ca = NodeCAServicer(
            store=self.store,
            raft=self.driver,
            link=self.link,
            root_ca_pem=lambda: self.credentials.root_ca_pem,
            clock=self._utcnow,
        )
        membership = RaftMembershipServicer(store=self.store, raft=self.driver, link=self.link)
        node_pb2_grpc.add_NodeCAServicer_to_server(ca, self.cluster_server)  # type: ignore[no-untyped-call]
        node_pb2_grpc.add_NodeCAServicer_to_server(ca, self.join_server)  # type: ignore[no-untyped-call]
        node_pb2_grpc.add_RaftMembershipServicer_to_server(membership, self.cluster_server)  # type: ignore[no-untyped-call]
        self.log_broker = LogBroker(LoopClock())
        if self._control_factory is not None:
            self.control = ForwardingControl(
                self._control_factory(self.store), self.link, logs=self._service_logs
            )
            control_pb2_grpc.add_ControlServicer_to_server(self.control, self.cluster_server)  # type: ignore[no-untyped-call]
        clock = LoopClock()
        self.dispatcher = Dispatcher(self.store, clock, is_leader=lambda: self.is_leader)
        self.assignments = AssignmentDispatcher(self.store)
        self.task_status = TaskStatusIntake(self.store)
        add_dispatcher(
            DispatcherServicer(
                self.dispatcher,
                leader_addr=self.link.leader_addr,
                managers=lambda: sorted(set(self.driver.members.values())),
                assignments=self.assignments,
                task_status=self.task_status,
                logs=self.log_broker,
            ),
            self.cluster_server,
        )
        self.reconciler = MembershipReconciler(
            self.store, self.driver, clock=clock, poll_interval=max(cfg.tick, 0.1)
        )
        for extend in self._extensions:
            extend(self, self.cluster_server)

    def _service_logs(
        self, request: control_pb2.ServiceLogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[control_pb2.ServiceLogsMessage]:
        return service_logs(self.log_broker, self.store, request, context)

    def _authorizer(self) -> Authorizer:
        return Authorizer(
            root_ca=RootCA(cert=self.credentials.root_ca),
            cluster_id=self.config.cluster_id,
            policy=authorization_policy(),
            is_removed=self.is_removed,
        )

    def is_removed(self, node_id: str) -> bool:
        cluster = self.store.view().cluster()
        return cluster is not None and node_id in cluster.removed_nodes

    def connect(self, addr: str) -> grpc.aio.Channel:
        """A mutual-TLS channel to another manager's cluster port, as this manager."""
        creds = channel_credentials(self.credentials.root_ca_pem, self.credentials)
        return grpc.aio.secure_channel(addr, creds, options=[*channel_options(), *_KEEPALIVE])

    # -- what the node sees ------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._started and self.driver.leader == self.driver.node_id

    @property
    def members(self) -> dict[int, str]:
        return self.driver.members

    def cluster(self) -> Cluster | None:
        return self.store.view().cluster()

    async def wait_leader(self) -> int:
        """The leader's raft id once one is known (bound it with asyncio.timeout)."""
        while not self.driver.leader:  # noqa: ASYNC110 - the driver has no leader event
            await asyncio.sleep(0.02)
        return self.driver.leader

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the Raft data and bind both ports (errors here are the caller's to report)."""
        self._build()
        try:
            cluster = self.cluster_server.add_secure_port(
                self.config.listen_addr, server_credentials(self.credentials)
            )
            join = self.join_server.add_secure_port(
                join_port_addr(self.config.listen_addr), join_server_credentials(self.credentials)
            )
        except RuntimeError as e:
            self.storage.close()
            raise OSError(
                f"cannot listen on {self.config.listen_addr} and the join port after it ({e}); "
                "is another shoald using them? Choose another port with --listen-addr"
            ) from None
        if not cluster or not join:
            self.storage.close()
            raise OSError(
                f"cannot listen on {self.config.listen_addr} and the join port after it; is "
                "another process using them? Choose another port with --listen-addr"
            )
        await self.cluster_server.start()
        await self.join_server.start()
        self._started = True

    async def run(self) -> None:
        if not self._started:
            await self.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.transport.run())
                driver = tg.create_task(self.driver.run())
                watcher = tg.create_task(self._watch_members())
                leading = tg.create_task(self._follow_leadership())
                stopping = tg.create_task(self._stopping.wait())
                await asyncio.wait({driver, stopping}, return_when=asyncio.FIRST_COMPLETED)
                leading.cancel()
                await self.driver.stop()
                await self.transport.stop()
                watcher.cancel()
                stopping.cancel()
        finally:
            await asyncio.gather(
                self.cluster_server.stop(grace=0.5), self.join_server.stop(grace=0.5)
            )
            await self.link.close()
            self.storage.close()
            self._started = False

    async def stop(self) -> None:
        self._stopping.set()

    async def _follow_leadership(self) -> None:
        """Run the leader-only components while this manager leads."""
        while True:
            while not self.is_leader:  # noqa: ASYNC110 - the driver has no role event
                await asyncio.sleep(0.05)
            log.info("this manager is the Raft leader", extra=self._log)
            # Fresh loops each term: a stopped ReconcileLoop does not run again.
            orchestrators = [cls(self.store, WallClock()) for cls in _ORCHESTRATORS]
            allocator = Allocator(self.store, LoopClock(), reserved=host_routes)
            scheduler = Scheduler(self.store, LoopClock(), manager_id=self.config.node_id)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.dispatcher.run())
                tg.create_task(self.reconciler.run())
                tg.create_task(self.assignments.run())
                tg.create_task(self.task_status.run())
                tg.create_task(self.log_broker.run())
                for loop in orchestrators:
                    tg.create_task(self._while_leading(loop.name, loop.run))
                tg.create_task(self._while_leading(allocator.name, allocator.run))
                tg.create_task(self._while_leading("scheduler", scheduler.run))
                while self.is_leader:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                await self.dispatcher.stop()
                await self.reconciler.stop()
                await self.assignments.stop()
                await self.task_status.stop()
                await self.log_broker.stop()
                for loop in orchestrators:
                    loop.stop()
                await allocator.stop()
                await scheduler.stop()
            log.info("this manager is no longer the Raft leader", extra=self._log)

    async def _while_leading(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run a leader-only loop; a write refused because leadership was lost (NotLeader,
        ProposalLost) must not take the manager down: log, and run again while still leading."""
        while True:
            try:
                await run()
                return
            except Exception:
                if not self.is_leader:
                    return
                log.exception("%s failed; restarting it", name, extra=self._log)
                await asyncio.sleep(1.0)

    @property
    def _log(self) -> dict[str, Any]:
        return {"node_id": self.config.node_id}

    async def _watch_members(self) -> None:
        last: dict[int, str] = {}
        while True:
            members = self.driver.members
            if members != last:
                last = members
                self._on_members(members)
            await asyncio.sleep(max(self.config.tick, 0.1))
