"""Parsing of Docker-style flag values: Go durations, filters, labels, node addresses, and
the service flags (sizes, CPUs, mounts, secrets, configs, ulimits, env files)."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import click
from google.protobuf.duration_pb2 import Duration

from proto import objects_pb2

_DURATION_UNITS = {
    "ns": Decimal(1),
    "us": Decimal(10**3),
    "µs": Decimal(10**3),  # U+00B5 micro sign
    "μs": Decimal(10**3),  # U+03BC Greek mu
    "ms": Decimal(10**6),
    "s": Decimal(10**9),
    "m": Decimal(60 * 10**9),
    "h": Decimal(3600 * 10**9),
}
_NUMBER = re.compile(r"(\d*)(?:\.(\d*))?")
_UNIT = re.compile(r"[^\d.]*")


def parse_go_duration(text: str) -> int:
    """Nanoseconds in `text`, parsed like Go's time.ParseDuration ("1h30m", "5s", "2160h0m0s").

    Raises ValueError with Go's message (so "90d" fails as it does for docker).
    """
    s = text
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = Decimal(0)
    while s:
        number = _NUMBER.match(s)
        assert number is not None  # the pattern matches the empty string
        whole, frac = number.group(1), number.group(2)
        if not whole and not frac:
            raise ValueError(f'time: invalid duration "{text}"')
        s = s[number.end() :]
        unit_match = _UNIT.match(s)
        unit = unit_match.group(0) if unit_match else ""
        s = s[len(unit) :]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += Decimal(f"{whole or '0'}.{frac or '0'}") * _DURATION_UNITS[unit]
    nanos = int(total)
    return -nanos if negative else nanos


class GoDuration(click.ParamType[int]):
    """A Go duration flag value, converted to nanoseconds."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_go_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


class Label(click.ParamType[tuple[str, str]]):
    """`key=value` or `key` (empty value), as docker's opts.ValidateLabel."""

    name = "list"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return (str(value[0]), str(value[1]))
        text = str(value)
        key, _, val = text.partition("=")
        if not key.strip():
            self.fail(f"invalid label '{text}': empty name", param, ctx)
        return (key, val)


class Filter(click.ParamType[tuple[str, str]]):
    """`name=value` of -f/--filter, as docker's filters.ParseFlag."""

    name = "filter"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return (str(value[0]), str(value[1]))
        text = str(value)
        if "=" not in text:
            self.fail("bad format of filter (expected name=value)", param, ctx)
        name, _, val = text.partition("=")
        return (name.strip().lower(), val.strip())


def list_options(f: Callable[..., None]) -> Callable[..., None]:
    """The options every `ls` takes, like Docker's: -q, --format and -f/--filter."""
    f = click.option(
        "-f", "--filter", "filters", type=Filter(), multiple=True,
        help="Filter output based on conditions provided",
    )(f)  # fmt: skip
    f = click.option(
        "--format", "fmt", default="", help="Format output: table (default), json, or a template"
    )(f)
    return click.option("-q", "--quiet", is_flag=True, help="Only display IDs")(f)


class ListenAddr(click.ParamType[str]):
    """`<ip|interface>[:port]`; no host: 0.0.0.0, no port: 2377 (docker's NodeAddrOption)."""

    name = "node-addr"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        return with_default_port(str(value), default_host="0.0.0.0")


DEFAULT_PORT = 2377


def with_default_port(addr: str, *, default_host: str = "", port: int = DEFAULT_PORT) -> str:
    """`addr` with `:port` added when it has none ("[v6]" brackets kept or added)."""
    addr = addr.removeprefix("tcp://")
    if addr.startswith("["):
        return addr if "]:" in addr else f"{addr}:{port}"
    if addr.count(":") > 1:  # a bare IPv6 address
        return f"[{addr}]:{port}"
    host, sep, given_port = addr.partition(":")
    return f"{host or default_host}:{given_port if sep and given_port else port}"


def filters_to_map(filters: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in filters:
        out.setdefault(name, []).append(value)
    return out


# ---- service flags (docker/cli opts/*.go); values become proto messages ----


class FlagValue(click.ParamType[object]):
    """A flag value parsed by `parse`; a ValueError is Docker's one-line flag error, exit 1:
    `invalid argument "5q" for "--limit-memory" flag: invalid size: '5q'`."""

    def __init__(self, name: str, parse: Callable[[str], object]) -> None:
        self.name = name
        self._parse = parse

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> object:
        if not isinstance(value, str):
            return value
        try:
            return self._parse(value)
        except ValueError as e:
            flag = max(param.opts, key=len) if isinstance(param, click.Option) else "value"
            raise FlagError(f'invalid argument "{value}" for "{flag}" flag: {e}') from None


class FlagError(click.ClickException):
    """`Error: <message>` and exit 1, like every other shoal error."""


INT64_MAX = (1 << 63) - 1  # the widest field a value lands in on the wire


def _fits(value: int, text: str) -> int:
    if value > INT64_MAX:
        raise ValueError(f'value out of range: "{text}"')
    return value


_RAM = re.compile(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")
_RAM_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_mem_bytes(text: str) -> int:
    """go-units RAMInBytes: "512m", "1g", "100MiB", "1024" (binary units)."""
    m = _RAM.fullmatch(text)
    if m is None:
        raise ValueError(f"invalid size: '{text}'")
    return _fits(int(Decimal(m.group(1)) * _RAM_UNITS[(m.group(2) or "").lower()]), text)


def parse_nano_cpus(text: str) -> int:
    """docker's NanoCPUs: a decimal number of CPUs ("0.5"), kept in nano-CPUs."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {text} as a rational number") from None
    nanos = value * 10**9
    if nanos.denominator != 1:
        raise ValueError("value is too precise")
    if nanos < 0:
        raise ValueError("CPU value must not be negative")
    return _fits(int(nanos), text)


def parse_uint(text: str) -> int:
    """Go's strconv.ParseUint, base 10."""
    if not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    return _fits(int(text), text)


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def parse_duration(text: str) -> Duration:
    d = Duration()
    d.FromNanoseconds(parse_go_duration(text))
    return d


def _go_bool(key: str, value: str) -> bool:
    """strconv.ParseBool."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def csv_fields(text: str) -> list[str]:
    """The fields of a comma-separated flag value, quotes as in CSV (Go's csv.Reader)."""
    return next(csv.reader([text])) if text else []


def _go_uint_base0(text: str) -> int:
    """strconv.ParseUint(value, 0, 32): "0444" octal, "0x1ff" hex, "292" decimal."""
    if len(text) > 1 and text[0] == "0" and text[1] not in "xXoObB":
        text = "0o" + text[1:]
    return int(text, 0)


MOUNT_TYPES = ("bind", "volume", "tmpfs")


def parse_mount(text: str) -> objects_pb2.Mount:
    """docker's MountOpt: `type=volume,source=data,target=/data,readonly,...`."""
    mount = objects_pb2.Mount(type="volume")
    used: set[str] = set()
    for field in csv_fields(text):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("readonly", "ro", "volume-nocopy"):
                value = "true"
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
        prefix = key.split("-")[0]
        used.add(prefix if prefix in ("bind", "volume", "tmpfs") else "")
        if key == "type":
            mount.type = value.lower()
            if mount.type not in MOUNT_TYPES:
                raise ValueError(
                    f'invalid MountType: "{value}" (use one of {", ".join(MOUNT_TYPES)})'
                )
        elif key in ("source", "src"):
            mount.source = value
        elif key in ("target", "dst", "destination"):
            mount.target = value
        elif key in ("readonly", "ro"):
            mount.read_only = _go_bool(key, value)
        elif key == "consistency":
            mount.consistency = value
        elif key == "bind-propagation":
            mount.bind_propagation = value.lower()
        elif key == "volume-nocopy":
            mount.volume_nocopy = _go_bool(key, value)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            mount.volume_labels[k] = v
        elif key == "volume-driver":
            mount.volume_driver = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            mount.volume_driver_options[k] = v
        elif key == "tmpfs-size":
            mount.tmpfs_size_bytes = parse_mem_bytes(value)
        elif key == "tmpfs-mode":
            try:
                mount.tmpfs_mode = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not mount.target:
        raise ValueError("target is required")
    for kind in ("bind", "volume", "tmpfs"):
        if kind in used and mount.type != kind:
            raise ValueError(f"cannot mix '{kind}-*' options with mount type '{mount.type}'")
    return mount


def _file_reference(kind: str, text: str) -> tuple[str, objects_pb2.FileTarget]:
    """docker's SecretOpt/ConfigOpt: `name` or `source=name,target=x,uid=0,gid=0,mode=0444`."""
    target = objects_pb2.FileTarget(uid="0", gid="0", mode=0o444)
    fields = csv_fields(text)
    if len(fields) == 1 and "=" not in fields[0]:
        target.name = fields[0]
        return fields[0], target
    source = ""
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        key = key.strip().lower()
        if key in ("source", "src"):
            source = value
        elif key == "target":
            target.name = value
        elif key == "uid":
            target.uid = value
        elif key == "gid":
            target.gid = value
        elif key == "mode":
            try:
                target.mode = _go_uint_base0(value)
            except ValueError:
                raise ValueError(
                    f'invalid mode specified: strconv.ParseUint: parsing "{value}": invalid syntax'
                ) from None
        else:
            raise ValueError(f"invalid field in {kind} request: {key}")
    if not source:
        raise ValueError("source is required")
    if not target.name:
        target.name = source
    return source, target


def parse_secret(text: str) -> objects_pb2.SecretReference:
    name, target = _file_reference("secret", text)
    return objects_pb2.SecretReference(secret_name=name, file=target)


def parse_config(text: str) -> objects_pb2.ConfigReference:
    name, target = _file_reference("config", text)
    return objects_pb2.ConfigReference(config_name=name, file=target)


def parse_ulimit(text: str) -> objects_pb2.Ulimit:
    """go-units ParseUlimit: `nofile=1024` or `nofile=1024:2048`."""
    name, sep, limits = text.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, colon, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if colon else soft
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {text}") from None
    if soft > hard:
        raise ValueError(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return objects_pb2.Ulimit(name=name, soft=soft, hard=hard)


_ULIMITS = frozenset(
    [
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ]
)


def parse_key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"invalid key=value pair: {text!r}")
    return key, value


def parse_placement_pref(text: str) -> objects_pb2.PlacementPreference:
    """`spread=node.labels.zone` (docker's placementPrefOpts)."""
    strategy, sep, arg = text.partition("=")
    if not sep:
        raise ValueError(f"invalid placement preference: {text}")
    if strategy.lower() != "spread":
        raise ValueError(f"unsupported placement preference {strategy} (only spread is supported)")
    return objects_pb2.PlacementPreference(spread=arg)


def env_entry(text: str) -> str:
    """docker's ValidateEnv: `KEY=value`, or `KEY` taking the value from this environment."""
    if "=" in text:
        return text
    value = os.environ.get(text)
    return text if value is None else f"{text}={value}"


def read_env_file(path: str) -> list[str]:
    """docker's ParseEnvFile: one `KEY=value` (or `KEY`) a line; `#` comments and blank lines
    skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise FlagError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    out = []
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        key = stripped.split("=", 1)[0]
        if not key or any(c.isspace() for c in key):
            raise FlagError(f"{path}:{number}: variable '{key}' contains whitespaces")
        out.append(env_entry(stripped))
    return out
