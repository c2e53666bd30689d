"""`-p/--publish` values to PortConfigs (Docker's short and long forms, and its messages), and
the PORTS column of `service ls` made from them (Docker's ranges, host mode left out)."""

from __future__ import annotations

import pytest

from proto import objects_pb2
from shoal.cli import render
from shoal.cli._ports import parse_publish

# (published, target, protocol, mode)
Port = tuple[int, int, str, str]


def ports(text: str) -> list[Port]:
    return [
        (p.published_port, p.target_port, p.protocol, p.publish_mode) for p in parse_publish(text)
    ]


PUBLISH: list[tuple[str, list[Port]]] = [
    ("8080:80", [(8080, 80, "tcp", "ingress")]),
    ("80", [(0, 80, "tcp", "ingress")]),  # published port allocated by the cluster
    ("53:53/udp", [(53, 53, "udp", "ingress")]),
    ("53/UDP", [(0, 53, "udp", "ingress")]),
    ("9000:9000/sctp", [(9000, 9000, "sctp", "ingress")]),
    ("8080-8081:80-81", [(8080, 80, "tcp", "ingress"), (8081, 81, "tcp", "ingress")]),
    (
        "8080-8082:80",
        [(8080, 80, "tcp", "ingress"), (8081, 80, "tcp", "ingress"), (8082, 80, "tcp", "ingress")],
    ),
    ("80-81", [(0, 80, "tcp", "ingress"), (0, 81, "tcp", "ingress")]),
    ("published=8080,target=80", [(8080, 80, "tcp", "ingress")]),
    ("target=80", [(0, 80, "tcp", "ingress")]),
    ("target=53,published=53,protocol=udp,mode=host", [(53, 53, "udp", "host")]),
    ("Target=80,Mode=HOST", [(0, 80, "tcp", "host")]),  # keys and values case-insensitive
    ("mode=ingress,target=80,published=30000", [(30000, 80, "tcp", "ingress")]),
]


@pytest.mark.parametrize(("text", "expected"), PUBLISH, ids=[p[0] for p in PUBLISH])
def test_publish_forms(text: str, expected: list[Port]) -> None:
    assert ports(text) == expected


BAD_PUBLISH: list[tuple[str, str]] = [
    ("published=8080", "missing mandatory field 'target'"),
    ("target=80,colour=red", "invalid field key: colour"),
    ("target=80,udp", "invalid field: udp"),
    ("target=80,protocol=icmp", "invalid protocol value 'icmp'"),
    (
        "target=80,mode=local",
        "invalid publish mode value (local): must be either 'ingress' or 'host'",
    ),
    ("target=http", "invalid target port (http): value must be an integer: invalid syntax"),
    (
        "target=80,published=70000",
        "invalid published port (70000): value must be an integer: value out of range",
    ),
    ("8080:", "no port specified: 8080:<empty>"),
    ("8080:80/icmp", "invalid proto: icmp"),
    ("8080:http", "invalid containerPort: http"),
    ("70000:80", "invalid hostPort: 70000"),
    ("81-80", "invalid containerPort: 81-80"),
    (
        "8080-8081:80-82",
        "invalid ranges specified for container and host Ports: 80-82 and 8080-8081",
    ),
    ("127.0.0.1:8080:80", "hostip is not supported"),
    ("0.0.0.0:8080:80", "hostip is not supported"),
    ("localhost:8080:80", "invalid IP address: localhost"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PUBLISH, ids=[b[0] for b in BAD_PUBLISH])
def test_malformed_publish_values(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_publish(text)
    assert str(e.value) == message


def service_with(*allocated: tuple[int, int, str, str]) -> objects_pb2.Service:
    service = objects_pb2.Service(id="s1")
    for published, target, protocol, mode in allocated:
        service.endpoint.ports.add(
            published_port=published, target_port=target, protocol=protocol, publish_mode=mode
        )
    return service


PORTS_COLUMN: list[tuple[list[Port], str]] = [
    ([], ""),
    ([(8080, 80, "tcp", "ingress")], "*:8080->80/tcp"),
    ([(8080, 80, "tcp", "host")], ""),  # host mode: only `service ps` shows it
    ([(8080, 80, "tcp", "host"), (8443, 443, "tcp", "ingress")], "*:8443->443/tcp"),
    ([(8081, 81, "tcp", "ingress"), (8080, 80, "tcp", "ingress")], "*:8080-8081->80-81/tcp"),
    (
        [(8080, 80, "tcp", "ingress"), (8081, 80, "tcp", "ingress"), (8082, 80, "tcp", "ingress")],
        "*:8080-8082->80/tcp",
    ),
    (
        [(53, 53, "udp", "ingress"), (53, 53, "tcp", "ingress"), (8080, 80, "tcp", "ingress")],
        "*:53->53/tcp, *:8080->80/tcp, *:53->53/udp",
    ),
    (
        [(8080, 80, "tcp", "ingress"), (9090, 90, "tcp", "ingress")],
        "*:8080->80/tcp, *:9090->90/tcp",
    ),
    # consecutive published ports whose targets go down are separate
    (
        [(8080, 81, "tcp", "ingress"), (8081, 80, "tcp", "ingress")],
        "*:8080->81/tcp, *:8081->80/tcp",
    ),
    # a range of targets ends when a target repeats
    (
        [(8080, 80, "tcp", "ingress"), (8081, 81, "tcp", "ingress"), (8082, 81, "tcp", "ingress")],
        "*:8080-8081->80-81/tcp, *:8082->81/tcp",
    ),
    (
        [(30000, 80, "tcp", "ingress"), (30001, 443, "tcp", "ingress")],
        "*:30000->80/tcp, *:30001->443/tcp",
    ),
]


@pytest.mark.parametrize(("allocated", "column"), PORTS_COLUMN, ids=[c for _, c in PORTS_COLUMN])
def test_service_ls_ports_column(allocated: list[Port], column: str) -> None:
    assert render.service_ports(service_with(*allocated)) == column


def test_ports_column_before_allocation_uses_the_published_ports_of_the_spec() -> None:
    service = objects_pb2.Service(id="s1")
    service.spec.endpoint_spec.ports.add(published_port=8080, target_port=80, protocol="tcp")
    service.spec.endpoint_spec.ports.add(target_port=443, protocol="tcp")  # not allocated yet
    assert render.service_ports(service) == "*:8080->80/tcp"
