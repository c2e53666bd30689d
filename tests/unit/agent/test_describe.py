"""The default describe: the engine's `info` through aiodocker, against a fake engine on a
unix socket (an aiohttp server answering /version and /info like dockerd)."""

from __future__ import annotations

import platform
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from manager.store import EngineDescription, PlatformDescription
from worker.describe import NodeDescriber, default_describer, docker_info

INFO = {
    "ServerVersion": "24.0.7",
    "OSType": "linux",
    "Architecture": "x86_64",
    "NCPU": 4,
    "MemTotal": 8_000_000_000,
    "Labels": ["zone=a", "ssd=true", "flag"],
}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Path]:
    async def version(_request: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": "1.43", "Version": "24.0.7"})

    async def info(_request: web.Request) -> web.Response:
        return web.json_response(INFO)

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/v1.43/version", version)
    app.router.add_get("/v1.43/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    path = tmp_path / "docker.sock"
    await web.UnixSite(runner, str(path)).start()
    try:
        yield path
    finally:
        await runner.cleanup()


async def test_describes_the_node_from_the_engine(engine: Path) -> None:
    desc = await NodeDescriber(docker_info(str(engine)), hostname=lambda: "n1")()
    assert desc.hostname == "n1"
    assert desc.platform == PlatformDescription(architecture="x86_64", os="linux")
    assert desc.engine == EngineDescription(
        engine_version="24.0.7", labels={"zone": "a", "ssd": "true", "flag": ""}
    )
    assert (desc.resources.nano_cpus, desc.resources.memory_bytes) == (4 * 10**9, 8 * 10**9)


async def test_without_an_engine_the_host_describes_itself(tmp_path: Path) -> None:
    desc = await default_describer(str(tmp_path / "missing.sock"))()
    assert desc.engine == EngineDescription()
    assert desc.platform == PlatformDescription(architecture=platform.machine(), os=sys.platform)
    assert desc.hostname
    assert desc.resources.nano_cpus > 0


async def test_the_node_reports_its_routes_so_no_overlay_subnet_covers_them() -> None:
    describe = NodeDescriber(hostname=lambda: "n1", routes=lambda: ["10.8.0.0/16"])
    assert (await describe()).routes == ("10.8.0.0/16",)
