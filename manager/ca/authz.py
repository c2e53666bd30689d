"""Authorization on the cluster port: which roles may call which gRPC method.

    RPC ──▶ AuthorizationInterceptor ──▶ Authorizer.authorize(method, peer cert, now)
              │                            1. method in the table? (unknown: refused)
              │                            2. unauthenticated method? (joining nodes) ─▶ allowed
              │                            3. cert issued by our root CA, not expired
              │                            4. O == our cluster id, node not removed
              │                            5. OU (role) allowed for the method
              ▼
        handler runs with current_node() = NodeIdentity   │  refusal: PERMISSION_DENIED + reason

TLS has already checked the chain on the mutual-TLS listener; the checks are repeated here so the
decision does not depend on how the listener was configured, and because only this layer knows
the cluster id, the removed nodes and the roles.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
from cryptography import x509

from manager.ca.certificates import NodeIdentity, RootCA
from manager.ca.errors import PermissionDenied
from manager.ca.roles import MANAGER_ROLE, ROLES, Role

Clock = Callable[[], datetime]

MANAGERS: frozenset[Role] = frozenset({MANAGER_ROLE})
ANY_NODE: frozenset[Role] = frozenset(ROLES)

# Services known today. The dispatcher (workers and managers) and the control API (managers)
# add their entries when they exist; the CA service adds its unauthenticated methods.
RAFT_SERVICE = "shoal.raft.Raft"

_current: contextvars.ContextVar[NodeIdentity | None] = contextvars.ContextVar(
    "shoal_ca_current_node", default=None
)


def current_node() -> NodeIdentity | None:
    """The caller of the RPC being handled (None for an anonymous caller)."""
    return _current.get()


def _service_of(method: str) -> str:
    # "/pkg.Service/Method" -> "pkg.Service"
    return method.lstrip("/").split("/", 1)[0]


@dataclass(frozen=True)
class AuthorizationPolicy:
    """Roles allowed per full method ("/pkg.Service/Method") or per service ("pkg.Service").

    A full-method entry overrides its service's entry. Methods in `unauthenticated` are open to
    callers without a certificate: issuing a first certificate, fetching the root CA.
    """

    roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    unauthenticated: frozenset[str] = frozenset()

    def roles_for(self, method: str) -> frozenset[Role] | None:
        if method in self.roles:
            return self.roles[method]
        return self.roles.get(_service_of(method))

    def is_unauthenticated(self, method: str) -> bool:
        return method in self.unauthenticated or _service_of(method) in self.unauthenticated

    @classmethod
    def build(
        cls,
        *,
        managers: Iterable[str] = (),
        any_node: Iterable[str] = (),
        unauthenticated: Iterable[str] = (),
    ) -> AuthorizationPolicy:
        roles: dict[str, frozenset[Role]] = {name: MANAGERS for name in managers}
        roles.update({name: ANY_NODE for name in any_node})
        return cls(roles=roles, unauthenticated=frozenset(unauthenticated))


def default_policy() -> AuthorizationPolicy:
    """What exists today: Raft is managers-only. Other services extend this table."""
    return AuthorizationPolicy.build(managers=[RAFT_SERVICE])


class Authorizer:
    """Decides one call. Pure: the certificate and the time come in, an identity comes out."""

    def __init__(
        self,
        *,
        root_ca: RootCA,
        cluster_id: str,
        policy: AuthorizationPolicy,
        is_removed: Callable[[str], bool] = lambda _node_id: False,
    ) -> None:
        self._root_ca = root_ca
        self._cluster_id = cluster_id
        self._policy = policy
        self._is_removed = is_removed

    @property
    def root_ca(self) -> RootCA:
        return self._root_ca

    def authorize(
        self, method: str, peer: x509.Certificate | None, now: datetime
    ) -> NodeIdentity | None:
        """The caller's identity (None for an anonymous caller of an open method).

        Raises PermissionDenied with the reason the caller is told.
        """
        if self._policy.is_unauthenticated(method):
            # Open to anyone; a valid certificate still identifies the caller (renewals).
            if peer is None:
                return None
            try:
                return self._authenticate(peer, now)
            except PermissionDenied:
                return None
        allowed = self._policy.roles_for(method)
        if allowed is None:
            raise PermissionDenied(f"{method} is not in the authorization table; refused")
        if peer is None:
            raise PermissionDenied(
                f"{method} needs a node certificate from this cluster; join the cluster first"
            )
        identity = self._authenticate(peer, now)
        if identity.role not in allowed:
            names = " or ".join(sorted(allowed))
            raise PermissionDenied(
                f"node {identity.node_id} has role {identity.role}; {method} is only for {names}"
            )
        return identity

    def _authenticate(self, peer: x509.Certificate, now: datetime) -> NodeIdentity:
        self._root_ca.verify(peer, now)
        identity = NodeIdentity.from_certificate(peer)
        if identity.cluster_id != self._cluster_id:
            raise PermissionDenied(
                f"the certificate belongs to cluster {identity.cluster_id}, not to this cluster"
            )
        if self._is_removed(identity.node_id):
            raise PermissionDenied(
                f"node {identity.node_id} was removed from the cluster; "
                "to come back it must leave and join again with a join token"
            )
        return identity


def peer_certificate(auth_context: Mapping[str, Iterable[bytes]]) -> x509.Certificate | None:
    """The client certificate from a gRPC servicer context's auth_context(), if one was shown."""
    pems = list(auth_context.get("x509_pem_cert", ()))
    if not pems:
        return None
    try:
        return x509.load_pem_x509_certificate(pems[0])
    except ValueError:
        return None


class AuthorizationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Enforces an Authorizer on every RPC of a grpc.aio server.

    The peer certificate lives on the servicer context, not in the call details, so the check
    runs inside a wrapper around the method's handler; the identity is then available to the
    handler through `current_node()`.
    """

    def __init__(self, authorizer: Authorizer, clock: Clock) -> None:
        self._authorizer = authorizer
        self._clock = clock

    async def intercept_service(
        self,
        continuation: Callable[[Any], Any],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return _wrap(handler, handler_call_details.method, self._check)

    async def _check(self, method: str, context: Any) -> NodeIdentity | None:
        peer = peer_certificate(context.auth_context())
        try:
            return self._authorizer.authorize(method, peer, self._clock())
        except PermissionDenied as denied:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, denied.reason)
            raise  # abort raises; this keeps type checkers and readers certain


Check = Callable[[str, Any], Any]


def _wrap(handler: Any, method: str, check: Check) -> Any:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, method, check),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            _unary(handler.stream_unary, method, check),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            _streaming(handler.unary_stream, method, check),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        _streaming(handler.stream_stream, method, check),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary(behavior: Callable[..., Any], method: str, check: Check) -> Callable[..., Any]:
    async def call(request: Any, context: Any) -> Any:
        token = _current.set(await check(method, context))
        try:
            result = behavior(request, context)
            return await result if inspect.isawaitable(result) else result
        finally:
            _current.reset(token)

    return call


def _streaming(behavior: Callable[..., Any], method: str, check: Check) -> Callable[..., Any]:
    # grpc.aio treats a coroutine function as "writes with context.write" and anything else as
    # returning an iterator of responses; the wrapper must be of the same kind as the original.
    if inspect.iscoroutinefunction(behavior):
        return _unary(behavior, method, check)

    async def call(request: Any, context: Any) -> Any:
        # Each RPC runs in its own task (its own context), so the identity is not reset here:
        # resetting across yields could happen in another context when the stream is closed.
        _current.set(await check(method, context))
        responses = behavior(request, context)
        if hasattr(responses, "__aiter__"):
            async for response in responses:
                yield response
        else:
            for response in responses:
                yield response

    return call
