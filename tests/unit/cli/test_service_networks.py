"""The networking flags of `service create` (--network, -p, --endpoint-mode, --dns*) into the
ServiceSpec, Docker's one-line errors, and how `service inspect` and `service ls` show the
networks, VIPs and ports the allocator filled in."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from proto import objects_pb2
from shoal.cli._service_networks import parse_dns_search, parse_network

from .conftest import Run
from .fake_daemon import FakeState

Spec = objects_pb2.ServiceSpec


def created(run: Run, state: FakeState, *args: str) -> Spec:
    result = run("service", "create", "-d", *args, "nginx")
    assert result.exit_code == 0, result.stderr
    (request,) = state.calls("CreateService")
    spec: Spec = request.spec
    return spec


def attachments(s: Spec) -> list[tuple[str, list[str], dict[str, str]]]:
    return [(n.target, list(n.aliases), dict(n.driver_opts)) for n in s.task_template.networks]


def endpoint_ports(s: Spec) -> list[tuple[int, int, str, str]]:
    return [
        (p.published_port, p.target_port, p.protocol, p.publish_mode) for p in s.endpoint_spec.ports
    ]


def dns(s: Spec) -> tuple[list[str], list[str], list[str]]:
    d = s.task_template.container.dns_config
    return list(d.nameservers), list(d.search), list(d.options)


FLAGS: list[tuple[list[str], Callable[[Spec], object], object]] = [
    ([], attachments, []),
    ([], lambda s: s.endpoint_spec.mode, "vip"),
    ([], lambda s: s.task_template.container.HasField("dns_config"), True),  # like Docker: {}
    (["--network", "front"], attachments, [("front", [], {})]),
    (
        ["--network", "front", "--network", "back"],
        attachments,
        [("front", [], {}), ("back", [], {})],
    ),
    (
        ["--network", "name=front,alias=web,alias=www,driver-opt=com.example.mtu=1400"],
        attachments,
        [("front", ["web", "www"], {"com.example.mtu": "1400"})],
    ),
    (["--network", "Name= front , ALIAS=Web"], attachments, [("front", ["Web"], {})]),
    (["-p", "8080:80"], endpoint_ports, [(8080, 80, "tcp", "ingress")]),
    (
        ["--publish", "published=53,target=53,protocol=udp,mode=host", "-p", "443"],
        endpoint_ports,
        [(53, 53, "udp", "host"), (0, 443, "tcp", "ingress")],
    ),
    (
        ["-p", "8080-8081:80-81"],
        endpoint_ports,
        [(8080, 80, "tcp", "ingress"), (8081, 81, "tcp", "ingress")],
    ),
    (["--endpoint-mode", "dnsrr"], lambda s: s.endpoint_spec.mode, "dnsrr"),
    (["--endpoint-mode", "VIP"], lambda s: s.endpoint_spec.mode, "vip"),
    (
        [
            "--dns",
            "8.8.8.8",
            "--dns",
            " 2001:4860:4860:0:0:0:0:8888",
            "--dns-search",
            "example.com.",
        ],
        dns,
        (["8.8.8.8", "2001:4860:4860::8888"], ["example.com"], []),
    ),
    (["--dns-option", "ndots:2", "--dns-search", "."], dns, ([], ["."], ["ndots:2"])),
]


@pytest.mark.parametrize(("flags", "read", "expected"), FLAGS, ids=[" ".join(f[0]) for f in FLAGS])
def test_flag_sets_the_spec(
    run: Run, state: FakeState, flags: list[str], read: Callable[[Spec], object], expected: object
) -> None:
    assert read(created(run, state, *flags)) == expected


BAD_FLAGS: list[tuple[list[str], str]] = [
    (
        ["--network", "alias=web"],
        'invalid argument "alias=web" for "--network" flag: network name/id is not specified',
    ),
    (["--network", "name=front,ip=10.0.0.9"], "invalid field key ip"),
    (["--network", "name=front,web"], "invalid field web"),
    (
        ["--network", "name=front,driver-opt=mtu"],
        "invalid key value pair format in driver options",
    ),
    (
        ["-p", "127.0.0.1:8080:80"],
        'invalid argument "127.0.0.1:8080:80" for "--publish" flag: hostip is not supported',
    ),
    (["-p", "published=8080"], "missing mandatory field 'target'"),
    (["-p", "target=80,mode=global"], "invalid publish mode value (global)"),
    (["--endpoint-mode", "rr"], 'invalid resolution mode "rr": use vip or dnsrr'),
    (["--dns", "dns.google"], "dns.google is not an ip address"),
    (["--dns-search", "-bad-"], "-bad- is not a valid domain"),
    (["--dns-search", "123"], "123 is not a valid domain"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[" ".join(f[0]) for f in BAD_FLAGS])
def test_malformed_values_are_one_line_errors_and_nothing_is_created(
    run: Run, state: FakeState, flags: list[str], message: str
) -> None:
    result = run("service", "create", "-d", *flags, "nginx")
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert state.calls("CreateService") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("front", "front"), ("name=front", "front"), ("a=b,name=x", None), ("x,name=y", None)],
)
def test_long_form_is_any_value_with_a_key_value_pair(text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_network(text)
    else:
        assert parse_network(text).target == expected


def test_dns_search_keeps_dockers_domain_rules() -> None:
    assert parse_dns_search(" svc.cluster.local ") == "svc.cluster.local"
    with pytest.raises(ValueError, match="is not a valid domain"):
        parse_dns_search("a" * 63 + "." + "b" * 200)


def allocate(state: FakeState, name: str = "web") -> objects_pb2.Service:
    """What the allocator does to the created service: ports published, a VIP per network."""
    service = next(s for s in state.services.values() if s.spec.name == name)
    service.endpoint.spec.CopyFrom(service.spec.endpoint_spec)
    for p in service.spec.endpoint_spec.ports:
        service.endpoint.ports.add().CopyFrom(p)
        if not p.published_port:
            service.endpoint.ports[-1].published_port = 30000
    for i, n in enumerate(service.spec.task_template.networks):
        service.endpoint.virtual_ips.add(network_id=f"{n.target}-id", addr=f"10.0.{i}.2/24")
    return service


def test_inspect_shows_networks_endpoint_ports_and_vips(run: Run, state: FakeState) -> None:
    args = ["--name", "web", "--network", "name=front,alias=www", "--network", "back"]
    run("service", "create", "-d", *args, "-p", "8080:80", "-p", "443", "--dns", "1.1.1.1", "nginx")
    allocate(state)
    (obj,) = json.loads(run("service", "inspect", "web").stdout)
    template = obj["Spec"]["TaskTemplate"]
    assert template["Networks"] == [{"Target": "front", "Aliases": ["www"]}, {"Target": "back"}]
    assert template["ContainerSpec"]["DNSConfig"] == {"Nameservers": ["1.1.1.1"]}
    https_spec = {"Protocol": "tcp", "TargetPort": 443, "PublishMode": "ingress"}
    https = {**https_spec, "PublishedPort": 30000}
    http = {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
    assert obj["Spec"]["EndpointSpec"] == {"Mode": "vip", "Ports": [http, https_spec]}
    assert obj["Endpoint"] == {
        "Spec": {"Mode": "vip", "Ports": [http, https_spec]},
        "Ports": [http, https],
        "VirtualIPs": [
            {"NetworkID": "front-id", "Addr": "10.0.0.2/24"},
            {"NetworkID": "back-id", "Addr": "10.0.1.2/24"},
        ],
    }
    pretty = run("service", "inspect", "--pretty", "web").stdout
    assert "Networks: front back \n" in pretty
    assert "Ports:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n" in pretty
    assert " PublishedPort = 30000\n  Protocol = tcp\n  TargetPort = 443\n" in pretty


def test_inspect_of_a_service_without_ports_or_networks(run: Run, state: FakeState) -> None:
    run("service", "create", "-d", "--name", "web", "nginx")
    (obj,) = json.loads(run("service", "inspect", "web").stdout)
    assert obj["Endpoint"] == {"Spec": {"Mode": "vip"}}
    assert "Networks" not in obj["Spec"]["TaskTemplate"]
    assert obj["Spec"]["TaskTemplate"]["ContainerSpec"]["DNSConfig"] == {}


def test_ls_shows_the_published_ingress_ports(run: Run, state: FakeState) -> None:
    run("service", "create", "-d", "--name", "web", "-p", "8080:80", "-p", "8443:443", "nginx")
    run("service", "create", "-d", "--name", "dns", "-p", "53:53/udp", "-p",
        "mode=host,target=9100,published=9100", "nginx")  # fmt: skip
    allocate(state, "web")
    allocate(state, "dns")
    rows = json.loads(run("service", "ls", "--format", "json").stdout)
    assert [(r["Name"], r["Ports"]) for r in rows] == [
        ("dns", "*:53->53/udp"),
        ("web", "*:8080->80/tcp, *:8443->443/tcp"),
    ]
    table = run("service", "ls").stdout.splitlines()
    assert table[0].split()[-1] == "PORTS"
    assert table[2].endswith("   nginx     *:8080->80/tcp, *:8443->443/tcp")
