"""Parsing of Docker-style flag values: Go durations, filters, labels, node addresses."""

from __future__ import annotations

import re
from decimal import Decimal

import click

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


def labels_to_map(labels: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(labels)


def filters_to_map(filters: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in filters:
        out.setdefault(name, []).append(value)
    return out
