"""The nft renderers (golden text) and how nftapply calls nft (a fake subprocess.run).

That the kernel accepts every rendered script (`nft -c`) and that the rules move packets is
checked in tests/integration/overlay/test_nft.py (root, namespaces).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from overlay_net import nftapply
from overlay_net.nft import (
    HostPort,
    MeshRule,
    VipRule,
    container_table,
    host_table,
    ingress_sbox_table,
)

PRELUDE = "table ip shoal {}\ndelete table ip shoal\n"

CONTAINER = (
    PRELUDE
    + """table ip shoal {
	chain nat_output {
		type nat hook output priority -100; policy accept;
		ip daddr 10.0.1.2 dnat to numgen inc mod 3 map { 0 : 10.0.1.5, 1 : 10.0.1.9, 2 : 10.0.1.10 }
		ip daddr 10.0.2.2 dnat to 10.0.2.7
	}
	chain filter_output {
		type filter hook output priority 0; policy accept;
		ip daddr 10.0.3.2 meta l4proto tcp reject with tcp reset
		ip daddr 10.0.3.2 reject
	}
}
"""
)

INGRESS = (
    PRELUDE
    + """table ip shoal {
	chain nat_prerouting {
		type nat hook prerouting priority -100; policy accept;
		tcp dport 80 dnat to numgen inc mod 2 map { 0 : 10.255.0.5, 1 : 10.255.0.6 }:8080
		tcp dport 443 dnat to 10.255.0.9:8443
		udp dport 53 dnat to numgen inc mod 2 map { 0 : 10.255.0.5, 1 : 10.255.0.6 }:5353
	}
	chain nat_postrouting {
		type nat hook postrouting priority 100; policy accept;
		oifname "eth0" masquerade
	}
	chain filter_input {
		type filter hook input priority 0; policy accept;
		tcp dport 8000 reject with tcp reset
		udp dport 8000 reject
	}
}
"""
)

HOST = (
    PRELUDE
    + """table ip shoal {
	chain nat_prerouting {
		type nat hook prerouting priority -100; policy accept;
		fib daddr type local tcp dport 80 dnat to 172.18.0.2
		fib daddr type local udp dport 53 dnat to 172.18.0.2
		fib daddr type local tcp dport 9090 dnat to 172.18.0.7:90
		fib daddr type local udp dport 9090 dnat to 172.18.0.8:91
	}
	chain nat_output {
		type nat hook output priority -100; policy accept;
		fib daddr type local tcp dport 80 dnat to 172.18.0.2
		fib daddr type local udp dport 53 dnat to 172.18.0.2
		fib daddr type local tcp dport 9090 dnat to 172.18.0.7:90
		fib daddr type local udp dport 9090 dnat to 172.18.0.8:91
	}
	chain nat_postrouting {
		type nat hook postrouting priority 100; policy accept;
		ip saddr 172.18.0.0/16 oifname != "shoal_gwbridge" masquerade
		ip saddr 172.18.0.0/16 oifname "shoal_gwbridge" ct status dnat masquerade
		oifname "shoal_gwbridge" fib saddr type local masquerade
	}
	chain filter_forward {
		type filter hook forward priority 0; policy accept;
		iifname "shoal_gwbridge" accept
		oifname "shoal_gwbridge" accept
	}
}
"""
)

HOST_NO_PORTS = (
    PRELUDE
    + """table ip shoal {
	chain nat_postrouting {
		type nat hook postrouting priority 100; policy accept;
		ip saddr 172.18.0.0/16 oifname != "shoal_gwbridge" masquerade
		ip saddr 172.18.0.0/16 oifname "shoal_gwbridge" ct status dnat masquerade
		oifname "shoal_gwbridge" fib saddr type local masquerade
	}
	chain filter_forward {
		type filter hook forward priority 0; policy accept;
		iifname "shoal_gwbridge" accept
		oifname "shoal_gwbridge" accept
	}
}
"""
)

EMPTY = PRELUDE + "table ip shoal {\n}\n"

VIPS = [
    VipRule("10.0.3.2", ()),
    VipRule("10.0.1.2", ("10.0.1.10", "10.0.1.9", "10.0.1.5", "10.0.1.9")),
    VipRule("10.0.2.2", ("10.0.2.7",)),
]
MESH = [
    MeshRule("udp", 53, 5353, ("10.255.0.6", "10.255.0.5")),
    MeshRule("tcp", 443, 8443, ("10.255.0.9",)),
    MeshRule("udp", 8000, 80, ()),
    MeshRule("tcp", 80, 8080, ("10.255.0.5", "10.255.0.6")),
    MeshRule("tcp", 8000, 80, ()),
]
HOST_PORTS = [HostPort("udp", 9090, "172.18.0.8", 91), HostPort("tcp", 9090, "172.18.0.7", 90)]


def host(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "gw_subnet": "172.18.0.0/16",
        "gw_bridge": "shoal_gwbridge",
        "mesh_ports": [("udp", 53), ("tcp", 80), ("tcp", 80)],
        "sbox_address": "172.18.0.2",
        "host_ports": HOST_PORTS,
    }
    args.update(overrides)
    return host_table(**args)


# --- golden renderings ---------------------------------------------------------------------


def test_container_table_spreads_each_vip_and_refuses_one_without_backends() -> None:
    assert container_table(VIPS) == CONTAINER


def test_container_table_is_independent_of_input_order() -> None:
    shuffled = [VipRule(v.vip, tuple(reversed(v.backends))) for v in reversed(VIPS)]
    assert container_table(shuffled) == CONTAINER


def test_container_without_vips_gets_an_empty_table() -> None:
    assert container_table([]) == EMPTY


def test_ingress_sbox_table_spreads_published_ports_to_the_target_port() -> None:
    assert ingress_sbox_table(MESH) == INGRESS
    assert ingress_sbox_table(list(reversed(MESH))) == INGRESS


def test_ingress_sbox_masquerades_out_the_named_overlay_interface() -> None:
    assert 'oifname "eth1" masquerade' in ingress_sbox_table([], overlay_ifname="eth1")


def test_host_table_publishes_mesh_and_host_ports_on_local_addresses() -> None:
    assert host() == HOST


def test_host_table_accepts_a_subnet_written_with_its_gateway_address() -> None:
    assert host(gw_subnet="172.18.0.1/16") == HOST


def test_host_table_without_ports_keeps_egress() -> None:
    assert host(mesh_ports=[], host_ports=[]) == HOST_NO_PORTS


@pytest.mark.parametrize(
    "script",
    [container_table(VIPS), ingress_sbox_table(MESH), host(), container_table([])],
    ids=["container", "ingress", "host", "empty"],
)
def test_every_script_replaces_table_shoal_whole(script: str) -> None:
    assert script.startswith(PRELUDE + "table ip shoal {\n")
    assert script.endswith("\n}\n")
    assert script.count("table ip") == 3


# --- refused input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "render",
    [
        lambda: container_table([VipRule("10.0.0.2/24", ())]),
        lambda: container_table([VipRule("fe80::1", ())]),
        lambda: container_table([VipRule("10.0.0.2", ("10.0.0.3; flush ruleset",))]),
        lambda: container_table([VipRule("10.0.0.2", ()), VipRule("10.0.0.2", ("10.0.0.3",))]),
        lambda: ingress_sbox_table([MeshRule("icmp", 80, 80, ())]),
        lambda: ingress_sbox_table([MeshRule("tcp", 0, 80, ())]),
        lambda: ingress_sbox_table([MeshRule("tcp", 80, 65536, ())]),
        lambda: ingress_sbox_table([MeshRule("tcp", 80, 81, ()), MeshRule("tcp", 80, 82, ())]),
        lambda: ingress_sbox_table([], overlay_ifname='eth0" accept'),
        lambda: ingress_sbox_table([], overlay_ifname="name-of-16-chars"),
        lambda: host(gw_bridge=""),
        lambda: host(gw_subnet="172.18.0.0/33"),
        lambda: host(sbox_address="ingress"),
        lambda: host(host_ports=[HostPort("tcp", 80, "172.18.0.7", 80)]),  # a mesh port too
        lambda: host(host_ports=[*HOST_PORTS, HostPort("tcp", 9090, "172.18.0.9", 9)]),
    ],
)
def test_invalid_input_is_refused_before_nft_sees_it(render: Any) -> None:
    with pytest.raises(ValueError):
        render()


# --- nftapply ------------------------------------------------------------------------------


class FakeRun:
    """Stands in for subprocess.run: records argv and stdin, answers with a fixed result."""

    def __init__(self, returncode: int = 0, stderr: bytes = b"") -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[tuple[list[str], bytes]] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((list(argv), kwargs["input"]))
        return subprocess.CompletedProcess(list(argv), self.returncode, b"", self.stderr)


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    fake = FakeRun()
    monkeypatch.setattr(subprocess, "run", fake)
    return fake


def test_apply_feeds_the_script_to_nft_on_stdin(fake_run: FakeRun) -> None:
    nftapply.apply(EMPTY)
    [(argv, stdin)] = fake_run.calls
    assert Path(argv[0]).name == "nft"
    assert argv[1:] == ["-f", "-"]
    assert stdin == EMPTY.encode()


def test_apply_in_a_namespace_goes_through_nsenter(fake_run: FakeRun) -> None:
    nftapply.apply(EMPTY, Path("/run/shoal/netns/shoal-ingress-sbox"))
    [(argv, _)] = fake_run.calls
    assert argv[:3] == ["nsenter", "--net=/run/shoal/netns/shoal-ingress-sbox", "--"]
    assert Path(argv[3]).name == "nft"


def test_delete_table_declares_it_first_so_a_missing_table_is_fine(fake_run: FakeRun) -> None:
    nftapply.delete_table(Path("/x"))
    [(_, stdin)] = fake_run.calls
    assert stdin == PRELUDE.encode()
    with pytest.raises(ValueError):
        nftapply.delete_table(name="shoal; flush ruleset")


def test_a_refused_script_is_one_line_with_nfts_message(fake_run: FakeRun) -> None:
    fake_run.returncode = 1
    fake_run.stderr = (
        b"/dev/stdin:4:15-21: Error: syntax error, unexpected string\n"
        b"\t\tip daddr bogus dnat to 10.0.0.1\n"
        b"\t\t         ^^^^^\n"
    )
    with pytest.raises(nftapply.NftError) as err:
        nftapply.apply(EMPTY, Path("/ns/c1"))
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "nft refused the rules in namespace /ns/c1: "
        "/dev/stdin:4:15-21: Error: syntax error, unexpected string"
    )


def test_missing_nft_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(
        nftapply.NftError,
        match=r"^cannot apply nftables rules in this namespace: cannot run .*nft: not installed",
    ):
        nftapply.apply(EMPTY)


def test_host_table_needs_no_sbox_address_without_mesh_ports() -> None:
    # a node with host-mode ports only has no ingress sbox
    assert host(mesh_ports=[], sbox_address="") == host(mesh_ports=[])
