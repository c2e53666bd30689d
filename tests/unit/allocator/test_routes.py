"""The host's routes, from the text of /proc/net/route."""

from __future__ import annotations

from pathlib import Path

from manager.allocator import host_routes, parse_routes

PROC_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
bad\tzz\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
short
"""


def test_prefixes_are_read_without_default_routes_or_duplicates() -> None:
    assert parse_routes(PROC_ROUTE) == ["192.0.2.0/24", "172.17.0.0/16"]


def test_an_unreadable_file_gives_no_routes(tmp_path: Path) -> None:
    assert host_routes(tmp_path / "missing") == []
    table = tmp_path / "route"
    table.write_text(PROC_ROUTE)
    assert host_routes(table) == ["192.0.2.0/24", "172.17.0.0/16"]
