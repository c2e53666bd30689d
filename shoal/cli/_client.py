"""The CLI's connection to shoald: proto Control and Swarm over the local unix socket.

Every failure becomes a CliError carrying the one line the user sees after "Error: ".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import click
import grpc
from google.protobuf.message import Message

from proto import control_pb2, control_pb2_grpc, objects_pb2

DEFAULT_HOST = "unix:///run/shoal/shoal.sock"
# Control calls: the daemon answers "no leader" within about 5 s, so this only guards a hang.
CONTROL_TIMEOUT = 60.0

_M = TypeVar("_M", bound=Message)

_CONNECT_FAILURES = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "No such file or directory",
    "Connection refused",
)


class CliError(click.ClickException):
    """A failure reported as `Error: <message>` on stderr, exit status 1."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


def socket_path(host: str) -> str:
    """The socket path of a `unix:///path` host; other schemes are not served."""
    if not host.startswith("unix://"):
        raise click.BadParameter(
            f"unsupported host {host!r}: only unix:///path is supported", param_hint="'--host'"
        )
    path = host.removeprefix("unix://")
    if not path.startswith("/"):
        raise click.BadParameter(
            f"invalid host {host!r}: the socket path must be absolute", param_hint="'--host'"
        )
    return path


class Daemon:
    """Typed calls to shoald; gRPC errors become CliError."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._channel: Any = grpc.insecure_channel(f"unix://{socket_path(host)}")
        self._control: Any = control_pb2_grpc.ControlStub(self._channel)  # type: ignore[no-untyped-call]
        self._swarm: Any = control_pb2_grpc.SwarmStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()

    def _call(
        self,
        method: Callable[..., Any],
        request: Message,
        result: type[_M],
        *,
        timeout: float | None,
    ) -> _M:
        try:
            response = method(request, timeout=timeout)
        except grpc.RpcError as e:
            raise self._error(e) from None
        assert isinstance(response, result)
        return response

    def _error(self, e: Any) -> CliError:
        code: grpc.StatusCode = e.code()
        details: str = e.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            if "Permission denied" in details:
                return CliError(
                    "permission denied while trying to connect to the shoal daemon socket at "
                    f"{self.host}",
                    code,
                )
            if any(s in details for s in _CONNECT_FAILURES):
                return CliError(
                    f"Cannot connect to the shoal daemon at {self.host}. Is shoald running?", code
                )
        return CliError(details or code.name.lower().replace("_", " "), code)

    # ---- Swarm: this node ----

    def init(self, request: control_pb2.InitRequest) -> control_pb2.InitResponse:
        return self._call(self._swarm.Init, request, control_pb2.InitResponse, timeout=None)

    def join(self, request: control_pb2.JoinRequest) -> control_pb2.JoinResponse:
        return self._call(self._swarm.Join, request, control_pb2.JoinResponse, timeout=None)

    def leave(self, force: bool) -> None:
        self._call(
            self._swarm.Leave,
            control_pb2.LeaveRequest(force=force),
            control_pb2.Empty,
            timeout=None,
        )

    def info(self) -> control_pb2.InfoResponse:
        return self._call(
            self._swarm.Info,
            control_pb2.InfoRequest(),
            control_pb2.InfoResponse,
            timeout=CONTROL_TIMEOUT,
        )

    # ---- Control: the cluster ----

    def get_cluster(self) -> objects_pb2.Cluster:
        return self._control_call("GetCluster", control_pb2.Empty(), objects_pb2.Cluster)

    def update_cluster(self, request: control_pb2.UpdateClusterRequest) -> objects_pb2.Cluster:
        return self._control_call("UpdateCluster", request, objects_pb2.Cluster)

    def list_nodes(self) -> list[objects_pb2.Node]:
        reply = self._control_call("ListNodes", control_pb2.ListRequest(), control_pb2.NodeList)
        return list(reply.nodes)

    def get_node(self, ref: str) -> objects_pb2.Node:
        return self._control_call("GetNode", control_pb2.GetRequest(ref=ref), objects_pb2.Node)

    def update_node(self, node: objects_pb2.Node) -> objects_pb2.Node:
        request = control_pb2.UpdateNodeRequest(
            ref=node.id, version=node.meta.version, spec=node.spec
        )
        return self._control_call("UpdateNode", request, objects_pb2.Node)

    def remove_node(self, ref: str, force: bool) -> None:
        request = control_pb2.RemoveRequest(ref=ref, force=force)
        self._control_call("RemoveNode", request, control_pb2.Empty)

    def create_secret(self, spec: objects_pb2.SecretSpec) -> objects_pb2.Secret:
        request = control_pb2.CreateSecretRequest(spec=spec)
        return self._control_call("CreateSecret", request, objects_pb2.Secret)

    def get_secret(self, ref: str) -> objects_pb2.Secret:
        return self._control_call("GetSecret", control_pb2.GetRequest(ref=ref), objects_pb2.Secret)

    def list_secrets(self) -> list[objects_pb2.Secret]:
        reply = self._control_call("ListSecrets", control_pb2.ListRequest(), control_pb2.SecretList)
        return list(reply.secrets)

    def remove_secret(self, ref: str) -> None:
        self._control_call("RemoveSecret", control_pb2.RemoveRequest(ref=ref), control_pb2.Empty)

    def create_config(self, spec: objects_pb2.ConfigSpec) -> objects_pb2.Config:
        request = control_pb2.CreateConfigRequest(spec=spec)
        return self._control_call("CreateConfig", request, objects_pb2.Config)

    def get_config(self, ref: str) -> objects_pb2.Config:
        return self._control_call("GetConfig", control_pb2.GetRequest(ref=ref), objects_pb2.Config)

    def list_configs(self) -> list[objects_pb2.Config]:
        reply = self._control_call("ListConfigs", control_pb2.ListRequest(), control_pb2.ConfigList)
        return list(reply.configs)

    def remove_config(self, ref: str) -> None:
        self._control_call("RemoveConfig", control_pb2.RemoveRequest(ref=ref), control_pb2.Empty)

    def create_network(self, spec: objects_pb2.NetworkSpec) -> objects_pb2.Network:
        request = control_pb2.CreateNetworkRequest(spec=spec)
        return self._control_call("CreateNetwork", request, objects_pb2.Network)

    def get_network(self, ref: str) -> objects_pb2.Network:
        request = control_pb2.GetRequest(ref=ref)
        return self._control_call("GetNetwork", request, objects_pb2.Network)

    def list_networks(self) -> list[objects_pb2.Network]:
        request = control_pb2.ListRequest()
        return list(self._control_call("ListNetworks", request, control_pb2.NetworkList).networks)

    def remove_network(self, ref: str) -> None:
        self._control_call("RemoveNetwork", control_pb2.RemoveRequest(ref=ref), control_pb2.Empty)

    def create_service(self, spec: objects_pb2.ServiceSpec) -> objects_pb2.Service:
        request = control_pb2.CreateServiceRequest(spec=spec)
        return self._control_call("CreateService", request, objects_pb2.Service)

    def get_service(self, ref: str) -> objects_pb2.Service:
        request = control_pb2.GetRequest(ref=ref)
        return self._control_call("GetService", request, objects_pb2.Service)

    def list_services(self) -> list[objects_pb2.Service]:
        request = control_pb2.ListRequest()
        return list(self._control_call("ListServices", request, control_pb2.ServiceList).services)

    def update_service(self, service: objects_pb2.Service) -> objects_pb2.Service:
        """Write `service.spec` back, based on the version it was read at."""
        request = control_pb2.UpdateServiceRequest(
            ref=service.id, version=service.meta.version, spec=service.spec
        )
        return self._control_call("UpdateService", request, objects_pb2.Service)

    def remove_service(self, ref: str) -> None:
        self._control_call("RemoveService", control_pb2.RemoveRequest(ref=ref), control_pb2.Empty)

    def list_tasks(
        self,
        *,
        service_ids: list[str] | None = None,
        node_ids: list[str] | None = None,
        desired_states: list[objects_pb2.TaskState] | None = None,
    ) -> list[objects_pb2.Task]:
        request = control_pb2.ListTasksRequest(
            service_ids=service_ids or [], node_ids=node_ids or [], desired_states=desired_states
        )
        return list(self._control_call("ListTasks", request, control_pb2.TaskList).tasks)

    def get_task(self, ref: str) -> objects_pb2.Task:
        return self._control_call("GetTask", control_pb2.GetRequest(ref=ref), objects_pb2.Task)

    def service_logs(
        self, request: control_pb2.ServiceLogsRequest
    ) -> Iterator[control_pb2.ServiceLogsMessage]:
        """The stream of `service logs`; ends with the logs (or, following, on ^C)."""
        call = self._control.ServiceLogs(request)
        try:
            yield from call
        except grpc.RpcError as e:
            raise self._error(e) from None
        finally:
            call.cancel()

    def _control_call(self, name: str, request: Message, result: type[_M]) -> _M:
        return self._call(getattr(self._control, name), request, result, timeout=CONTROL_TIMEOUT)

    # ---- helpers shared by commands ----

    def self_node_id(self) -> str:
        """This node's id (docker's node.Reference for "self")."""
        info = self.info()
        if not info.node_id:
            self.list_nodes()  # the daemon's "not a swarm manager" message, if that is why
            raise CliError("node ID not found in /info")
        return info.node_id

    def node_ref(self, ref: str) -> str:
        return self.self_node_id() if ref == "self" else ref


pass_daemon = click.make_pass_decorator(Daemon)


class ObjectGroup(click.Group):
    """A command group answering docker's hidden aliases `list` (ls) and `remove` (rm)."""

    ALIASES: ClassVar[dict[str, str]] = {"list": "ls", "remove": "rm"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))
