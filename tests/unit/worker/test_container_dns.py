"""A container on overlay networks resolves through the embedded DNS at 127.0.0.11."""

from __future__ import annotations

from typing import Any

from manager.store import NetworkAttachment, ServiceAnnotations, Task, TaskSpec
from manager.store.specs import ContainerSpec, DNSConfig
from worker.executor.container_config import create_body


def task(spec: ContainerSpec, *, networks: tuple[NetworkAttachment, ...] = ()) -> Task:
    return Task(
        id="tid",
        service_id="sid",
        slot=1,
        node_id="nid",
        service_annotations=ServiceAnnotations(name="web"),
        spec=TaskSpec(container=spec),
        networks=networks,
    )


def host_config(t: Task) -> dict[str, Any]:
    body: dict[str, Any] = create_body(t)
    host: dict[str, Any] = body["HostConfig"]
    return host


ON_FRONT = (NetworkAttachment("net1", ("10.0.1.5/24",), (), "02:42:0a:00:01:05"),)


def test_a_task_on_a_network_gets_the_embedded_dns_and_keeps_search_and_options() -> None:
    spec = ContainerSpec(image="b", dns_config=DNSConfig(("1.1.1.1",), ("lan",), ("ndots:2",)))
    host = host_config(task(spec, networks=ON_FRONT))
    # 1.1.1.1 is where the embedded server forwards to, not the container's resolver
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (
        ["127.0.0.11"],
        ["lan"],
        ["ndots:2"],
    )


def test_a_task_on_a_network_without_dns_flags_still_uses_the_embedded_dns() -> None:
    host = host_config(task(ContainerSpec(image="b"), networks=ON_FRONT))
    assert host["Dns"] == ["127.0.0.11"]
    assert host["NetworkMode"] == "none"


def test_a_task_without_networks_keeps_the_engines_resolver() -> None:
    host = host_config(task(ContainerSpec(image="b")))
    assert "Dns" not in host
