"""TaskSpec -> Docker create body, as tables: each flag and the field it sets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from manager.store import ServiceAnnotations, Task, TaskSpec
from manager.store.specs import (
    ContainerSpec,
    DNSConfig,
    Driver,
    HealthConfig,
    Mount,
    MountType,
    ResourceRequirements,
    Resources,
    Ulimit,
)
from worker.executor.container_config import (
    FileMount,
    container_name,
    create_body,
    expand,
    image_ref,
)


def task(spec: ContainerSpec | None = None, **task_spec: Any) -> Task:
    return Task(
        id="tid",
        service_id="sid",
        slot=2,
        node_id="nid",
        service_annotations=ServiceAnnotations(name="web"),
        spec=TaskSpec(container=spec or ContainerSpec(image="busybox"), **task_spec),
    )


def body(spec: ContainerSpec | None = None, **task_spec: Any) -> dict[str, Any]:
    return create_body(task(spec, **task_spec))


def test_minimal_body() -> None:
    assert body() == {
        "Image": "busybox:latest",
        "Labels": {
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": "tid",
            "com.docker.swarm.task.name": "web.2.tid",
            "com.docker.swarm.node.id": "nid",
            "com.docker.swarm.service.id": "sid",
            "com.docker.swarm.service.name": "web",
        },
        "Env": [],
        "Tty": False,
        "OpenStdin": False,
        "StopTimeout": 10,
        "HostConfig": {"NetworkMode": "none", "Mounts": [], "ReadonlyRootfs": False},
    }


def test_global_task_is_named_after_its_node() -> None:
    t = Task(id="tid", node_id="nid", service_annotations=ServiceAnnotations(name="mon"))
    assert container_name(t) == "mon.nid.tid"


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("localhost:5000/web", "localhost:5000/web:latest"),
        ("localhost:5000/web:1", "localhost:5000/web:1"),
        ("web@sha256:abc", "web@sha256:abc"),
    ],
)
def test_image_ref(image: str, ref: str) -> None:
    assert image_ref(image) == ref


H = HealthConfig(
    test=("CMD-SHELL", "true"),
    interval=timedelta(seconds=2),
    timeout=timedelta(milliseconds=500),
    retries=3,
    start_period=timedelta(seconds=1),
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ContainerSpec(image="b", env=("A=1", "B=")), {"Env": ["A=1", "B="]}),
        (ContainerSpec(image="b", user="1000:1000"), {"User": "1000:1000"}),
        (ContainerSpec(image="b", dir="/srv"), {"WorkingDir": "/srv"}),
        (ContainerSpec(image="b", hostname="h1"), {"Hostname": "h1"}),
        (ContainerSpec(image="b", stop_signal="SIGINT"), {"StopSignal": "SIGINT"}),
        (
            ContainerSpec(image="b", stop_grace_period=timedelta(seconds=3)),
            {"StopTimeout": 3},
        ),
        (
            ContainerSpec(image="b", command=("/bin/sh", "-c"), args=("echo hi",)),
            {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"]},
        ),
        (ContainerSpec(image="b", args=("x", "y")), {"Cmd": ["x", "y"]}),
        (
            ContainerSpec(image="b", healthcheck=H),
            {
                "Healthcheck": {
                    "Test": ["CMD-SHELL", "true"],
                    "Interval": 2_000_000_000,
                    "Timeout": 500_000_000,
                    "Retries": 3,
                    "StartPeriod": 1_000_000_000,
                }
            },
        ),
        (
            ContainerSpec(image="b", healthcheck=HealthConfig(test=("NONE",))),
            {"Healthcheck": {"Test": ["NONE"]}},
        ),
        (
            ContainerSpec(image="b", labels={"a": "1", "com.docker.swarm.task.id": "forged"}),
            {"Labels": {"a": "1", "com.docker.swarm.task.id": "tid"}},
        ),
    ],
)
def test_config_fields(spec: ContainerSpec, expected: dict[str, Any]) -> None:
    got = body(spec)
    for key, value in expected.items():
        if key == "Labels":
            assert value.items() <= got["Labels"].items()
        else:
            assert got[key] == value


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ContainerSpec(image="b", read_only=True), {"ReadonlyRootfs": True}),
        (ContainerSpec(image="b", init=True), {"Init": True}),
        (ContainerSpec(image="b", init=False), {"Init": False}),
        (
            ContainerSpec(image="b", capability_add=("NET_ADMIN",), capability_drop=("CHOWN",)),
            {"CapAdd": ["NET_ADMIN"], "CapDrop": ["CHOWN"]},
        ),
        (
            ContainerSpec(image="b", sysctls={"net.ipv4.ip_forward": "1"}),
            {"Sysctls": {"net.ipv4.ip_forward": "1"}},
        ),
        (
            ContainerSpec(image="b", ulimits=(Ulimit("nofile", 1024, 2048),)),
            {"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]},
        ),
        (ContainerSpec(image="b", groups=("audio",)), {"GroupAdd": ["audio"]}),
        (
            ContainerSpec(image="b", dns_config=DNSConfig(("1.1.1.1",), ("lan",), ("ndots:2",))),
            {"Dns": ["1.1.1.1"], "DnsSearch": ["lan"], "DnsOptions": ["ndots:2"]},
        ),
        (
            ContainerSpec(image="b", hosts=("10.0.0.9 db db.lan",)),
            {"ExtraHosts": ["db:10.0.0.9", "db.lan:10.0.0.9"]},
        ),
        (
            ContainerSpec(
                image="b",
                mounts=(
                    Mount(
                        MountType.VOLUME,
                        "data",
                        "/data",
                        volume_nocopy=True,
                        volume_labels={"x": "y"},
                        volume_driver="local",
                        volume_driver_options={"type": "tmpfs"},
                    ),
                    Mount(
                        MountType.BIND, "/srv", "/srv", read_only=True, bind_propagation="rslave"
                    ),
                    Mount(
                        MountType.TMPFS, "", "/scratch", tmpfs_size_bytes=1 << 20, tmpfs_mode=0o1770
                    ),
                ),
            ),
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "data",
                        "Target": "/data",
                        "ReadOnly": False,
                        "VolumeOptions": {
                            "NoCopy": True,
                            "Labels": {"x": "y"},
                            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}},
                        },
                    },
                    {
                        "Type": "bind",
                        "Source": "/srv",
                        "Target": "/srv",
                        "ReadOnly": True,
                        "BindOptions": {"Propagation": "rslave"},
                    },
                    {
                        "Type": "tmpfs",
                        "Target": "/scratch",
                        "ReadOnly": False,
                        "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770},
                    },
                ]
            },
        ),
    ],
)
def test_host_config_fields(spec: ContainerSpec, expected: dict[str, Any]) -> None:
    host = body(spec)["HostConfig"]
    assert host["NetworkMode"] == "none"
    for key, value in expected.items():
        assert host[key] == value


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (
            ResourceRequirements(
                limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20, pids=50)
            ),
            {"NanoCpus": 500_000_000, "Memory": 64 << 20, "PidsLimit": 50},
        ),
        (
            ResourceRequirements(
                reservations=Resources(nano_cpus=250_000_000, memory_bytes=32 << 20)
            ),
            {"CpuShares": 256, "MemoryReservation": 32 << 20},
        ),
        (
            ResourceRequirements(reservations=Resources(nano_cpus=1_000_000)),
            {"CpuShares": 2},
        ),
        (  # a soft limit above the hard one would be refused by the engine: left out
            ResourceRequirements(
                limits=Resources(memory_bytes=16 << 20),
                reservations=Resources(memory_bytes=32 << 20),
            ),
            {"Memory": 16 << 20},
        ),
    ],
)
def test_resources(resources: ResourceRequirements, expected: dict[str, Any]) -> None:
    host = body(None, resources=resources)["HostConfig"]
    limits = {"NanoCpus", "Memory", "PidsLimit", "CpuShares", "MemoryReservation"}
    assert {k: v for k, v in host.items() if k in limits} == expected


def test_secret_files_are_read_only_binds_after_the_spec_mounts() -> None:
    spec = ContainerSpec(image="b", mounts=(Mount(MountType.TMPFS, "", "/t"),))
    got: Any = create_body(
        task(spec), [FileMount("/var/lib/shoal/secrets/tid/secrets/x", "/run/secrets/pw")]
    )
    assert got["HostConfig"]["Mounts"][1] == {
        "Type": "bind",
        "Source": "/var/lib/shoal/secrets/tid/secrets/x",
        "Target": "/run/secrets/pw",
        "ReadOnly": True,
    }


def test_log_driver() -> None:
    got = body(None, log_driver=Driver("json-file", {"max-size": "1m"}))
    assert got["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}


def test_templates_in_hostname_env_and_mount_source() -> None:
    spec = ContainerSpec(
        image="b",
        hostname="{{.Service.Name}}-{{.Task.Slot}}",
        env=("NODE={{.Node.Hostname}}", "ID={{ .Task.ID }}", "KEEP={{.Other.X}}"),
        mounts=(Mount(MountType.VOLUME, "vol-{{.Task.Slot}}", "/d"),),
    )
    got: Any = create_body(task(spec), node_hostname="n1")
    assert got["Hostname"] == "web-2"
    assert got["Env"] == ["NODE=n1", "ID=tid", "KEEP={{.Other.X}}"]
    assert got["HostConfig"]["Mounts"][0]["Source"] == "vol-2"
    assert expand("{{.Task.Name}}", task()) == "web.2.tid"
