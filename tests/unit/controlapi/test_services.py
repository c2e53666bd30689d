"""Services and tasks through the Control API's core: swarmkit's validation and messages,
name resolution of secrets and configs, versions, removal left to the task reaper."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from manager.controlapi import (
    AlreadyExistsError,
    ControlServicer,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    add_to_server,
    create_service,
    get_service,
    get_task,
    list_services,
    list_tasks,
    remove_service,
    update_service,
)
from manager.controlapi.services import random_name
from manager.orchestrator._common import ClusterState
from manager.orchestrator.task_reaper import reap
from manager.store import (
    Config,
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    FileTarget,
    GlobalService,
    HealthConfig,
    Mount,
    MountType,
    Placement,
    PlacementPreference,
    ReplicatedJob,
    ReplicatedService,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    Secret,
    SecretReference,
    SecretSpec,
    Service,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    codec,
)
from proto import control_pb2, control_pb2_grpc, objects_pb2
from tests.unit.store.helpers import T0, new_store


def fixed(n: int) -> bytes:
    return b"\x01" * n


def spec(name: str = "web", image: str = "nginx:1.27", **task: object) -> ServiceSpec:
    container = task.pop("container", ContainerSpec(image=image))
    template = dataclasses.replace(TaskSpec(container=container), **task)  # type: ignore[arg-type]
    return ServiceSpec(name=name, task_template=template)


def with_container(s: ServiceSpec, **changes: object) -> ServiceSpec:
    c = dataclasses.replace(s.task_template.container, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(s, task_template=dataclasses.replace(s.task_template, container=c))


async def test_create_stores_the_spec_and_returns_the_committed_service() -> None:
    store = new_store()
    created = await create_service(store, spec(), entropy=fixed)
    assert created.meta.version > 0
    assert created.spec.name == "web"
    assert created.spec_version == 1
    assert store.view().get(Service, created.id) == created
    assert get_service(store, "web") == created
    assert get_service(store, created.id[:6]) == created
    assert list_services(store) == [created]


async def test_an_empty_name_gets_a_random_docker_style_name() -> None:
    store = new_store()
    created = await create_service(store, spec(name=""), entropy=fixed)
    assert created.spec.name == random_name(fixed) == "bold_babbage"
    again = await create_service(store, spec(name=""), entropy=fixed)
    assert again.spec.name == "bold_babbage1"


async def test_a_taken_name_is_refused_whatever_its_case() -> None:
    store = new_store()
    await create_service(store, spec(), entropy=fixed)
    with pytest.raises(AlreadyExistsError) as raised:
        await create_service(store, spec(name="WEB"), entropy=fixed)
    assert str(raised.value) == "service WEB already exists"


BAD_SPECS: list[tuple[ServiceSpec, str]] = [
    (spec(name="-web"), "name must be valid as a DNS name component"),
    (spec(name="a" * 64), "name must be 63 characters or fewer"),
    (spec(image=""), "ContainerSpec: image reference must be provided"),
    (spec(image="Nginx:1"), "ContainerSpec: 'Nginx:1' is not a valid repository/tag"),
    (
        dataclasses.replace(spec(), mode=ReplicatedService(replicas=-1)),
        "Number of replicas must be non-negative",
    ),
    (
        dataclasses.replace(spec(), mode=ReplicatedJob(max_concurrent=-1)),
        "Maximum concurrent jobs must not be negative",
    ),
    (
        spec(placement=Placement(constraints=("node.colour==red",))),
        "invalid constraint",
    ),
    (
        spec(placement=Placement(preferences=(PlacementPreference(spread=""),))),
        "invalid placement preference",
    ),
    (
        spec(restart_policy=RestartPolicy(delay=timedelta(seconds=-1))),
        "TaskSpec: restart-delay cannot be negative",
    ),
    (
        spec(resources=ResourceRequirements(limits=Resources(memory_bytes=1024))),
        "invalid memory value 1024: Must be at least 4MiB",
    ),
    (
        spec(resources=ResourceRequirements(reservations=Resources(nano_cpus=10))),
        "invalid cpu value 1e-08: Must be at least 0.001",
    ),
    (
        with_container(spec(), mounts=(Mount(target="/a"), Mount(target="/a"))),
        "ContainerSpec: duplicate mount point: /a",
    ),
    (
        with_container(spec(), mounts=(Mount(type=MountType.BIND, source="rel", target="/a"),)),
        "source must be an absolute path",
    ),
    (
        with_container(spec(), healthcheck=HealthConfig(interval=timedelta(microseconds=5))),
        "Interval in HealthConfig cannot be less than 1ms",
    ),
]


@pytest.mark.parametrize(("bad", "message"), BAD_SPECS)
async def test_an_invalid_spec_is_refused_and_nothing_is_written(
    bad: ServiceSpec, message: str
) -> None:
    store = new_store()
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, bad, entropy=fixed)
    assert message in str(raised.value)
    assert store.view().all(Service) == []


@pytest.mark.parametrize(
    "image",
    ["nginx", "nginx:1.27", "library/nginx", "127.0.0.1:5000/web:1", "lab.local/a/b_c:v1.0",
     "busybox@sha256:" + "a" * 64],
)  # fmt: skip
async def test_valid_image_references_are_accepted(image: str) -> None:
    store = new_store()
    assert (await create_service(store, spec(image=image), entropy=fixed)).id


async def add_secret_and_config(store: Store) -> tuple[Secret, Config]:
    secret = await store.update(lambda tx: tx.create(Secret(spec=SecretSpec(name="pw", data=b"x"))))
    config = await store.update(
        lambda tx: tx.create(Config(spec=ConfigSpec(name="conf", data=b"y")))
    )
    return secret, config


async def test_secrets_and_configs_are_resolved_by_name_with_default_targets() -> None:
    store = new_store()
    secret, config = await add_secret_and_config(store)
    s = with_container(
        spec(),
        secrets=(SecretReference(secret_name="pw"),),
        configs=(ConfigReference(config_name="conf", file=FileTarget(name="/etc/app.conf")),),
    )
    created = await create_service(store, s, entropy=fixed)
    c = created.spec.task_template.container
    assert c.secrets == (SecretReference(secret.id, "pw", FileTarget(name="pw")),)
    assert c.configs == (ConfigReference(config.id, "conf", FileTarget(name="/etc/app.conf")),)


async def test_missing_secrets_and_configs_are_named() -> None:
    store = new_store()
    await add_secret_and_config(store)
    one = with_container(spec(), secrets=(SecretReference(secret_name="nope"),))
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, one, entropy=fixed)
    assert str(raised.value).startswith("secret not found: nope;")
    two = with_container(
        spec(), configs=(ConfigReference(config_name="a"), ConfigReference(config_name="b"))
    )
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, two, entropy=fixed)
    assert str(raised.value).startswith("configs not found: a, b;")
    assert store.view().all(Service) == []


async def test_two_secrets_with_one_target_are_refused() -> None:
    store = new_store()
    await add_secret_and_config(store)
    s = with_container(
        spec(),
        secrets=(
            SecretReference(secret_name="pw"),
            SecretReference(secret_name="pw", file=FileTarget(name="pw")),
        ),
    )
    with pytest.raises(InvalidArgumentError) as raised:
        await create_service(store, s, entropy=fixed)
    assert str(raised.value) == "secret references 'pw' and 'pw' have a conflicting target: 'pw'"


async def test_update_keeps_the_previous_spec_and_bumps_the_spec_version() -> None:
    store = new_store()
    created = await create_service(store, spec(), entropy=fixed)
    scaled = dataclasses.replace(created.spec, mode=ReplicatedService(replicas=5))
    updated = await update_service(store, "web", version=created.meta.version, spec=scaled)
    assert updated.spec.mode == ReplicatedService(replicas=5)
    assert updated.previous_spec == created.spec
    assert (updated.spec_version, updated.previous_spec_version) == (2, 1)
    assert updated.meta.version > created.meta.version


async def test_update_from_an_old_version_is_out_of_sequence() -> None:
    store = new_store()
    created = await create_service(store, spec(), entropy=fixed)
    await update_service(store, "web", version=created.meta.version, spec=created.spec)
    with pytest.raises(FailedPreconditionError) as raised:
        await update_service(store, "web", version=created.meta.version, spec=created.spec)
    assert "update out of sequence" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "api"}, "renaming services is not supported"),
        ({"mode": GlobalService()}, "service mode change is not allowed"),
    ],
)
async def test_update_cannot_rename_or_change_the_mode(
    change: dict[str, object], message: str
) -> None:
    store = new_store()
    created = await create_service(store, spec(), entropy=fixed)
    changed = dataclasses.replace(created.spec, **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError) as raised:
        await update_service(store, "web", version=created.meta.version, spec=changed)
    assert str(raised.value) == message


async def test_registry_auth_is_stored_never_returned_and_kept_by_updates() -> None:
    store = new_store()
    created = await create_service(
        store, with_container(spec(), registry_auth="c2VjcmV0"), entropy=fixed
    )
    assert created.spec.task_template.container.registry_auth == ""
    scaled = dataclasses.replace(created.spec, mode=ReplicatedService(replicas=2))
    await update_service(store, "web", version=created.meta.version, spec=scaled)
    stored = store.view().get(Service, created.id)
    assert stored is not None
    assert stored.spec.task_template.container.registry_auth == "c2VjcmV0"
    assert get_service(store, "web").spec.task_template.container.registry_auth == ""


async def test_unknown_service_is_not_found() -> None:
    store = new_store()
    with pytest.raises(NotFoundError) as raised:
        get_service(store, "nope")
    assert str(raised.value) == "service nope not found"
    with pytest.raises(NotFoundError):
        await remove_service(store, "nope")


async def test_remove_deletes_the_service_and_the_reaper_then_shuts_its_tasks_down() -> None:
    store = new_store()
    created = await create_service(store, spec(), entropy=fixed)
    task = Task(
        service_id=created.id,
        slot=1,
        node_id="n1",
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.RUNNING),
    )
    await store.update(lambda tx: tx.create(task))
    await remove_service(store, "web")
    assert store.view().all(Service) == []
    plan = reap(ClusterState.from_view(store.view(), T0))  # what the task reaper will do
    assert [type(a).__name__ for a in plan.actions] == ["SetDesiredState"]


async def add_tasks(store: Store) -> tuple[str, str]:
    a = await create_service(store, spec("a"), entropy=fixed)
    b = await create_service(store, spec("b"), entropy=fixed)
    for service, node, desired in [
        (a, "n1", TaskState.RUNNING),
        (a, "n2", TaskState.SHUTDOWN),
        (b, "n1", TaskState.RUNNING),
    ]:
        t = Task(service_id=service.id, node_id=node, slot=1, desired_state=desired)
        await store.update(lambda tx, t=t: tx.create(t))  # type: ignore[misc]
    return a.id, b.id


async def test_list_tasks_filters_by_service_node_and_desired_state() -> None:
    store = new_store()
    a, b = await add_tasks(store)

    def listed(**filters: object) -> list[tuple[str, str]]:
        found = list_tasks(store, **filters)  # type: ignore[arg-type]
        return sorted((t.service_id, t.node_id) for t in found)

    assert len(listed()) == 3
    assert listed(service_ids=[a]) == [(a, "n1"), (a, "n2")]
    assert listed(node_ids=["n1"]) == sorted([(a, "n1"), (b, "n1")])
    assert listed(service_ids=[a], node_ids=["n1"]) == [(a, "n1")]
    assert listed(service_ids=[a], desired_states=[TaskState.RUNNING]) == [(a, "n1")]
    assert listed(service_ids=["none"]) == []
    some = list_tasks(store)[0]
    assert get_task(store, some.id) == some


# -- through the gRPC servicer -----------------------------------------------------------------


async def test_the_servicer_answers_with_codes_and_one_line_messages(tmp_path: Path) -> None:
    store = new_store()
    await add_tasks(store)
    server = grpc.aio.server()
    add_to_server(ControlServicer(store, entropy=fixed), server)
    address = f"unix:{tmp_path / 'shoal.sock'}"
    server.add_insecure_port(address)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = control_pb2_grpc.ControlStub(channel)  # type: ignore[no-untyped-call]
            msg = codec.to_message(spec("web"))
            assert isinstance(msg, objects_pb2.ServiceSpec)
            created = await stub.CreateService(control_pb2.CreateServiceRequest(spec=msg))
            assert created.spec.name == "web" and created.spec.HasField("replicated")
            again = stub.CreateService(control_pb2.CreateServiceRequest(spec=msg))
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await again
            assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
            assert raised.value.details() == "service web already exists"

            msg.replicated.replicas = 3
            request = control_pb2.UpdateServiceRequest(
                ref="web", version=created.meta.version, spec=msg
            )
            updated = await stub.UpdateService(request)
            assert updated.spec.replicated.replicas == 3
            assert updated.previous_spec.replicated.replicas == 1

            listed = await stub.ListServices(control_pb2.ListRequest())
            assert sorted(s.spec.name for s in listed.services) == ["a", "b", "web"]
            running = await stub.ListTasks(
                control_pb2.ListTasksRequest(desired_states=[objects_pb2.RUNNING])
            )
            assert len(running.tasks) == 2
            await stub.RemoveService(control_pb2.RemoveRequest(ref="web"))
            gone = stub.GetService(control_pb2.GetRequest(ref="web"))
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await gone
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            bad = stub.CreateService(control_pb2.CreateServiceRequest())
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await bad
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await server.stop(None)
