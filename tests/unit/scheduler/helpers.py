"""Builders for the scheduler tests: nodes and tasks with only what a test cares about."""

from __future__ import annotations

from collections.abc import Mapping

from manager.store import (
    Endpoint,
    EndpointSpec,
    EngineDescription,
    Meta,
    Node,
    NodeAvailability,
    NodeDescription,
    NodeRole,
    NodeSpec,
    NodeState,
    NodeStatus,
    Placement,
    PlacementPreference,
    PlatformDescription,
    PortConfig,
    PublishMode,
    ResourceRequirements,
    Resources,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
)

GB = 1 << 30
CPU = 1_000_000_000


def node(
    node_id: str,
    *,
    state: NodeState = NodeState.READY,
    availability: NodeAvailability = NodeAvailability.ACTIVE,
    role: NodeRole = NodeRole.WORKER,
    labels: Mapping[str, str] | None = None,
    engine_labels: Mapping[str, str] | None = None,
    hostname: str = "",
    os: str = "linux",
    arch: str = "x86_64",
    cpus: float = 4,
    memory: int = 8 * GB,
) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(labels=dict(labels or {}), role=role, availability=availability),
        description=NodeDescription(
            hostname=hostname or node_id,
            platform=PlatformDescription(architecture=arch, os=os),
            resources=Resources(nano_cpus=int(cpus * CPU), memory_bytes=memory),
            engine=EngineDescription(labels=dict(engine_labels or {})),
        ),
        status=NodeStatus(state=state),
        role=role,
    )


def spec(
    *,
    cpus: float = 0,
    memory: int = 0,
    constraints: tuple[str, ...] = (),
    spread: tuple[str, ...] = (),
    max_replicas: int = 0,
) -> TaskSpec:
    return TaskSpec(
        resources=ResourceRequirements(
            reservations=Resources(nano_cpus=int(cpus * CPU), memory_bytes=memory)
        ),
        placement=Placement(
            constraints=constraints,
            preferences=tuple(PlacementPreference(spread=s) for s in spread),
            max_replicas=max_replicas,
        ),
    )


def host_port(port: int) -> Endpoint:
    ports = (PortConfig(target_port=80, published_port=port, publish_mode=PublishMode.HOST),)
    return Endpoint(spec=EndpointSpec(ports=ports), ports=ports)


def task(
    task_id: str,
    service_id: str = "svc",
    *,
    task_spec: TaskSpec | None = None,
    node_id: str = "",
    state: TaskState = TaskState.PENDING,
    desired: TaskState = TaskState.RUNNING,
    endpoint: Endpoint | None = None,
    slot: int = 0,
    version: int = 0,
) -> Task:
    return Task(
        id=task_id,
        meta=Meta(version=version),
        service_id=service_id,
        slot=slot,
        node_id=node_id,
        spec=task_spec or TaskSpec(),
        desired_state=desired,
        status=TaskStatus(state=state),
        endpoint=endpoint,
    )


def running(task_id: str, node_id: str, service_id: str = "svc", **kwargs: object) -> Task:
    """A task already on a node, holding its resources."""
    return task(task_id, service_id, node_id=node_id, state=TaskState.RUNNING, **kwargs)  # type: ignore[arg-type]
