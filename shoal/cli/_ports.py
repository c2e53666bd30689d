"""`service create -p/--publish`: a published port, in Docker's two spellings.

    short  [published:]target[/protocol]      8080:80   53:53/udp   80   8080-8081:80-81
    long   published=8080,target=80,protocol=udp,mode=host

A value with any `key=value` in it is the long form (docker/cli opts/swarmopts/port.go); the
short form is go-connections' nat.ParsePortSpec: ranges of equal length pair up one to one, a
published range with a single target publishes each of its ports to that target, and no
published port leaves it to the cluster to allocate one (30000-32767). Both forms publish in
ingress mode unless the long form says `mode=host`; the short form has no host IP.
"""

from __future__ import annotations

import ipaddress
import re

from proto import objects_pb2

from ._options import csv_fields

PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISH_MODES = ("ingress", "host")
LONG_FORM = re.compile(r"\w+=\w+")  # Docker's test, unanchored: any key=value at all
MAX_PORT = 65535


def parse_publish(text: str) -> tuple[objects_pb2.PortConfig, ...]:
    """The ports one `--publish` value publishes; ValueError with Docker's message."""
    if LONG_FORM.search(text):
        return (_long_form(text),)
    return _short_form(text)


def _long_form(text: str) -> objects_pb2.PortConfig:
    port = objects_pb2.PortConfig(protocol="tcp", publish_mode="ingress")
    for field in csv_fields(text):
        key, sep, value = field.lower().partition("=")
        if not sep or not key:
            raise ValueError(f"invalid field: {field}")
        if key == "protocol":
            if value not in PROTOCOLS:
                raise ValueError(f"invalid protocol value '{value}'")
            port.protocol = value
        elif key == "mode":
            if value not in PUBLISH_MODES:
                raise ValueError(
                    f"invalid publish mode value ({value}): must be either 'ingress' or 'host'"
                )
            port.publish_mode = value
        elif key == "target":
            port.target_port = _port_number("target", value)
        elif key == "published":
            port.published_port = _port_number("published", value)
        else:
            raise ValueError(f"invalid field key: {key}")
    if not port.target_port:
        raise ValueError("missing mandatory field 'target'")
    return port


def _port_number(what: str, text: str) -> int:
    """strconv.ParseUint(text, 10, 16), with the message of Docker's long form."""
    if not text.isascii() or not text.isdigit():
        problem = "invalid syntax"
    elif int(text) > MAX_PORT:
        problem = "value out of range"
    else:
        return int(text)
    raise ValueError(f"invalid {what} port ({text}): value must be an integer: {problem}")


def _split(text: str) -> tuple[str, str, str]:
    """`ip:published:target` -> (ip, published, target); an IPv6 host keeps its colons."""
    parts = text.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _port_range(text: str) -> tuple[int, int]:
    """nat.ParsePortRange: "80" or "8000-8010"; ValueError if malformed."""
    first, dash, rest = text.partition("-")
    last = rest.split("-")[0] if dash else first
    for part in (first, last):
        if not part.isascii() or not part.isdigit() or int(part) > MAX_PORT:
            raise ValueError(text)
    start, end = int(first), int(last)
    if end < start:
        raise ValueError(text)
    return start, end


def _short_form(text: str) -> tuple[objects_pb2.PortConfig, ...]:
    ip, published, target = _split(text)
    target, _, protocol = target.partition("/")
    if not target:
        raise ValueError(f"no port specified: {text}<empty>")
    protocol = (protocol or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"invalid proto: {protocol}")
    if ip:
        try:
            ipaddress.ip_address(ip.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise ValueError(f"invalid IP address: {ip}") from None
    try:
        start, end = _port_range(target)
    except ValueError:
        raise ValueError(f"invalid containerPort: {target}") from None
    host_start = host_end = 0
    if published:
        try:
            host_start, host_end = _port_range(published)
        except ValueError:
            raise ValueError(f"invalid hostPort: {published}") from None
        if end - start != host_end - host_start and end != start:
            raise ValueError(
                f"invalid ranges specified for container and host Ports: {target} and {published}"
            )
    if ip:
        raise ValueError("hostip is not supported")
    if not published:
        pairs = [(0, port) for port in range(start, end + 1)]
    elif start == end:  # one target: each published port of the range goes to it
        pairs = [(host, start) for host in range(host_start, host_end + 1)]
    else:
        pairs = [(host_start + i, start + i) for i in range(end - start + 1)]
    return tuple(
        objects_pb2.PortConfig(
            protocol=protocol, target_port=target_port, published_port=host, publish_mode="ingress"
        )
        for host, target_port in pairs
    )
