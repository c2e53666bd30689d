"""The networking flags of `service create`, with Docker's syntax and messages:

    --network NET | name=NET,alias=A,alias=B,driver-opt=k=v   -> TaskSpec.networks
    -p/--publish (see _ports.py)                              -> EndpointSpec.ports
    --endpoint-mode vip|dnsrr                                 -> EndpointSpec.mode
    --dns IP, --dns-search DOMAIN, --dns-option OPT           -> ContainerSpec.dns_config

Networks are named as the user wrote them; the daemon resolves names to ids and refuses unknown
ones (docker/cli opts/network.go, opts/opts.go; the checks on the whole spec, such as dnsrr with
an ingress-published port, are the daemon's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import click

from proto import objects_pb2

from ._options import FlagValue, csv_fields
from ._ports import LONG_FORM, parse_publish

ENDPOINT_MODES = ("vip", "dnsrr")


def parse_network(text: str) -> objects_pb2.NetworkAttachmentConfig:
    """`NET`, or the long form `name=NET,alias=A,driver-opt=k=v` (keys case-insensitive)."""
    attachment = objects_pb2.NetworkAttachmentConfig()
    if not LONG_FORM.search(text):
        attachment.target = text
        return attachment
    for field in csv_fields(text):
        key, sep, value = field.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid field {field}")
        key, value = key.strip().lower(), value.strip()
        if key == "name":
            attachment.target = value
        elif key == "alias":
            attachment.aliases.append(value)
        elif key == "driver-opt":
            opt_key, opt_sep, opt_value = value.partition("=")
            if not opt_sep or not opt_key.strip():
                raise ValueError("invalid key value pair format in driver options")
            attachment.driver_opts[opt_key.strip()] = opt_value.strip()
        else:
            raise ValueError(f"invalid field key {key}")
    if not attachment.target:
        raise ValueError("network name/id is not specified")
    return attachment


def parse_endpoint_mode(text: str) -> str:
    mode = text.lower()
    if mode not in ENDPOINT_MODES:
        raise ValueError(f'invalid resolution mode "{text}": use vip or dnsrr')
    return mode


def parse_dns_server(text: str) -> str:
    """docker's ValidateIPAddress: the address in its canonical spelling."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(f"{text} is not an ip address") from None


# docker's domainRegexp, "(:?" slips included so that the same names pass
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def parse_dns_search(text: str) -> str:
    """docker's ValidateDNSSearch: a domain (trailing dot dropped) or "." for none."""
    value = text.strip(" ")
    if value == ".":
        return value
    m = _DOMAIN.match(value) if re.search("[a-zA-Z]", value) else None
    if m is None or len(m.group(1)) >= 255:
        raise ValueError(f"{value} is not a valid domain")
    return m.group(1)


NETWORK_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--network",
        "networks",
        multiple=True,
        type=FlagValue("network", parse_network),
        help="Network attachments",
    ),
    click.option(
        "-p",
        "--publish",
        multiple=True,
        type=FlagValue("port", parse_publish),
        help="Publish a port as a node port",
    ),
    click.option(
        "--endpoint-mode",
        default="vip",
        type=FlagValue("string", parse_endpoint_mode),
        help='Endpoint mode (vip or dnsrr) (default "vip")',
    ),
    click.option(
        "--dns",
        multiple=True,
        type=FlagValue("list", parse_dns_server),
        help="Set custom DNS servers",
    ),
    click.option("--dns-option", multiple=True, help="Set DNS options"),
    click.option(
        "--dns-search",
        multiple=True,
        type=FlagValue("list", parse_dns_search),
        help="Set custom DNS search domains",
    ),
]


def set_networking(spec: objects_pb2.ServiceSpec, flags: dict[str, Any]) -> None:
    """Put what the flags of NETWORK_OPTIONS say into `spec` (after its container is set)."""
    spec.task_template.networks.extend(flags["networks"])
    spec.endpoint_spec.mode = flags["endpoint_mode"]
    for ports in flags["publish"]:
        spec.endpoint_spec.ports.extend(ports)
    # Docker always sends a DNSConfig, empty when no flag is given
    dns = spec.task_template.container.dns_config
    dns.SetInParent()
    dns.nameservers.extend(flags["dns"])
    dns.search.extend(flags["dns_search"])
    dns.options.extend(flags["dns_option"])
