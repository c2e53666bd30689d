"""What a node tells the managers about itself: hostname, platform, resources, engine.

The engine's `info` (through aiodocker on the engine socket) gives what Docker's own node
description gives: OSType and Architecture ("linux", "x86_64"), NCPU, MemTotal, ServerVersion
and the engine labels. Without a reachable engine the node still describes itself from the host
(os, machine, CPUs, memory) with an empty engine version, so it can join and show up in
`node ls`; the engine comes back in the next description.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from manager.allocator.routes import host_routes
from manager.store import EngineDescription, NodeDescription, PlatformDescription, Resources

log = logging.getLogger(__name__)

DEFAULT_ENGINE_SOCKET = "/var/run/docker.sock"
_NANO = 1_000_000_000


class EngineInfo(Protocol):
    async def __call__(self) -> Mapping[str, Any]: ...


def docker_info(engine_socket: str) -> EngineInfo:
    """`docker info` from the engine at `engine_socket` (a path or a unix:// URL)."""
    url = engine_socket if "://" in engine_socket else f"unix://{engine_socket}"

    async def info() -> Mapping[str, Any]:
        import aiodocker  # the worker's engine client; imported where it is used

        docker = aiodocker.Docker(url=url)
        try:
            result: Mapping[str, Any] = await docker.system.info()
            return result
        finally:
            await docker.close()

    return info


def host_description(hostname: str) -> NodeDescription:
    """The node as the host sees it, without an engine."""
    os_name = sys.platform  # "linux", as Docker reports OSType
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    return NodeDescription(
        hostname=hostname,
        platform=PlatformDescription(architecture=platform.machine(), os=os_name),
        resources=Resources(nano_cpus=(os.cpu_count() or 0) * _NANO, memory_bytes=memory),
    )


def description_from_info(hostname: str, info: Mapping[str, Any]) -> NodeDescription:
    """Docker's node description from the engine's info (missing fields: the host's)."""
    host = host_description(hostname)
    labels: dict[str, str] = {}
    for label in info.get("Labels") or ():
        key, _, value = str(label).partition("=")
        labels[key] = value
    ncpu = info.get("NCPU")
    memory = info.get("MemTotal")
    return NodeDescription(
        hostname=hostname,
        platform=PlatformDescription(
            architecture=str(info.get("Architecture") or host.platform.architecture),
            os=str(info.get("OSType") or host.platform.os),
        ),
        resources=Resources(
            nano_cpus=int(ncpu) * _NANO if ncpu else host.resources.nano_cpus,
            memory_bytes=int(memory) if memory else host.resources.memory_bytes,
        ),
        engine=EngineDescription(
            engine_version=str(info.get("ServerVersion") or ""), labels=labels
        ),
    )


class NodeDescriber:
    """The agent's default `describe`: `await NodeDescriber(engine_info)()`."""

    def __init__(
        self,
        engine_info: EngineInfo | None = None,
        *,
        hostname: Callable[[], str] = socket.gethostname,
        routes: Callable[[], Sequence[str]] = host_routes,
    ) -> None:
        self._engine_info = engine_info
        self._hostname = hostname
        self._routes = routes

    async def __call__(self) -> NodeDescription:
        """The node, with its routes: the allocator carves no overlay subnet over them."""
        description = await self._describe(self._hostname())
        return dataclasses.replace(description, routes=tuple(self._routes()))

    async def _describe(self, hostname: str) -> NodeDescription:
        if self._engine_info is None:
            return host_description(hostname)
        try:
            info = await self._engine_info()
        except Exception as e:  # no engine, engine error: describe the host alone
            log.warning("the engine did not answer `info`; describing the host only: %s", e)
            return host_description(hostname)
        return description_from_info(hostname, info)


def default_describer(engine_socket: str = DEFAULT_ENGINE_SOCKET) -> NodeDescriber:
    return NodeDescriber(docker_info(engine_socket))
