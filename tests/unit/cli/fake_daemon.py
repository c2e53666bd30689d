"""An in-process fake shoald: proto Control and Swarm on a unix socket, with canned objects.

It records every request (method name, request message) and can be told to fail a method with
a gRPC status, like the real daemon's one-line errors.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from proto import control_pb2, control_pb2_grpc, objects_pb2

NODE1 = "node1".ljust(25, "a")
NODE2 = "node2".ljust(25, "b")
NODE10 = "node10".ljust(25, "c")
T0 = 1_700_000_000  # seconds since the epoch: 2023-11-14 22:13:20 UTC


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def meta(version: int, created: float = T0, updated: float | None = None) -> objects_pb2.Meta:
    return objects_pb2.Meta(
        version=version, created_at=ts(created), updated_at=ts(updated or created)
    )


def make_node(
    node_id: str,
    hostname: str,
    *,
    role: str = "worker",
    state: str = "ready",
    availability: str = "active",
    leader: bool = False,
    reachability: str = "reachable",
    addr: str = "10.0.0.1",
    version: int = 7,
) -> objects_pb2.Node:
    node = objects_pb2.Node(
        id=node_id,
        meta=meta(version),
        spec=objects_pb2.NodeSpec(role=role, availability=availability, labels={"zone": "a"}),
        description=objects_pb2.NodeDescription(
            hostname=hostname,
            platform=objects_pb2.PlatformDescription(architecture="x86_64", os="linux"),
            resources=objects_pb2.Resources(nano_cpus=4_000_000_000, memory_bytes=8_201_543_680),
            engine=objects_pb2.EngineDescription(engine_version="27.3.1"),
        ),
        status=objects_pb2.NodeStatus(state=state, addr=addr),
        role=role,
    )
    if role == "manager":
        node.manager_status.CopyFrom(
            objects_pb2.ManagerStatus(
                raft_id=1, addr=f"{addr}:2377", reachability=reachability, leader=leader
            )
        )
    return node


def default_cluster() -> objects_pb2.Cluster:
    spec = objects_pb2.ClusterSpec(name="default")
    spec.orchestration.task_history_retention_limit = 5
    spec.raft.snapshot_interval = 10000
    spec.raft.heartbeat_tick = 1
    spec.raft.election_tick = 10
    spec.dispatcher.heartbeat_period.FromSeconds(5)
    spec.ca_config.node_cert_expiry.FromSeconds(90 * 24 * 3600)
    return objects_pb2.Cluster(
        id="clusterid0000000000000000",
        meta=meta(11),
        spec=spec,
        root_ca=objects_pb2.RootCA(
            join_tokens=objects_pb2.JoinTokens(
                worker="SWMTKN-1-abc-worker", manager="SWMTKN-1-abc-manager"
            )
        ),
        default_address_pool=["10.0.0.0/8"],
        subnet_size=24,
        data_path_port=4789,
    )


@dataclass
class FakeState:
    nodes: dict[str, objects_pb2.Node] = field(default_factory=dict)
    secrets: dict[str, objects_pb2.Secret] = field(default_factory=dict)
    configs: dict[str, objects_pb2.Config] = field(default_factory=dict)
    cluster: objects_pb2.Cluster = field(default_factory=default_cluster)
    info: control_pb2.InfoResponse = field(
        default_factory=lambda: control_pb2.InfoResponse(
            local_node_state="active",
            node_id=NODE1,
            node_addr="10.0.0.1",
            cluster_id="clusterid0000000000000000",
            control_available=True,
            remote_managers=["10.0.0.1:2377"],
            nodes=3,
            managers=2,
        )
    )
    join_role: str = "worker"
    networks: dict[str, objects_pb2.Network] = field(default_factory=dict)
    services: dict[str, objects_pb2.Service] = field(default_factory=dict)
    tasks: list[objects_pb2.Task] = field(default_factory=list)
    # services created or scaled get running (jobs: complete) tasks at once, as if the
    # cluster converged instantly
    converge: bool = True
    # method name -> (status code, message): the method fails with it
    failures: dict[str, tuple[grpc.StatusCode, str]] = field(default_factory=dict)
    # method name -> {ref: (code, message)}: the method fails for that ref only
    ref_failures: dict[str, dict[str, tuple[grpc.StatusCode, str]]] = field(default_factory=dict)
    requests: list[tuple[str, Message]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def calls(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]


class _Base:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def _enter(self, method: str, request: Message, context: Any, ref: str = "") -> None:
        self.state.requests.append((method, request))
        failure = self.state.failures.get(method) or self.state.ref_failures.get(method, {}).get(
            ref
        )
        if failure:
            context.abort(*failure)


def _resolve(table: dict[str, Any], ref: str, name: Any, kind: str, context: Any) -> Any:
    if ref in table:
        return table[ref]
    for obj in table.values():
        if name(obj) == ref:
            return obj
    matches = [obj for key, obj in table.items() if key.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    context.abort(grpc.StatusCode.NOT_FOUND, f"{kind} {ref} not found")


class FakeControl(_Base, control_pb2_grpc.ControlServicer):
    def GetCluster(self, request: Any, context: Any) -> objects_pb2.Cluster:
        self._enter("GetCluster", request, context)
        return self.state.cluster

    def UpdateCluster(self, request: Any, context: Any) -> objects_pb2.Cluster:
        self._enter("UpdateCluster", request, context)
        cluster = self.state.cluster
        if request.version != cluster.meta.version:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "update out of sequence")
        cluster.spec.CopyFrom(request.spec)
        cluster.meta.version += 1
        if request.rotate_worker_token:
            cluster.root_ca.join_tokens.worker = "SWMTKN-1-abc-worker2"
        if request.rotate_manager_token:
            cluster.root_ca.join_tokens.manager = "SWMTKN-1-abc-manager2"
        return cluster

    def ListNodes(self, request: Any, context: Any) -> control_pb2.NodeList:
        self._enter("ListNodes", request, context)
        return control_pb2.NodeList(nodes=list(self.state.nodes.values()))

    def _node(self, ref: str, context: Any) -> objects_pb2.Node:
        node: objects_pb2.Node = _resolve(
            self.state.nodes, ref, lambda n: n.description.hostname, "node", context
        )
        return node

    def GetNode(self, request: Any, context: Any) -> objects_pb2.Node:
        self._enter("GetNode", request, context, request.ref)
        return self._node(request.ref, context)

    def UpdateNode(self, request: Any, context: Any) -> objects_pb2.Node:
        self._enter("UpdateNode", request, context, request.ref)
        node = self._node(request.ref, context)
        node.spec.CopyFrom(request.spec)
        node.meta.version += 1
        return node

    def RemoveNode(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("RemoveNode", request, context, request.ref)
        node = self._node(request.ref, context)
        del self.state.nodes[node.id]
        return control_pb2.Empty()

    def CreateSecret(self, request: Any, context: Any) -> objects_pb2.Secret:
        self._enter("CreateSecret", request, context)
        secret_id = f"secret{next(self.state.ids):019d}"
        secret = objects_pb2.Secret(id=secret_id, meta=meta(1), spec=request.spec)
        self.state.secrets[secret_id] = secret
        return secret

    def GetSecret(self, request: Any, context: Any) -> objects_pb2.Secret:
        self._enter("GetSecret", request, context, request.ref)
        secret: objects_pb2.Secret = _resolve(
            self.state.secrets, request.ref, lambda s: s.spec.name, "secret", context
        )
        out = objects_pb2.Secret()
        out.CopyFrom(secret)
        out.spec.ClearField("data")
        return out

    def ListSecrets(self, request: Any, context: Any) -> control_pb2.SecretList:
        self._enter("ListSecrets", request, context)
        return control_pb2.SecretList(secrets=list(self.state.secrets.values()))

    def RemoveSecret(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("RemoveSecret", request, context, request.ref)
        secret = _resolve(self.state.secrets, request.ref, lambda s: s.spec.name, "secret", context)
        del self.state.secrets[secret.id]
        return control_pb2.Empty()

    def CreateConfig(self, request: Any, context: Any) -> objects_pb2.Config:
        self._enter("CreateConfig", request, context)
        config_id = f"config{next(self.state.ids):019d}"
        config = objects_pb2.Config(id=config_id, meta=meta(1), spec=request.spec)
        self.state.configs[config_id] = config
        return config

    def GetConfig(self, request: Any, context: Any) -> objects_pb2.Config:
        self._enter("GetConfig", request, context, request.ref)
        config: objects_pb2.Config = _resolve(
            self.state.configs, request.ref, lambda c: c.spec.name, "config", context
        )
        return config

    def ListConfigs(self, request: Any, context: Any) -> control_pb2.ConfigList:
        self._enter("ListConfigs", request, context)
        return control_pb2.ConfigList(configs=list(self.state.configs.values()))

    def RemoveConfig(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("RemoveConfig", request, context, request.ref)
        config = _resolve(self.state.configs, request.ref, lambda c: c.spec.name, "config", context)
        del self.state.configs[config.id]
        return control_pb2.Empty()

    # ---- networks ----

    def CreateNetwork(self, request: Any, context: Any) -> objects_pb2.Network:
        self._enter("CreateNetwork", request, context)
        n = next(self.state.ids)
        network = objects_pb2.Network(
            id=f"net{n:03d}".ljust(25, "x"), meta=meta(1), spec=request.spec, vxlan_id=4096 + n
        )
        requested = request.spec.ipam_configs
        network.subnet = requested[0].subnet if requested else f"10.0.{n}.0/24"
        network.gateway = requested[0].gateway if requested else f"10.0.{n}.1"
        self.state.networks[network.id] = network
        return network

    def _network(self, ref: str, context: Any) -> objects_pb2.Network:
        network: objects_pb2.Network = _resolve(
            self.state.networks, ref, lambda n: n.spec.name, "network", context
        )
        return network

    def GetNetwork(self, request: Any, context: Any) -> objects_pb2.Network:
        self._enter("GetNetwork", request, context, request.ref)
        return self._network(request.ref, context)

    def ListNetworks(self, request: Any, context: Any) -> control_pb2.NetworkList:
        self._enter("ListNetworks", request, context)
        return control_pb2.NetworkList(networks=list(self.state.networks.values()))

    def RemoveNetwork(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("RemoveNetwork", request, context, request.ref)
        network = self._network(request.ref, context)
        del self.state.networks[network.id]
        return control_pb2.Empty()

    # ---- services and tasks ----

    def _service(self, ref: str, context: Any) -> objects_pb2.Service:
        service: objects_pb2.Service = _resolve(
            self.state.services, ref, lambda s: s.spec.name, "service", context
        )
        return service

    def CreateService(self, request: Any, context: Any) -> objects_pb2.Service:
        self._enter("CreateService", request, context)
        service_id = f"svc{next(self.state.ids):022d}"
        spec = objects_pb2.ServiceSpec()
        spec.CopyFrom(request.spec)
        spec.name = spec.name or "bold_babbage"
        spec.task_template.container.registry_auth = ""
        service = objects_pb2.Service(id=service_id, meta=meta(1), spec=spec, spec_version=1)
        self.state.services[service_id] = service
        if self.state.converge:
            converge(self.state, service)
        return service

    def GetService(self, request: Any, context: Any) -> objects_pb2.Service:
        self._enter("GetService", request, context, request.ref)
        return self._service(request.ref, context)

    def ListServices(self, request: Any, context: Any) -> control_pb2.ServiceList:
        self._enter("ListServices", request, context)
        return control_pb2.ServiceList(services=list(self.state.services.values()))

    def UpdateService(self, request: Any, context: Any) -> objects_pb2.Service:
        self._enter("UpdateService", request, context, request.ref)
        service = self._service(request.ref, context)
        if request.version != service.meta.version:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "update out of sequence")
        service.previous_spec.CopyFrom(service.spec)
        service.spec.CopyFrom(request.spec)
        service.meta.version += 1
        service.spec_version += 1
        if self.state.converge:
            converge(self.state, service)
        return service

    def RemoveService(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("RemoveService", request, context, request.ref)
        service = self._service(request.ref, context)
        del self.state.services[service.id]
        return control_pb2.Empty()

    def ListTasks(self, request: Any, context: Any) -> control_pb2.TaskList:
        self._enter("ListTasks", request, context)
        found = [
            t
            for t in self.state.tasks
            if (not request.service_ids or t.service_id in request.service_ids)
            and (not request.node_ids or t.node_id in request.node_ids)
            and (not request.desired_states or t.desired_state in request.desired_states)
        ]
        return control_pb2.TaskList(tasks=found)

    def GetTask(self, request: Any, context: Any) -> objects_pb2.Task:
        self._enter("GetTask", request, context, request.ref)
        for t in self.state.tasks:
            if t.id.startswith(request.ref):
                return t
        context.abort(grpc.StatusCode.NOT_FOUND, f"task {request.ref} not found")
        raise AssertionError  # abort raises


def make_task(
    service: objects_pb2.Service,
    slot: int,
    node_id: str,
    *,
    state: int = objects_pb2.RUNNING,
    desired: int = objects_pb2.RUNNING,
    created: float = T0,
    updated: float | None = None,
    err: str = "",
    task_id: str = "",
) -> objects_pb2.Task:
    return objects_pb2.Task(
        id=task_id or f"task{service.id[-4:]}{slot:03d}{int(created) % 10**6:06d}".ljust(25, "x"),
        meta=meta(1, created),
        service_id=service.id,
        slot=slot,
        node_id=node_id,
        spec=service.spec.task_template,
        desired_state=desired,  # type: ignore[arg-type]
        status=objects_pb2.TaskStatus(
            state=state,  # type: ignore[arg-type]
            timestamp=ts(updated or created),
            err=err,
        ),
    )


def converge(state: FakeState, service: objects_pb2.Service) -> None:
    """Tasks as if the orchestrators and workers had done their work at once."""
    nodes = sorted(state.nodes)
    mode = service.spec.WhichOneof("mode")
    mine = [t for t in state.tasks if t.service_id == service.id]
    if mode in ("replicated", "replicated_job"):
        job = mode == "replicated_job"
        count = (
            service.spec.replicated_job.total_completions
            if job
            else service.spec.replicated.replicas
        )
        for t in mine:
            if t.slot > count:
                t.desired_state = objects_pb2.SHUTDOWN
                t.status.state = objects_pb2.SHUTDOWN
        have = {t.slot for t in mine}
        for slot in range(1, count + 1):
            if slot not in have:
                done = objects_pb2.COMPLETE if job else objects_pb2.RUNNING
                node = nodes[(slot - 1) % len(nodes)]
                state.tasks.append(make_task(service, slot, node, state=done, desired=done))
    else:
        done = objects_pb2.COMPLETE if mode == "global_job" else objects_pb2.RUNNING
        for node in nodes:
            state.tasks.append(make_task(service, 0, node, state=done, desired=done))


class FakeSwarm(_Base, control_pb2_grpc.SwarmServicer):
    def Init(self, request: Any, context: Any) -> control_pb2.InitResponse:
        self._enter("Init", request, context)
        return control_pb2.InitResponse(
            node_id=self.state.info.node_id, cluster_id=self.state.cluster.id
        )

    def Join(self, request: Any, context: Any) -> control_pb2.JoinResponse:
        self._enter("Join", request, context)
        return control_pb2.JoinResponse(node_id=self.state.info.node_id, role=self.state.join_role)

    def Leave(self, request: Any, context: Any) -> control_pb2.Empty:
        self._enter("Leave", request, context)
        return control_pb2.Empty()

    def Info(self, request: Any, context: Any) -> control_pb2.InfoResponse:
        self._enter("Info", request, context)
        return self.state.info


@contextmanager
def serve(state: FakeState) -> Iterator[str]:
    """Serve `state` on a fresh unix socket; yields the `unix:///path` host."""
    # A short directory: a unix socket path must fit in 108 bytes, pytest's tmp_path may not.
    directory = tempfile.mkdtemp(prefix="shoal-cli-")
    path = f"{directory}/shoal.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    control_pb2_grpc.add_ControlServicer_to_server(FakeControl(state), server)  # type: ignore[no-untyped-call]
    control_pb2_grpc.add_SwarmServicer_to_server(FakeSwarm(state), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix://{path}")
    server.start()
    try:
        yield f"unix://{path}"
    finally:
        server.stop(grace=None)
        shutil.rmtree(directory, ignore_errors=True)
