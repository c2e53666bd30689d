"""`service inspect --pretty` text (docker/cli serviceInspectPrettyTemplate)."""

from __future__ import annotations

from proto import objects_pb2

from ._common import _go_bool, _nanos, bytes_size, go_duration
from .services import published_ports, service_mode


def _update_lines(title: str, u: objects_pb2.UpdateConfig, order: str) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{u.parallelism}"]
    if _nanos(u.delay):
        lines.append(f" Delay:\t\t{go_duration(u.delay)}")
    lines.append(f" On failure:\t{u.failure_action or 'pause'}")
    if _nanos(u.monitor):
        lines.append(f" Monitoring Period: {go_duration(u.monitor)}")
    lines.append(f" Max failure ratio: {u.max_failure_ratio:g}")
    lines.append(f" {order} order:{' ' * (6 if order == 'Update' else 4)}{u.order or 'stop-first'}")
    return lines


def _resource_lines(t: objects_pb2.TaskSpec) -> list[str]:
    limits, reservations = t.resources.limits, t.resources.reservations
    lines: list[str] = []
    if reservations.nano_cpus or reservations.memory_bytes:
        lines.append(" Reservations:")
        if reservations.nano_cpus:
            lines.append(f"  CPU:\t\t{reservations.nano_cpus / 1e9:g}")
        if reservations.memory_bytes:
            lines.append(f"  Memory:\t{bytes_size(reservations.memory_bytes)}")
    if limits.nano_cpus or limits.memory_bytes or limits.pids:
        lines.append(" Limits:")
        if limits.nano_cpus:
            lines.append(f"  CPU:\t\t{limits.nano_cpus / 1e9:g}")
        if limits.memory_bytes:
            lines.append(f"  Memory:\t{bytes_size(limits.memory_bytes)}")
        if limits.pids:
            lines.append(f"  PIDs:\t\t{limits.pids}")
    return ["Resources:", *lines] if lines else []


def service_pretty(service: objects_pb2.Service) -> str:
    """`docker service inspect --pretty` (serviceInspectPrettyTemplate)."""
    spec = service.spec
    t = spec.task_template
    c = t.container
    lines = [f"ID:\t\t{service.id}", f"Name:\t\t{spec.name}"]
    if spec.labels:
        lines += ["Labels:"] + [
            f" {k}={v}" if v else f" {k}" for k, v in sorted(spec.labels.items())
        ]
    mode = service_mode(spec)
    lines.append(f"Service Mode:\t{' '.join(w.capitalize() for w in mode.split())}")
    if mode == "replicated":
        lines.append(f" Replicas:\t{spec.replicated.replicas}")
    if service.HasField("update_status") and service.update_status.state:
        u = service.update_status
        lines += ["UpdateStatus:", f" State:\t\t{u.state}", f" Message:\t{u.message}"]
    if t.placement.constraints or t.placement.preferences or t.placement.max_replicas:
        lines.append("Placement:")
        if t.placement.constraints:
            lines.append(f" Constraints:\t[{' '.join(t.placement.constraints)}]")
        if t.placement.preferences:
            prefs = " ".join(f"spread={p.spread}" for p in t.placement.preferences)
            lines.append(f" Preferences:   [{prefs}]")
        if t.placement.max_replicas:
            lines.append(f" Max Replicas Per Node:   {t.placement.max_replicas}")
    lines += _update_lines("UpdateConfig", spec.update_config, "Update")
    lines += _update_lines("RollbackConfig", spec.rollback_config, "Rollback")
    lines += ["ContainerSpec:", f" Image:\t\t{c.image}"]
    if c.args:
        lines.append(f" Args:\t\t{''.join(a + ' ' for a in c.args)}")
    if c.env:
        lines.append(f" Env:\t\t{''.join(e + ' ' for e in c.env)}")
    if c.dir:
        lines.append(f" Dir:\t\t{c.dir}")
    if c.HasField("init"):
        lines.append(f" Init:\t\t{_go_bool(c.init)}")
    if c.user:
        lines.append(f" User: {c.user}")
    if c.capability_add or c.capability_drop:
        lines.append("Capabilities:")
        if c.capability_add:
            lines.append(f" Add: {', '.join(c.capability_add)}")
        if c.capability_drop:
            lines.append(f" Drop: {', '.join(c.capability_drop)}")
    if c.sysctls:
        lines += ["SysCtls:"] + [f" {k}: {v}" for k, v in sorted(c.sysctls.items())]
    if c.ulimits:
        lines += ["Ulimits:"] + [f" {u.name}: {u.soft}:{u.hard}" for u in c.ulimits]
    if c.mounts:
        lines.append("Mounts:")
        for m in c.mounts:
            lines += [
                f" Target:\t{m.target}",
                f"  Source:\t{m.source}",
                f"  ReadOnly:\t{_go_bool(m.read_only)}",
                f"  Type:\t\t{m.type}",
            ]
    if c.configs:
        lines.append("Configs:")
        for cr in c.configs:
            lines += [f" Target:\t{cr.file.name}", f"  Source:\t{cr.config_name}"]
    if c.secrets:
        lines.append("Secrets:")
        for sr in c.secrets:
            lines += [f" Target:\t{sr.file.name}", f"  Source:\t{sr.secret_name}"]
    lines += _resource_lines(t)
    if t.networks:
        lines.append("Networks:" + "".join(f" {n.target}" for n in t.networks) + " ")
    lines.append(f"Endpoint Mode:\t{spec.endpoint_spec.mode or 'vip'}")
    ports = published_ports(service)
    if ports:
        lines.append("Ports:")
        for p in ports:
            lines += [
                f" PublishedPort = {p.published_port}",
                f"  Protocol = {p.protocol or 'tcp'}",
                f"  TargetPort = {p.target_port}",
                f"  PublishMode = {p.publish_mode or 'ingress'}",
            ]
    if c.HasField("healthcheck"):
        h = c.healthcheck
        lines += [
            " Healthcheck:",
            f"  Interval = {go_duration(h.interval)}",
            f"  Retries = {h.retries}",
            f"  StartPeriod =\t{go_duration(h.start_period)}",
            f"  Timeout =\t{go_duration(h.timeout)}",
        ]
        if h.test:
            lines += ["  Tests:"] + [f"\t Test = {x}" for x in h.test]
    return "\n".join(lines) + "\n"
