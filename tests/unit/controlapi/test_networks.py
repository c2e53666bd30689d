"""Networks: Docker's validation, one ingress network, removal refused while in use; and the
four RPCs through a real grpc.aio server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from manager.allocator import ingress_network
from manager.controlapi import (
    AlreadyExistsError,
    ControlServicer,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    add_to_server,
    create_network,
    get_network,
    list_networks,
    remove_network,
)
from manager.store import (
    EndpointSpec,
    IPAMConfig,
    Network,
    NetworkAttachment,
    NetworkAttachmentConfig,
    NetworkSpec,
    PortConfig,
    PublishMode,
    Service,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
)
from proto import control_pb2, control_pb2_grpc, objects_pb2
from tests.unit.controlapi.helpers import cluster_store
from tests.unit.store.helpers import new_store


async def add_service(
    store: Store, name: str, networks: tuple[str, ...] = (), ports: tuple[PortConfig, ...] = ()
) -> Service:
    template = TaskSpec(networks=tuple(NetworkAttachmentConfig(target=n) for n in networks))
    spec = ServiceSpec(name=name, task_template=template, endpoint_spec=EndpointSpec(ports=ports))
    return await store.update(lambda tx: tx.create(Service(spec=spec)))


async def add_task(store: Store, network_id: str, state: TaskState) -> Task:
    task = Task(
        service_id="gone",
        networks=(NetworkAttachment(network_id, ("10.0.1.3/24",)),),
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=state),
    )
    return await store.update(lambda tx: tx.create(task))


async def delete_service(store: Store, service_id: str) -> None:
    await store.update(lambda tx: tx.delete(Service, service_id))


# -- create ------------------------------------------------------------------------------------


async def test_a_network_is_created_as_overlay_and_found_by_name_id_and_prefix() -> None:
    store = new_store()
    created = await create_network(
        store, NetworkSpec(name="front", driver="", labels={"a": "b"}, attachable=True)
    )
    assert created.spec.driver == "overlay"
    assert created.spec.labels == {"a": "b"} and created.spec.attachable
    assert created.meta.version > 0
    assert get_network(store, "front").id == created.id
    assert get_network(store, "FRONT").id == created.id
    assert get_network(store, created.id[:8]).id == created.id
    assert [n.spec.name for n in list_networks(store)] == ["front"]
    with pytest.raises(NotFoundError, match=r"^network back not found$"):
        get_network(store, "back")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (NetworkSpec(name=""), "name must be provided"),
        (NetworkSpec(name="bad name"), "invalid name, only 64"),
        (
            NetworkSpec(name="n", driver="bridge"),
            "network driver bridge is not supported; use overlay",
        ),
        (
            NetworkSpec(name="n", driver_options={"encrypted": ""}),
            "encrypted overlay networks are not supported yet",
        ),
        (
            NetworkSpec(name="n", ingress=True, attachable=True),
            "ingress network cannot be attachable",
        ),
        (
            NetworkSpec(name="n", ipam_configs=(IPAMConfig(subnet="10.1.0.0/16"),) * 2),
            "only one --subnet per network is supported",
        ),
        (
            NetworkSpec(name="n", ipam_configs=(IPAMConfig(subnet="10.1.0.1/16"),)),
            "invalid subnet '10.1.0.1/16'",
        ),
        (
            NetworkSpec(name="n", ipam_configs=(IPAMConfig(gateway="10.1.0.1"),)),
            "--gateway and --ip-range need --subnet",
        ),
        (
            NetworkSpec(
                name="n", ipam_configs=(IPAMConfig(subnet="10.1.0.0/16", gateway="10.2.0.1"),)
            ),
            "gateway 10.2.0.1 is not inside subnet 10.1.0.0/16",
        ),
    ],
)
async def test_an_invalid_network_is_refused_and_nothing_is_stored(
    spec: NetworkSpec, message: str
) -> None:
    store = new_store()
    with pytest.raises(InvalidArgumentError, match=message.replace("[", r"\[")):
        await create_network(store, spec)
    assert store.view().all(Network) == []


async def test_a_taken_name_is_refused() -> None:
    store = new_store()
    await create_network(store, NetworkSpec(name="front"))
    with pytest.raises(AlreadyExistsError, match=r"^network Front already exists$"):
        await create_network(store, NetworkSpec(name="Front"))


async def test_a_subnet_overlapping_another_networks_is_refused() -> None:
    store = new_store()
    await create_network(store, NetworkSpec(name="a", ipam_configs=(IPAMConfig("10.5.0.0/16"),)))
    allocated = dataclasses.replace(
        await create_network(store, NetworkSpec(name="b")), subnet="10.0.0.0/24"
    )
    await store.update(lambda tx: tx.update(allocated))
    with pytest.raises(InvalidArgumentError) as raised:
        await create_network(
            store, NetworkSpec(name="c", ipam_configs=(IPAMConfig("10.5.3.0/24"),))
        )
    assert str(raised.value) == (
        "subnet 10.5.3.0/24 overlaps subnet 10.5.0.0/16 of network a: choose another --subnet"
    )
    with pytest.raises(InvalidArgumentError, match=r"overlaps subnet 10\.0\.0\.0/24 of network b"):
        await create_network(
            store, NetworkSpec(name="c", ipam_configs=(IPAMConfig("10.0.0.0/23"),))
        )
    await create_network(store, NetworkSpec(name="c", ipam_configs=(IPAMConfig("10.6.0.0/16"),)))


async def test_only_one_ingress_network_exists_and_the_predefined_one_may_be_replaced() -> None:
    store = new_store()
    predefined = await store.update(lambda tx: tx.create(ingress_network()))
    with pytest.raises(AlreadyExistsError) as raised:
        await create_network(store, NetworkSpec(name="mesh", ingress=True))
    assert str(raised.value) == (
        "ingress network (ingress) is already present; only one is allowed: remove it first"
    )
    await remove_network(store, "ingress")
    assert store.view().get(Network, predefined.id) is None
    mesh = await create_network(store, NetworkSpec(name="mesh", ingress=True))
    assert mesh.spec.ingress


# -- remove ------------------------------------------------------------------------------------


async def test_a_network_used_by_services_is_not_removed_then_is_once_unused() -> None:
    store = new_store()
    front = await create_network(store, NetworkSpec(name="front"))
    web = await add_service(store, "web", (front.id,))
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_network(store, "front")
    assert str(raised.value) == "network front is in use by service web"
    api = await add_service(store, "api", (front.id,))
    with pytest.raises(FailedPreconditionError, match=r"in use by services api, web$"):
        await remove_network(store, front.id)
    for s in (web, api):
        await delete_service(store, s.id)
    await remove_network(store, front.id[:6])
    assert store.view().all(Network) == []


async def test_a_network_still_held_by_a_task_is_not_removed() -> None:
    store = new_store()
    front = await create_network(store, NetworkSpec(name="front"))
    running = await add_task(store, front.id, TaskState.RUNNING)
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_network(store, "front")
    assert str(raised.value) == f"network front is in use by task {running.id}"
    stored = store.view().get(Task, running.id)
    assert stored is not None
    ended = dataclasses.replace(stored, status=TaskStatus(state=TaskState.FAILED))
    await store.update(lambda tx: tx.update(ended))
    await remove_network(store, "front")


async def test_ingress_is_not_removed_while_a_service_publishes_an_ingress_port() -> None:
    store = new_store()
    await store.update(lambda tx: tx.create(ingress_network()))
    host = PortConfig(target_port=80, published_port=80, publish_mode=PublishMode.HOST)
    await add_service(store, "local", ports=(host,))
    web = await add_service(store, "web", ports=(PortConfig(target_port=80),))
    with pytest.raises(FailedPreconditionError) as raised:
        await remove_network(store, "ingress")
    assert (
        str(raised.value) == "ingress network cannot be removed because service web depends on it"
    )
    await store.update(lambda tx: tx.delete(Service, web.id))
    await remove_network(store, "ingress")


async def test_removing_an_unknown_network_is_not_found() -> None:
    store = new_store()
    with pytest.raises(NotFoundError, match=r"^network nope not found$"):
        await remove_network(store, "nope")


# -- the RPCs ----------------------------------------------------------------------------------


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[control_pb2_grpc.ControlStub]:
    store = await cluster_store()
    server = grpc.aio.server()
    add_to_server(ControlServicer(store), server)
    address = f"unix:{tmp_path / 'shoal.sock'}"
    server.add_insecure_port(address)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield control_pb2_grpc.ControlStub(channel)  # type: ignore[no-untyped-call]
    finally:
        await server.stop(None)


async def test_the_network_rpcs(stub: control_pb2_grpc.ControlStub) -> None:
    spec = objects_pb2.NetworkSpec(
        name="front", ipam_configs=[objects_pb2.IPAMConfig(subnet="10.7.0.0/24")]
    )
    created = await stub.CreateNetwork(control_pb2.CreateNetworkRequest(spec=spec))
    assert created.spec.driver == "overlay" and created.id
    got = await stub.GetNetwork(control_pb2.GetRequest(ref="front"))
    assert got.id == created.id
    listed = await stub.ListNetworks(control_pb2.ListRequest())
    assert [n.spec.name for n in listed.networks] == ["front"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateNetwork(
            control_pb2.CreateNetworkRequest(
                spec=objects_pb2.NetworkSpec(name="x", driver="macvlan")
            )
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "network driver macvlan is not supported; use overlay"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateNetwork(control_pb2.CreateNetworkRequest())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await stub.RemoveNetwork(control_pb2.RemoveRequest(ref="front"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetNetwork(control_pb2.GetRequest(ref="front"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
