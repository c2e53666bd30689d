"""Services: `service ls` rows, with their MODE, REPLICAS and PORTS columns
(docker/cli cli/command/service/formatter.go)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proto import objects_pb2

from ._common import Row, image_without_digest, natural_key, short_id

SERVICE_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Mode": "MODE",
    "Replicas": "REPLICAS",
    "Image": "IMAGE",
    "Ports": "PORTS",
}
SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"


def service_mode(spec: objects_pb2.ServiceSpec) -> str:
    return {
        "replicated": "replicated",
        "global": "global",
        "replicated_job": "replicated job",
        "global_job": "global job",
    }.get(spec.WhichOneof("mode") or "replicated", "replicated")


def _running(t: objects_pb2.Task) -> bool:
    """Running and meant to be: a job's task is desired COMPLETE while it runs."""
    return t.status.state == objects_pb2.RUNNING and t.desired_state <= objects_pb2.COMPLETE


def service_replicas(service: objects_pb2.Service, tasks: Sequence[objects_pb2.Task]) -> str:
    """REPLICAS of `service ls`: running/desired; jobs also completed/total, counting only the
    current job iteration's tasks (swarmkit's ListServiceStatuses, docker's formatter)."""
    spec = service.spec
    mode = spec.WhichOneof("mode") or "replicated"
    if mode in ("replicated_job", "global_job"):
        iteration = service.job_status.job_iteration  # 0 until the first update
        tasks = [t for t in tasks if t.job_iteration == iteration]
    running = sum(1 for t in tasks if _running(t))
    completed = sum(1 for t in tasks if t.status.state == objects_pb2.COMPLETE)
    if mode == "replicated":
        text = f"{running}/{spec.replicated.replicas}"
        max_per_node = spec.task_template.placement.max_replicas
        return f"{text} (max {max_per_node} per node)" if max_per_node else text
    if mode == "global":
        desired = sum(1 for t in tasks if t.desired_state == objects_pb2.RUNNING)
        return f"{running}/{desired}"
    if mode == "replicated_job":
        # desired is the concurrency, whatever is left to run: docker shows a finished
        # 3-task job as "0/3 (3/3 completed)"
        job = spec.replicated_job
        return f"{running}/{job.max_concurrent} ({completed}/{job.total_completions} completed)"
    # global job: desired is the tasks still to complete; the total adds the completed ones
    desired = sum(
        1
        for t in tasks
        if t.desired_state == objects_pb2.RUNNING
        or (t.desired_state == objects_pb2.COMPLETE and t.status.state != objects_pb2.COMPLETE)
    )
    return f"{running}/{desired} ({completed}/{desired + completed} completed)"


def published_ports(service: objects_pb2.Service) -> Sequence[objects_pb2.PortConfig]:
    """The ports as allocated (published ports filled in); before the allocator has seen the
    service, those of its spec."""
    if service.HasField("endpoint"):
        return service.endpoint.ports
    return service.spec.endpoint_spec.ports


def _range(first: int, last: int) -> str:
    return f"{first}-{last}" if last > first else str(first)


def service_ports(service: objects_pb2.Service) -> str:
    """PORTS of `service ls` (docker's service formatter): the ingress-published ports by
    protocol and port, consecutive ones merged ("*:8080-8081->80-81/tcp"); host-mode ports
    are not shown (they are in `service ps`)."""
    ingress = [p for p in published_ports(service) if (p.publish_mode or "ingress") == "ingress"]
    ingress.sort(key=lambda p: (p.protocol or "tcp", p.published_port))
    shown: list[str] = []
    # the current range: protocol, first and last published port, first and last target
    protocol, p_first, p_last, t_first, t_last = "", 0, 0, 0, 0
    for p in ingress:
        proto = p.protocol or "tcp"
        # Go's uint32 arithmetic: a port below the range's end is not "consecutive"
        next_published = (p.published_port - p_last) % 2**32 <= 1
        next_target = (p.target_port - t_last) % 2**32 <= 1
        overlaps = t_last != t_first and p.target_port <= t_last
        if proto == protocol and next_published and next_target and not overlaps:
            p_last, t_last = p.published_port, p.target_port
            continue
        if p_first > 0:
            shown.append(f"*:{_range(p_first, p_last)}->{_range(t_first, t_last)}/{protocol}")
        protocol, p_first, p_last = proto, p.published_port, p.published_port
        t_first = t_last = p.target_port
    if p_first > 0:
        shown.append(f"*:{_range(p_first, p_last)}->{_range(t_first, t_last)}/{protocol}")
    return ", ".join(shown)


def service_row(service: objects_pb2.Service, tasks: Sequence[objects_pb2.Task]) -> Row:
    return {
        "ID": short_id(service.id),
        "Name": service.spec.name,
        "Mode": service_mode(service.spec),
        "Replicas": service_replicas(service, tasks),
        "Image": image_without_digest(service.spec.task_template.container.image),
        "Ports": service_ports(service),
    }


def sort_services(services: Iterable[objects_pb2.Service]) -> list[objects_pb2.Service]:
    return sorted(services, key=lambda s: natural_key(s.spec.name))
