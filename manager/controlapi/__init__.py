"""The Control API the CLI calls (proto/control.proto): nodes, secrets, configs, the cluster,
services and their tasks, networks.

Core functions per kind operate on the Store and raise typed errors (errors.py) carrying the
user's one-line message; `ControlServicer` is the thin gRPC layer over them. Rules and messages
follow Docker's (swarmkit manager/controlapi).
"""

from manager.controlapi.cluster import (
    get_cluster,
    redact_cluster,
    root_ca_digest,
    update_cluster,
    validate_cluster_spec,
)
from manager.controlapi.configs import create_config, get_config, list_configs, remove_config
from manager.controlapi.errors import (
    AlreadyExistsError,
    ControlError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
)
from manager.controlapi.networks import (
    create_network,
    get_network,
    list_networks,
    remove_network,
    resolve_network,
    validate_network_spec,
)
from manager.controlapi.nodes import (
    check_demotion,
    get_node,
    list_nodes,
    record_removed_node,
    remove_node,
    update_node,
)
from manager.controlapi.refs import resolve, resolve_config, resolve_node, resolve_secret
from manager.controlapi.secrets import (
    create_secret,
    get_secret,
    list_secrets,
    redact_secret,
    remove_secret,
)
from manager.controlapi.servicer import ControlServicer, add_to_server, status_code
from manager.controlapi.services import (
    create_service,
    get_service,
    list_services,
    redact_service,
    remove_service,
    resolve_service,
    update_service,
    validate_service_spec,
)
from manager.controlapi.tasks import get_task, list_tasks, redact_task
from manager.controlapi.validation import MAX_DATA_SIZE, validate_data, validate_name

__all__ = [
    "MAX_DATA_SIZE",
    "AlreadyExistsError",
    "ControlError",
    "ControlServicer",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "add_to_server",
    "check_demotion",
    "create_config",
    "create_network",
    "create_secret",
    "create_service",
    "get_cluster",
    "get_config",
    "get_network",
    "get_node",
    "get_secret",
    "get_service",
    "get_task",
    "list_configs",
    "list_networks",
    "list_nodes",
    "list_secrets",
    "list_services",
    "list_tasks",
    "record_removed_node",
    "redact_cluster",
    "redact_secret",
    "redact_service",
    "redact_task",
    "remove_config",
    "remove_network",
    "remove_node",
    "remove_secret",
    "remove_service",
    "resolve",
    "resolve_config",
    "resolve_network",
    "resolve_node",
    "resolve_secret",
    "resolve_service",
    "root_ca_digest",
    "status_code",
    "update_cluster",
    "update_node",
    "update_service",
    "validate_cluster_spec",
    "validate_data",
    "validate_name",
    "validate_network_spec",
    "validate_service_spec",
]
