"""A service in the Docker API's JSON shape (`service inspect`; GET /services/{id})."""

from __future__ import annotations

from proto import objects_pb2

from ._common import Row, _nanos, _put, rfc3339


def _file(f: objects_pb2.FileTarget) -> Row:
    return {"Name": f.name, "UID": f.uid, "GID": f.gid, "Mode": f.mode}


def _mount(m: objects_pb2.Mount) -> Row:
    out: Row = {"Type": m.type, "Source": m.source, "Target": m.target}
    _put(out, "ReadOnly", m.read_only)
    _put(out, "Consistency", m.consistency)
    if m.bind_propagation:
        out["BindOptions"] = {"Propagation": m.bind_propagation}
    if m.type == "volume" and (m.volume_nocopy or m.volume_labels or m.volume_driver):
        volume: Row = {}
        _put(volume, "NoCopy", m.volume_nocopy)
        _put(volume, "Labels", dict(m.volume_labels))
        if m.volume_driver:
            volume["DriverConfig"] = {
                "Name": m.volume_driver,
                "Options": dict(m.volume_driver_options),
            }
        out["VolumeOptions"] = volume
    if m.type == "tmpfs" and (m.tmpfs_size_bytes or m.tmpfs_mode):
        tmpfs: Row = {}
        _put(tmpfs, "SizeBytes", m.tmpfs_size_bytes)
        _put(tmpfs, "Mode", m.tmpfs_mode)
        out["TmpfsOptions"] = tmpfs
    return out


def _container_spec(c: objects_pb2.ContainerSpec) -> Row:
    out: Row = {"Image": c.image}
    _put(out, "Labels", dict(c.labels))
    _put(out, "Command", list(c.command))
    _put(out, "Args", list(c.args))
    _put(out, "Hostname", c.hostname)
    _put(out, "Env", list(c.env))
    _put(out, "Dir", c.dir)
    _put(out, "User", c.user)
    _put(out, "Groups", list(c.groups))
    _put(out, "TTY", c.tty)
    _put(out, "OpenStdin", c.open_stdin)
    _put(out, "ReadOnly", c.read_only)
    _put(out, "Mounts", [_mount(m) for m in c.mounts])
    _put(out, "StopSignal", c.stop_signal)
    if c.HasField("stop_grace_period"):
        out["StopGracePeriod"] = _nanos(c.stop_grace_period)
    if c.HasField("healthcheck"):
        h = c.healthcheck
        health: Row = {"Test": list(h.test)}
        _put(health, "Interval", _nanos(h.interval))
        _put(health, "Timeout", _nanos(h.timeout))
        _put(health, "StartPeriod", _nanos(h.start_period))
        _put(health, "Retries", h.retries)
        out["Healthcheck"] = health
    _put(out, "Hosts", list(c.hosts))
    if c.HasField("dns_config"):
        dns: Row = {}
        _put(dns, "Nameservers", list(c.dns_config.nameservers))
        _put(dns, "Search", list(c.dns_config.search))
        _put(dns, "Options", list(c.dns_config.options))
        out["DNSConfig"] = dns
    secrets = [
        {"File": _file(s.file), "SecretID": s.secret_id, "SecretName": s.secret_name}
        for s in c.secrets
    ]
    _put(out, "Secrets", secrets)
    configs = [
        {"File": _file(s.file), "ConfigID": s.config_id, "ConfigName": s.config_name}
        for s in c.configs
    ]
    _put(out, "Configs", configs)
    out["Isolation"] = "default"
    if c.HasField("init"):
        out["Init"] = c.init
    _put(out, "Sysctls", dict(c.sysctls))
    _put(out, "CapabilityAdd", list(c.capability_add))
    _put(out, "CapabilityDrop", list(c.capability_drop))
    ulimits = [{"Name": u.name, "Hard": u.hard, "Soft": u.soft} for u in c.ulimits]
    _put(out, "Ulimits", ulimits)
    return out


def _resources(r: objects_pb2.Resources, pids: bool) -> Row:
    out: Row = {}
    _put(out, "NanoCPUs", r.nano_cpus)
    _put(out, "MemoryBytes", r.memory_bytes)
    if pids:
        _put(out, "Pids", r.pids)
    return out


def _network_attachment(n: objects_pb2.NetworkAttachmentConfig) -> Row:
    out: Row = {"Target": n.target}
    _put(out, "Aliases", list(n.aliases))
    _put(out, "DriverOpts", dict(n.driver_opts))
    return out


def _task_template(t: objects_pb2.TaskSpec) -> Row:
    restart = t.restart_policy
    placement: Row = {}
    _put(placement, "Constraints", list(t.placement.constraints))
    prefs = [{"Spread": {"SpreadDescriptor": p.spread}} for p in t.placement.preferences]
    _put(placement, "Preferences", prefs)
    _put(placement, "MaxReplicas", t.placement.max_replicas)
    platforms = [{"Architecture": p.architecture, "OS": p.os} for p in t.placement.platforms]
    _put(placement, "Platforms", platforms)
    restart_row: Row = {
        "Condition": restart.condition or "any",
        "Delay": _nanos(restart.delay),
        "MaxAttempts": restart.max_attempts,
    }
    _put(restart_row, "Window", _nanos(restart.window))
    out: Row = {
        "ContainerSpec": _container_spec(t.container),
        "Resources": {
            "Limits": _resources(t.resources.limits, True),
            "Reservations": _resources(t.resources.reservations, False),
        },
        "RestartPolicy": restart_row,
        "Placement": placement,
    }
    _put(out, "Networks", [_network_attachment(n) for n in t.networks])
    out["ForceUpdate"] = t.force_update
    out["Runtime"] = "container"
    return out


def _update_config(u: objects_pb2.UpdateConfig) -> Row:
    out: Row = {"Parallelism": u.parallelism}
    _put(out, "Delay", _nanos(u.delay))
    out["FailureAction"] = u.failure_action or "pause"
    out["Monitor"] = _nanos(u.monitor)
    out["MaxFailureRatio"] = u.max_failure_ratio
    out["Order"] = u.order or "stop-first"
    return out


def _port_config(p: objects_pb2.PortConfig) -> Row:
    out: Row = {}
    _put(out, "Name", p.name)
    out["Protocol"] = p.protocol or "tcp"
    out["TargetPort"] = p.target_port
    _put(out, "PublishedPort", p.published_port)
    out["PublishMode"] = p.publish_mode or "ingress"
    return out


def _mode(spec: objects_pb2.ServiceSpec) -> Row:
    mode = spec.WhichOneof("mode") or "replicated"
    if mode == "replicated":
        return {"Replicated": {"Replicas": spec.replicated.replicas}}
    if mode == "global":
        return {"Global": {}}
    if mode == "replicated_job":
        job = spec.replicated_job
        return {
            "ReplicatedJob": {
                "MaxConcurrent": job.max_concurrent,
                "TotalCompletions": job.total_completions,
            }
        }
    return {"GlobalJob": {}}


def _endpoint_spec(e: objects_pb2.EndpointSpec) -> Row:
    out: Row = {"Mode": e.mode or "vip"}
    _put(out, "Ports", [_port_config(p) for p in e.ports])
    return out


def service_spec(spec: objects_pb2.ServiceSpec) -> Row:
    """A ServiceSpec in the Docker API's swarm.ServiceSpec shape."""
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": _task_template(spec.task_template),
        "Mode": _mode(spec),
        "UpdateConfig": _update_config(spec.update_config),
        "RollbackConfig": _update_config(spec.rollback_config),
        "EndpointSpec": _endpoint_spec(spec.endpoint_spec),
    }


def service_inspect(service: objects_pb2.Service) -> Row:
    """A service in the Docker API's shape (GET /services/{id})."""
    out: Row = {
        "ID": service.id,
        "Version": {"Index": service.meta.version},
        "CreatedAt": rfc3339(service.meta.created_at),
        "UpdatedAt": rfc3339(service.meta.updated_at),
        "Spec": service_spec(service.spec),
    }
    if service.HasField("previous_spec"):
        out["PreviousSpec"] = service_spec(service.previous_spec)
    # Endpoint: what the allocator made of the spec (published ports filled in, a VIP per
    # network); Endpoint.Spec is the spec it allocated from
    e = service.endpoint
    allocated = e.spec if e.HasField("spec") else service.spec.endpoint_spec
    endpoint: Row = {"Spec": _endpoint_spec(allocated)}
    _put(endpoint, "Ports", [_port_config(p) for p in e.ports])
    _put(
        endpoint, "VirtualIPs", [{"NetworkID": v.network_id, "Addr": v.addr} for v in e.virtual_ips]
    )
    out["Endpoint"] = endpoint
    if service.HasField("update_status"):
        u = service.update_status
        status: Row = {"State": u.state}
        if u.HasField("started_at"):
            status["StartedAt"] = rfc3339(u.started_at)
        if u.HasField("completed_at"):
            status["CompletedAt"] = rfc3339(u.completed_at)
        status["Message"] = u.message
        out["UpdateStatus"] = status
    return out
