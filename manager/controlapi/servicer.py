"""The Control gRPC service (proto/control.proto) over the store: decode, call the core
function of manager/controlapi, encode. Errors the core raises become a status code with the
core's one-line message; Raft errors (NotLeader, ProposalLost) propagate untouched, for the
leader-forwarding wrapper (forward.py) to handle.

    CLI --Control RPC--> ControlServicer --> nodes / secrets / configs / cluster --> Store
                                             services / tasks / networks
                               ^                         | ControlError
                               +-- status code + message +
"""

from __future__ import annotations

import contextlib
import secrets as _random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from manager.ca.tokens import Entropy
from manager.controlapi import cluster, configs, networks, nodes, secrets, services, tasks
from manager.controlapi.errors import (
    AlreadyExistsError,
    ControlError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
)
from manager.store import (
    ClusterSpec,
    CodecError,
    ConfigSpec,
    NetworkSpec,
    NodeSpec,
    SecretSpec,
    ServiceSpec,
    Store,
    TaskState,
    codec,
)
from proto import control_pb2, control_pb2_grpc, objects_pb2

M = TypeVar("M", bound=Message)
T = TypeVar("T")

_CODES: dict[type[ControlError], grpc.StatusCode] = {
    InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
    InternalError: grpc.StatusCode.INTERNAL,
}


def status_code(error: ControlError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.UNKNOWN


@contextlib.asynccontextmanager
async def _answer(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
    """Turn a ControlError raised inside into the RPC's status."""
    try:
        yield
    except ControlError as e:
        await context.abort(status_code(e), str(e))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ControlServicer(control_pb2_grpc.ControlServicer):
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = _utcnow,
        entropy: Entropy = _random.token_bytes,
    ) -> None:
        """`clock` is the wall clock (what the store uses; no rule here needs the time yet);
        `entropy` feeds new join tokens (fixed in tests)."""
        self._store = store
        self._clock = clock
        self._entropy = entropy

    # -- cluster ------------------------------------------------------------------------------

    async def GetCluster(
        self, request: control_pb2.Empty, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Cluster:
        async with _answer(context):
            return _cluster_message(cluster.get_cluster(self._store))

    async def UpdateCluster(
        self, request: control_pb2.UpdateClusterRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Cluster:
        async with _answer(context):
            spec = _decode(ClusterSpec, request.spec) if request.HasField("spec") else None
            updated = await cluster.update_cluster(
                self._store,
                version=request.version,
                spec=spec,
                rotate_worker_token=request.rotate_worker_token,
                rotate_manager_token=request.rotate_manager_token,
                entropy=self._entropy,
            )
            return _cluster_message(updated)

    # -- nodes --------------------------------------------------------------------------------

    async def ListNodes(
        self, request: control_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.NodeList:
        async with _answer(context):
            found = nodes.list_nodes(self._store)
            return control_pb2.NodeList(nodes=[_encode(n, objects_pb2.Node) for n in found])

    async def GetNode(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Node:
        async with _answer(context):
            return _encode(nodes.get_node(self._store, request.ref), objects_pb2.Node)

    async def UpdateNode(
        self, request: control_pb2.UpdateNodeRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Node:
        async with _answer(context):
            spec = _decode(NodeSpec, _required(request, "spec", "node"))
            node = await nodes.update_node(
                self._store, request.ref, version=request.version, spec=spec
            )
            return _encode(node, objects_pb2.Node)

    async def RemoveNode(
        self, request: control_pb2.RemoveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        async with _answer(context):
            await nodes.remove_node(self._store, request.ref, force=request.force)
            return control_pb2.Empty()

    # -- secrets (data never returned) --------------------------------------------------------

    async def CreateSecret(
        self, request: control_pb2.CreateSecretRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Secret:
        async with _answer(context):
            spec = _decode(SecretSpec, _required(request, "spec", "secret"))
            return _secret_message(await secrets.create_secret(self._store, spec))

    async def GetSecret(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Secret:
        async with _answer(context):
            return _secret_message(secrets.get_secret(self._store, request.ref))

    async def ListSecrets(
        self, request: control_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.SecretList:
        async with _answer(context):
            found = secrets.list_secrets(self._store)
            return control_pb2.SecretList(secrets=[_secret_message(s) for s in found])

    async def RemoveSecret(
        self, request: control_pb2.RemoveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        async with _answer(context):
            await secrets.remove_secret(self._store, request.ref)
            return control_pb2.Empty()

    # -- configs ------------------------------------------------------------------------------

    async def CreateConfig(
        self, request: control_pb2.CreateConfigRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Config:
        async with _answer(context):
            spec = _decode(ConfigSpec, _required(request, "spec", "config"))
            created = await configs.create_config(self._store, spec)
            return _encode(created, objects_pb2.Config)

    async def GetConfig(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Config:
        async with _answer(context):
            return _encode(configs.get_config(self._store, request.ref), objects_pb2.Config)

    async def ListConfigs(
        self, request: control_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.ConfigList:
        async with _answer(context):
            found = configs.list_configs(self._store)
            return control_pb2.ConfigList(configs=[_encode(c, objects_pb2.Config) for c in found])

    async def RemoveConfig(
        self, request: control_pb2.RemoveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        async with _answer(context):
            await configs.remove_config(self._store, request.ref)
            return control_pb2.Empty()

    # -- networks -----------------------------------------------------------------------------

    async def CreateNetwork(
        self, request: control_pb2.CreateNetworkRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Network:
        async with _answer(context):
            spec = _decode(NetworkSpec, _required(request, "spec", "network"))
            created = await networks.create_network(self._store, spec)
            return _encode(created, objects_pb2.Network)

    async def GetNetwork(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Network:
        async with _answer(context):
            return _encode(networks.get_network(self._store, request.ref), objects_pb2.Network)

    async def ListNetworks(
        self, request: control_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.NetworkList:
        async with _answer(context):
            found = networks.list_networks(self._store)
            return control_pb2.NetworkList(
                networks=[_encode(n, objects_pb2.Network) for n in found]
            )

    async def RemoveNetwork(
        self, request: control_pb2.RemoveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        async with _answer(context):
            await networks.remove_network(self._store, request.ref)
            return control_pb2.Empty()

    # -- services and tasks -------------------------------------------------------------------

    async def CreateService(
        self, request: control_pb2.CreateServiceRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Service:
        async with _answer(context):
            spec = _decode(ServiceSpec, _required(request, "spec", "service"))
            created = await services.create_service(self._store, spec, entropy=self._entropy)
            return _encode(created, objects_pb2.Service)

    async def GetService(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Service:
        async with _answer(context):
            return _encode(services.get_service(self._store, request.ref), objects_pb2.Service)

    async def ListServices(
        self, request: control_pb2.ListRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.ServiceList:
        async with _answer(context):
            found = services.list_services(self._store)
            return control_pb2.ServiceList(
                services=[_encode(s, objects_pb2.Service) for s in found]
            )

    async def UpdateService(
        self, request: control_pb2.UpdateServiceRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Service:
        async with _answer(context):
            spec = _decode(ServiceSpec, _required(request, "spec", "service"))
            updated = await services.update_service(
                self._store, request.ref, version=request.version, spec=spec
            )
            return _encode(updated, objects_pb2.Service)

    async def RemoveService(
        self, request: control_pb2.RemoveRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.Empty:
        async with _answer(context):
            await services.remove_service(self._store, request.ref)
            return control_pb2.Empty()

    async def ListTasks(
        self, request: control_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> control_pb2.TaskList:
        async with _answer(context):
            found = tasks.list_tasks(
                self._store,
                service_ids=list(request.service_ids),
                node_ids=list(request.node_ids),
                desired_states=[_task_state(s) for s in request.desired_states],
            )
            return control_pb2.TaskList(tasks=[_encode(t, objects_pb2.Task) for t in found])

    async def GetTask(
        self, request: control_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> objects_pb2.Task:
        async with _answer(context):
            return _encode(tasks.get_task(self._store, request.ref), objects_pb2.Task)


def add_to_server(servicer: ControlServicer, server: grpc.aio.Server) -> None:
    control_pb2_grpc.add_ControlServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


# -- conversions ------------------------------------------------------------------------------


def _required(request: Message, field: str, kind: str) -> Message:
    if not request.HasField(field):
        raise InvalidArgumentError(f"the request carries no {kind} spec; send one")
    sub: Message = getattr(request, field)
    return sub


def _decode(cls: type[T], msg: Message) -> T:
    try:
        return codec.from_message(cls, msg)
    except (CodecError, ValueError, TypeError) as e:
        raise InvalidArgumentError(f"invalid {cls.__name__}: {e}") from None


def _encode(obj: object, cls: type[M]) -> M:
    msg = codec.to_message(obj)
    if not isinstance(msg, cls):
        raise TypeError(f"{type(obj).__name__} encodes to {type(msg).__name__}, not {cls.__name__}")
    return msg


def _task_state(value: int) -> TaskState:
    try:
        return TaskState(value)
    except ValueError:
        raise InvalidArgumentError(f"invalid task state {value}") from None


def _secret_message(secret: object) -> objects_pb2.Secret:
    """Secrets are redacted by the core already; clearing here too costs nothing."""
    msg = _encode(secret, objects_pb2.Secret)
    msg.spec.ClearField("data")
    return msg


def _cluster_message(redacted: object) -> objects_pb2.Cluster:
    """The core redacts the CA key; cleared here too, whatever the dataclass holds."""
    msg = _encode(redacted, objects_pb2.Cluster)
    if "ca_key" in msg.root_ca.DESCRIPTOR.fields_by_name:
        msg.root_ca.ClearField("ca_key")
    return msg
