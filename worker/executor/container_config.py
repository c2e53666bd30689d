"""TaskSpec -> the body of Docker's `POST /containers/create`, as a pure function.

The mapping follows Docker's swarm executor (moby `daemon/cluster/executor/container`):
system labels `com.docker.swarm.*` override container labels; `command` replaces the image's
entrypoint and `args` become Cmd; limits map to NanoCpus, Memory and PidsLimit. shoal also
sets what Swarm leaves to the engine (and decided here, see docs/design/worker.md):
NetworkMode "none" (the overlay plumbs the container itself), StopTimeout from the stop grace
period (so a plain `docker stop` honours it too), and reservations as CPU shares and a memory
soft limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from manager.store import Task
from manager.store.specs import HealthConfig, Mount, MountType, ResourceRequirements

LABEL_PREFIX = "com.docker.swarm"
DEFAULT_STOP_GRACE = timedelta(seconds=10)

JSON = str | int | bool | list["JSON"] | dict[str, "JSON"] | None


@dataclass(frozen=True, slots=True)
class FileMount:
    """A secret or config file (on the agent's tmpfs) bind-mounted read-only into the task."""

    source: str
    target: str


def container_name(task: Task) -> str:
    """Swarm's container name: <service>.<slot or node id>.<task id>."""
    return f"{task.name}.{task.id}"


def image_ref(image: str) -> str:
    """The image as the engine should look it up: `busybox` means `busybox:latest`."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


def task_labels(task: Task) -> dict[str, str]:
    labels = dict(task.spec.container.labels)
    system = {
        "task": "",
        "task.id": task.id,
        "task.name": container_name(task),
        "node.id": task.node_id,
        "service.id": task.service_id,
        "service.name": task.service_annotations.name,
    }
    labels.update({f"{LABEL_PREFIX}.{key}": value for key, value in system.items()})
    return labels


_TEMPLATE = re.compile(r"\{\{\s*\.(Service|Task|Node)\.(\w+)\s*\}\}")


def expand(text: str, task: Task, node_hostname: str = "") -> str:
    """Swarm's service templates in hostname, env and mount sources: {{.Service.Name}},
    {{.Service.ID}}, {{.Task.ID}}, {{.Task.Name}}, {{.Task.Slot}}, {{.Node.ID}},
    {{.Node.Hostname}}. Unknown placeholders are left as written."""
    values = {
        ("Service", "Name"): task.service_annotations.name,
        ("Service", "ID"): task.service_id,
        ("Task", "ID"): task.id,
        ("Task", "Name"): container_name(task),
        ("Task", "Slot"): str(task.slot) if task.slot else task.node_id,
        ("Node", "ID"): task.node_id,
        ("Node", "Hostname"): node_hostname,
    }
    return _TEMPLATE.sub(lambda m: values.get((m.group(1), m.group(2)), m.group(0)), text)


def _ns(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1e9)


def healthcheck_body(hc: HealthConfig) -> dict[str, JSON]:
    body: dict[str, JSON] = {"Test": list(hc.test)}
    for key, value in (
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ):
        if value:
            body[key] = _ns(value)
    if hc.retries:
        body["Retries"] = hc.retries
    return body


def has_healthcheck(task: Task) -> bool:
    hc = task.spec.container.healthcheck
    return hc is not None and bool(hc.test) and hc.test[0] != "NONE"


def mount_body(m: Mount, source: str) -> dict[str, JSON]:
    body: dict[str, JSON] = {"Type": m.type.value, "Target": m.target, "ReadOnly": m.read_only}
    if source:
        body["Source"] = source
    if m.consistency:
        body["Consistency"] = m.consistency
    if m.type is MountType.BIND and m.bind_propagation:
        body["BindOptions"] = {"Propagation": m.bind_propagation}
    if m.type is MountType.VOLUME:
        options: dict[str, JSON] = {}
        if m.volume_nocopy:
            options["NoCopy"] = True
        if m.volume_labels:
            options["Labels"] = dict(m.volume_labels)
        if m.volume_driver:
            driver: dict[str, JSON] = {"Name": m.volume_driver}
            if m.volume_driver_options:
                driver["Options"] = dict(m.volume_driver_options)
            options["DriverConfig"] = driver
        if options:
            body["VolumeOptions"] = options
    if m.type is MountType.TMPFS and (m.tmpfs_size_bytes or m.tmpfs_mode):
        tmpfs: dict[str, JSON] = {}
        if m.tmpfs_size_bytes:
            tmpfs["SizeBytes"] = m.tmpfs_size_bytes
        if m.tmpfs_mode:
            tmpfs["Mode"] = m.tmpfs_mode
        body["TmpfsOptions"] = tmpfs
    return body


def resources_body(r: ResourceRequirements) -> dict[str, JSON]:
    body: dict[str, JSON] = {}
    if r.limits.nano_cpus > 0:
        body["NanoCpus"] = r.limits.nano_cpus
    if r.limits.memory_bytes > 0:
        body["Memory"] = r.limits.memory_bytes
    if r.limits.pids > 0:
        body["PidsLimit"] = r.limits.pids
    if r.reservations.nano_cpus > 0:
        # The relative weight a reservation buys under contention (1 CPU = 1024 shares);
        # the kernel's minimum is 2.
        body["CpuShares"] = max(2, r.reservations.nano_cpus * 1024 // 1_000_000_000)
    reserve = r.reservations.memory_bytes
    if reserve > 0 and (r.limits.memory_bytes == 0 or reserve <= r.limits.memory_bytes):
        body["MemoryReservation"] = reserve  # the engine refuses a soft limit above the hard one
    return body


def create_body(
    task: Task, files: Sequence[FileMount] = (), *, node_hostname: str = ""
) -> dict[str, JSON]:
    """The create body for `task`'s container; `files` are its secrets and configs."""
    spec = task.spec.container
    config: dict[str, JSON] = {
        "Image": image_ref(spec.image),
        "Labels": _str_map(task_labels(task)),
        "Env": [expand(e, task, node_hostname) for e in spec.env],
        "Tty": spec.tty,
        "OpenStdin": spec.open_stdin,
        "StopTimeout": int(spec.stop_grace_period.total_seconds()),
    }
    optional: dict[str, str] = {
        "User": spec.user,
        "WorkingDir": spec.dir,
        "Hostname": expand(spec.hostname, task, node_hostname),
        "StopSignal": spec.stop_signal,
    }
    config.update({key: value for key, value in optional.items() if value})
    if spec.command:
        config["Entrypoint"] = list(spec.command)
        config["Cmd"] = list(spec.args)
    elif spec.args:
        config["Cmd"] = list(spec.args)
    if spec.healthcheck is not None and spec.healthcheck.test:
        config["Healthcheck"] = healthcheck_body(spec.healthcheck)
    config["HostConfig"] = _host_config(task, files, node_hostname)
    return config


EMBEDDED_DNS = "127.0.0.11"


def _host_config(task: Task, files: Sequence[FileMount], node_hostname: str) -> dict[str, JSON]:
    spec = task.spec.container
    mounts: list[JSON] = [mount_body(m, expand(m.source, task, node_hostname)) for m in spec.mounts]
    mounts += [
        {"Type": "bind", "Source": f.source, "Target": f.target, "ReadOnly": True} for f in files
    ]
    host: dict[str, JSON] = {
        "NetworkMode": "none",
        "Mounts": mounts,
        "ReadonlyRootfs": spec.read_only,
        **resources_body(task.spec.resources),
    }
    if spec.init is not None:
        host["Init"] = spec.init
    lists: dict[str, Sequence[str]] = {
        "CapAdd": spec.capability_add,
        "CapDrop": spec.capability_drop,
        "GroupAdd": spec.groups,
    }
    host.update({key: list(value) for key, value in lists.items() if value})
    if spec.sysctls:
        host["Sysctls"] = _str_map(spec.sysctls)
    if spec.ulimits:
        host["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in spec.ulimits]
    dns = spec.dns_config
    if task.networks:
        # the embedded DNS answers in the container (overlay_net/dns.py); the service's --dns
        # servers are where it forwards names that are not the cluster's
        host["Dns"] = [EMBEDDED_DNS]
        host["DnsSearch"] = list(dns.search) if dns else []
        host["DnsOptions"] = list(dns.options) if dns else []
    elif dns is not None:
        host["Dns"] = list(dns.nameservers)
        host["DnsSearch"] = list(dns.search)
        host["DnsOptions"] = list(dns.options)
    # "IP host [aliases...]" (hosts(5), as the service spec keeps it) -> Docker's "host:IP"
    extra = [f"{name}:{parts[0]}" for parts in map(str.split, spec.hosts) for name in parts[1:]]
    if extra:
        host["ExtraHosts"] = list(extra)
    if task.spec.log_driver is not None and task.spec.log_driver.name:
        host["LogConfig"] = {
            "Type": task.spec.log_driver.name,
            "Config": _str_map(task.spec.log_driver.options),
        }
    return host


def _str_map(m: Mapping[str, str]) -> dict[str, JSON]:
    return {k: v for k, v in m.items()}
