"""`shoal network create|ls|inspect|rm` against the fake daemon: the spec sent, Docker's
IPAM checks and messages, columns, filters and the inspect JSON."""

from __future__ import annotations

import json

import grpc
import pytest

from proto import objects_pb2
from shoal.cli import render
from shoal.cli._ipam import ipam_configs, parse_gateways, parse_ip_ranges

from .conftest import Run
from .fake_daemon import T0, FakeState, meta

Networks = list[objects_pb2.Network]


def network(state: FakeState, run: Run, *args: str) -> objects_pb2.Network:
    result = run("network", "create", *args)
    assert result.exit_code == 0, result.stderr
    created = list(state.networks.values())[-1]
    assert result.stdout == f"{created.id}\n"  # the id, like docker
    return created


def sent(state: FakeState) -> objects_pb2.NetworkSpec:
    spec: objects_pb2.NetworkSpec = state.calls("CreateNetwork")[-1].spec
    return spec


def test_create_sends_the_spec_and_prints_the_id(run: Run, state: FakeState) -> None:
    network(
        state, run, "-d", "overlay", "--attachable", "--internal", "--label", "env=prod",
        "--label", "team", "-o", "com.example.mtu=1400", "front",
    )  # fmt: skip
    spec = sent(state)
    assert (spec.name, spec.driver, spec.attachable, spec.internal, spec.ingress) == (
        "front",
        "overlay",
        True,
        True,
        False,
    )
    assert dict(spec.labels) == {"env": "prod", "team": ""}
    assert dict(spec.driver_options) == {"com.example.mtu": "1400"}
    assert list(spec.ipam_configs) == []


def test_create_defaults_to_an_overlay_network(run: Run, state: FakeState) -> None:
    network(state, run, "back")
    assert sent(state).driver == "overlay"


def test_opt_encrypted_goes_to_the_daemon_which_explains_its_refusal(
    run: Run, state: FakeState
) -> None:
    state.failures["CreateNetwork"] = (
        grpc.StatusCode.INVALID_ARGUMENT,
        "encrypted overlay networks are not supported yet: remove --opt encrypted",
    )
    result = run("network", "create", "--opt", "encrypted", "secure")
    assert dict(sent(state).driver_options) == {"encrypted": ""}
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: encrypted overlay networks are not supported yet: remove --opt encrypted\n"
    )


def test_create_ipam_flags(run: Run, state: FakeState) -> None:
    network(
        state, run, "--subnet", "10.20.0.0/16", "--ip-range", "10.20.5.0/24",
        "--gateway", "10.20.0.254", "--subnet", "10.30.0.0/24", "front",
    )  # fmt: skip
    configs = [(c.subnet, c.range, c.gateway) for c in sent(state).ipam_configs]
    assert configs == [("10.20.0.0/16", "10.20.5.0/24", "10.20.0.254"), ("10.30.0.0/24", "", "")]


IPAM: list[tuple[list[str], str]] = [
    (["--gateway", "10.0.0.1"], "every ip-range or gateway must have a corresponding subnet"),
    (["--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16"], "multiple overlapping subnet"),
    (["--subnet", "10.1.0.0/16,10.0.0.0/8"], "multiple overlapping subnet"),
    (["--subnet", "10.0.0.0/33"], "invalid subnet: invalid CIDR address: 10.0.0.0/33"),
    (["--subnet", "10.0.0.0"], "invalid subnet: invalid CIDR address: 10.0.0.0"),
    (
        ["--subnet", "10.0.0.0/24", "--gateway", "10.9.0.1"],
        "no matching subnet for gateway 10.9.0.1",
    ),
    (
        ["--subnet", "10.0.0.0/24", "--ip-range", "10.9.0.0/25"],
        "no matching subnet for range 10.9.0.0/25",
    ),
    (
        ["--subnet", "10.0.0.0/24", "--subnet", "10.1.0.0/24", "--gateway", "10.0.0.1,10.0.0.2"],
        "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/24)",
    ),
    (
        [
            "--subnet",
            "10.0.0.0/24",
            "--subnet",
            "10.1.0.0/24",
            "--ip-range",
            "10.0.0.0/26",
            "--ip-range",
            "10.0.0.128/26",
        ],
        "cannot configure multiple ranges (10.0.0.128/26, 10.0.0.0/26) on the same subnet "
        "(10.0.0.0/24)",
    ),
    (
        ["--subnet", "10.0.0.0/24", "--ip-range", "nope"],
        'invalid argument "nope" for "--ip-range" flag: invalid CIDR address: nope',
    ),
    (
        ["--subnet", "10.0.0.0/24", "--gateway", "10.0.0.300"],
        'invalid argument "10.0.0.300" for "--gateway" flag: '
        "invalid string being converted to IP address: 10.0.0.300",
    ),
]


@pytest.mark.parametrize(("args", "message"), IPAM, ids=[" ".join(a) for a, _ in IPAM])
def test_create_refuses_malformed_flags_with_dockers_message(
    run: Run, state: FakeState, args: list[str], message: str
) -> None:
    result = run("network", "create", *args, "front")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert state.calls("CreateNetwork") == []


def test_ranges_and_gateways_are_written_canonically() -> None:
    assert parse_ip_ranges("10.0.0.77/28, 10.0.1.0/24") == ("10.0.0.64/28", "10.0.1.0/24")
    assert parse_gateways("2001:db8:0:0::1") == ("2001:db8::1",)
    (config,) = ipam_configs(["10.0.0.0/24"], ["10.0.0.64/28"], ["10.0.0.1"])
    assert (config.subnet, config.range, config.gateway) == (
        "10.0.0.0/24",
        "10.0.0.64/28",
        "10.0.0.1",
    )


@pytest.fixture
def three(run: Run, state: FakeState) -> list[objects_pb2.Network]:
    made = [
        network(state, run, "--label", "env=prod", "web10"),
        network(state, run, "--label", "env=dev", "--internal", "web2"),
        network(state, run, "db"),
    ]
    state.networks[made[2].id].meta.CopyFrom(meta(1, T0 - 3600))  # older: sorting is by name
    return made


def test_ls_columns_sorted_by_name(run: Run, state: FakeState, three: Networks) -> None:
    result = run("network", "ls")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    assert [line.split() for line in lines[1:]] == [
        [three[2].id[:12], "db", "overlay", "swarm"],
        [three[1].id[:12], "web2", "overlay", "swarm"],
        [three[0].id[:12], "web10", "overlay", "swarm"],
    ]
    by_name = [three[2], three[1], three[0]]
    assert run("network", "ls", "-q").stdout.split() == [n.id[:12] for n in by_name]
    assert run("network", "ls", "-q", "--no-trunc").stdout.split()[0] == three[2].id


def test_ls_json_rows(run: Run, state: FakeState, three: Networks) -> None:
    rows = json.loads(run("network", "ls", "--format", "json").stdout)
    assert rows[1] == {
        "ID": three[1].id[:12],
        "Name": "web2",
        "Driver": "overlay",
        "Scope": "swarm",
        "IPv4": "true",
        "IPv6": "false",
        "Internal": "true",
        "Labels": "env=dev",
        "CreatedAt": "2023-11-14 22:13:20 +0000 UTC",
    }
    template = run("network", "ls", "--format", "{{.Name}}: {{.Labels}}").stdout
    assert template == "db: \nweb2: env=dev\nweb10: env=prod\n"


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (["name=web"], ["web2", "web10"]),
        (["name=^web1"], ["web10"]),
        (["name=db", "name=web2"], ["db", "web2"]),
        (["label=env"], ["web2", "web10"]),
        (["label=env=prod"], ["web10"]),
        (["label=env=prod", "name=db"], []),
        (["driver=overlay"], ["db", "web2", "web10"]),
        (["driver=bridge"], []),
        (["scope=swarm"], ["db", "web2", "web10"]),
        (["scope=local"], []),
        (["type=custom"], ["db", "web2", "web10"]),
        (["type=builtin"], []),
    ],
)
def test_ls_filters(
    run: Run, state: FakeState, three: Networks, filters: list[str], names: list[str]
) -> None:
    args = [a for f in filters for a in ("-f", f)]
    rows = json.loads(run("network", "ls", "--format", "json", *args).stdout)
    assert [r["Name"] for r in rows] == names


def test_ls_filter_by_id(run: Run, state: FakeState, three: Networks) -> None:
    assert run("network", "ls", "-q", "-f", f"id={three[1].id}").stdout.split() == [
        three[1].id[:12]
    ]
    assert len(run("network", "ls", "-q", "-f", "id=net").stdout.split()) == 3
    assert run("network", "ls", "-q", "-f", "id=^net00[12]").stdout.split() == [
        three[1].id[:12],
        three[0].id[:12],
    ]


@pytest.mark.parametrize(
    ("flag", "message"),
    [("colour=red", "Error: invalid filter 'colour'\n"),
     ("type=odd", "Error: Invalid filter: 'type'='odd'\n")],
)  # fmt: skip
def test_ls_bad_filters(run: Run, flag: str, message: str) -> None:
    result = run("network", "ls", "-f", flag)
    assert (result.exit_code, result.stderr) == (1, message)


def test_inspect_is_dockers_shape(run: Run, state: FakeState) -> None:
    created = network(
        state, run, "--attachable", "--label", "env=prod", "-o", "com.example.mtu=1400",
        "--subnet", "10.20.0.0/16", "--ip-range", "10.20.5.0/24", "--gateway", "10.20.0.1",
        "front",
    )  # fmt: skip
    result = run("network", "inspect", "front")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "Name": "front",
            "Id": created.id,
            "Created": "2023-11-14T22:13:20Z",
            "Scope": "swarm",
            "Driver": "overlay",
            "EnableIPv6": False,
            "IPAM": {
                "Driver": "default",
                "Options": None,
                "Config": [
                    {"Subnet": "10.20.0.0/16", "IPRange": "10.20.5.0/24", "Gateway": "10.20.0.1"}
                ],
            },
            "Internal": False,
            "Attachable": True,
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            "Containers": {},
            "Options": {
                "com.example.mtu": "1400",
                render.VXLAN_ID_OPTION: str(created.vxlan_id),
            },
            "Labels": {"env": "prod"},
        }
    ]
    template = run("network", "inspect", "-f", "{{.Name}} {{json .IPAM.Config}}", "front")
    assert template.stdout == (
        'front [{"Subnet":"10.20.0.0/16","IPRange":"10.20.5.0/24","Gateway":"10.20.0.1"}]\n'
    )


def test_inspect_of_an_unallocated_network_shows_what_was_asked(run: Run, state: FakeState) -> None:
    n = objects_pb2.Network(id="n" * 25, meta=meta(1), spec=objects_pb2.NetworkSpec(name="x"))
    n.spec.ipam_configs.add(subnet="10.9.0.0/24")
    state.networks[n.id] = n
    (obj,) = json.loads(run("network", "inspect", "x").stdout)
    assert obj["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}]
    assert obj["Options"] == {}


def test_inspect_several_reports_each_missing_one(run: Run, state: FakeState) -> None:
    network(state, run, "front")
    result = run("network", "inspect", "nope", "front")
    assert result.exit_code == 1
    assert [o["Name"] for o in json.loads(result.stdout)] == ["front"]
    assert result.stderr == "Error: network nope not found\n"


def test_rm_prints_each_name_and_reports_failures(run: Run, state: FakeState) -> None:
    network(state, run, "front")
    network(state, run, "back")
    state.ref_failures["RemoveNetwork"] = {
        "back": (grpc.StatusCode.FAILED_PRECONDITION, "network back is in use by service web")
    }
    result = run("network", "rm", "front", "nope", "back")
    assert result.stdout == "front\n"
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: network nope not found\nError: network back is in use by service web\n"
    )
    assert [n.spec.name for n in state.networks.values()] == ["back"]


def test_rm_force_ignores_missing_networks(run: Run, state: FakeState) -> None:
    network(state, run, "front")
    result = run("network", "remove", "-f", "nope", "front")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "front\n", "")


def test_rm_ingress_asks_first(run: Run, state: FakeState) -> None:
    network(state, run, "--ingress", "ingress")
    refused = run("network", "rm", "ingress", input="n\n")
    assert "WARNING! Before removing the routing-mesh network" in refused.stdout
    assert (refused.exit_code, state.calls("RemoveNetwork")) == (0, [])
    no_terminal = run("network", "rm", "ingress")
    assert (no_terminal.exit_code, state.calls("RemoveNetwork")) == (0, [])
    confirmed = run("network", "rm", "ingress", input="y\n")
    assert confirmed.stdout.endswith("ingress\n")
    assert state.networks == {}
