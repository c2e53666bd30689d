"""Docker-shaped views of the store's objects: `ls` rows and tables, inspect JSON, pretty text.

The one place where proto/objects_pb2 messages become what docker's CLI prints, following
docker/cli's cli/command/{node,secret,config}/formatter.go and cli/command/system/info.go:
column headers, `{{json .}}` row keys, the Docker API JSON shape, go-units' humanised times
and sizes, and Go's text/tabwriter layout (minwidth 10, padding 3).

One module per kind of object; `_common` (value formatting) and `_format` (tables and
`--format` templates) are shared by them. The names the CLI and its tests use are here.
"""

from __future__ import annotations

from ._common import (
    Row,
    bytes_size,
    human_duration,
    natural_key,
    now,
    short_id,
)
from ._format import expand, format_inspect, format_rows, tabwrite
from .logs import log_context, log_timestamp
from .networks import NETWORK_HEADERS, NETWORK_TABLE, VXLAN_ID_OPTION, network_inspect, network_row
from .nodes import NODE_HEADERS, node_inspect, node_pretty, node_row, node_table, sort_nodes
from .progress import progress_line
from .secrets_configs import (
    CONFIG_HEADERS,
    CONFIG_TABLE,
    SECRET_HEADERS,
    SECRET_TABLE,
    config_inspect,
    config_pretty,
    config_row,
    secret_inspect,
    secret_pretty,
    secret_row,
)
from .service_inspect import service_inspect
from .service_pretty import service_pretty
from .services import (
    SERVICE_HEADERS,
    SERVICE_TABLE,
    service_mode,
    service_ports,
    service_replicas,
    service_row,
    sort_services,
)
from .swarm import init_message, join_command, swarm_info, swarm_info_text
from .tasks import TASK_HEADERS, TASK_TABLE, task_name, task_rows, task_state

__all__ = [
    "CONFIG_HEADERS",
    "CONFIG_TABLE",
    "NETWORK_HEADERS",
    "NETWORK_TABLE",
    "NODE_HEADERS",
    "SECRET_HEADERS",
    "SECRET_TABLE",
    "SERVICE_HEADERS",
    "SERVICE_TABLE",
    "TASK_HEADERS",
    "TASK_TABLE",
    "VXLAN_ID_OPTION",
    "Row",
    "bytes_size",
    "config_inspect",
    "config_pretty",
    "config_row",
    "expand",
    "format_inspect",
    "format_rows",
    "human_duration",
    "init_message",
    "join_command",
    "log_context",
    "log_timestamp",
    "natural_key",
    "network_inspect",
    "network_row",
    "node_inspect",
    "node_pretty",
    "node_row",
    "node_table",
    "now",
    "progress_line",
    "secret_inspect",
    "secret_pretty",
    "secret_row",
    "service_inspect",
    "service_mode",
    "service_ports",
    "service_pretty",
    "service_replicas",
    "service_row",
    "short_id",
    "sort_nodes",
    "sort_services",
    "swarm_info",
    "swarm_info_text",
    "tabwrite",
    "task_name",
    "task_rows",
    "task_state",
]
