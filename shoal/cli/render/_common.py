"""Go and go-units formatting of single values (times, durations, sizes, booleans, ids) and
the small helpers the renderers share."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeAlias, cast

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
Row: TypeAlias = dict[str, JSON]


# ---- Go and go-units formatting ----


def pretty(value: str) -> str:
    """docker's formatter.PrettyPrint: first letter upper, the rest lower ("ready" -> "Ready")."""
    if len(value) <= 1:
        return value.lower()
    return value[0].upper() + value[1:].lower()


def human_duration(seconds: float) -> str:
    """go-units HumanDuration ("Less than a second", "About a minute", "3 hours", ...)."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize ("7.704GiB")."""
    unit = 0
    while size >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{_BINARY_UNITS[unit]}"


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _fraction(ts: Timestamp) -> str:
    digits = f"{ts.nanos:09d}".rstrip("0")
    return f".{digits}" if digits else ""


def rfc3339(ts: Timestamp) -> str:
    """A time as the Docker API's JSON carries it (Go's RFC3339Nano in UTC)."""
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}{_fraction(ts)}Z"


def go_time(ts: Timestamp) -> str:
    """Go's time.Time.String() in UTC ("2016-06-16 22:52:44.9910662 +0000 UTC")."""
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}{_fraction(ts)} +0000 UTC"


def ago(ts: Timestamp, now: float) -> str:
    return human_duration(now - _seconds(ts)) + " ago"


def _nanos(d: Duration) -> int:
    return d.seconds * 10**9 + d.nanos


def _human_nanos(d: Duration) -> str:
    return human_duration(_nanos(d) / 1e9)


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key of fvbommel/sortorder.NaturalLess ("node2" before "node10")."""
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def go_duration(d: Duration) -> str:
    """Go's time.Duration.String() ("5s", "1m30s", "1h0m0s", "500ms")."""
    ns = _nanos(d)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


# ---- the clock (tests replace `render.now`) ----


def now() -> float:
    return time.time()


# ---- truncation ----


def short_id(object_id: str) -> str:
    """docker's stringid.TruncateID."""
    return object_id[:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def image_without_digest(image: str) -> str:
    """`nginx:1.27@sha256:...` as `nginx:1.27` (docker trims the digest unless --no-trunc)."""
    return image.split("@", 1)[0]


# ---- pieces of rows and pretty text ----


def _put(out: Row, key: str, value: object) -> None:
    """Go's `omitempty` (`value` is JSON: rows and lists of rows)."""
    if value not in (None, "", 0, False, [], {}):
        out[key] = cast(JSON, value)


def _label_lines(title: str, labels: Mapping[str, str]) -> list[str]:
    if not labels:
        return []
    return [title] + [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(labels.items())]


def _labels_csv(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())
