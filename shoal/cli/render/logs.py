"""`service logs` line prefixes: the `-t` timestamp and the `web.1@node2 |` task context."""

from __future__ import annotations

import time


def log_timestamp(unix_nano: int) -> str:
    """RFC 3339 with nine fraction digits, as `service logs -t` aligns them."""
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    moment = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{nanos:09d}Z"


def log_context(
    service_name: str, slot_or_node: str, task_id: str, node: str, *, task_ids: bool, pad: int
) -> str:
    """docker's `web.1.abc123def456@node2` (without task ids: `web.1@node2`), padded so the
    columns line up when slot numbers have different widths."""
    name = f"{service_name}.{slot_or_node}"
    if task_ids:
        name += f".{task_id}"
    return f"{name}@{node}{' ' * max(pad, 0)}    | "
