"""The peer table: which network views a node gets, what they hold, how the assignment stream
keeps them current, and their wire form. A store without Raft; no sleeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from manager.dispatcher import (
    AssignmentBatch,
    AssignmentChange,
    AssignmentDispatcher,
    ChangeAction,
    NetworkPeer,
    NetworkService,
    NetworkView,
    network_views,
    node_assignments,
    wire,
)
from manager.store import (
    Cluster,
    Endpoint,
    EndpointMode,
    EndpointSpec,
    Network,
    NetworkAttachment,
    NetworkAttachmentConfig,
    NetworkSpec,
    Node,
    NodeStatus,
    PortConfig,
    Service,
    ServiceAnnotations,
    ServiceSpec,
    Store,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    VirtualIP,
    WriteTx,
)
from tests.unit.dispatcher.helpers import running, settle
from tests.unit.dispatcher.test_assignments import Stream

S = TaskState
UPDATE, REMOVE = ChangeAction.UPDATE, ChangeAction.REMOVE

INGRESS = Network(
    id="ing",
    spec=NetworkSpec(name="ingress", ingress=True),
    subnet="10.0.0.0/24",
    gateway="10.0.0.1",
    vxlan_id=4096,
)
FRONT = Network(
    id="front",
    spec=NetworkSpec(name="front"),
    subnet="10.0.1.0/24",
    gateway="10.0.1.1",
    vxlan_id=4097,
)
BACK = Network(
    id="back",
    spec=NetworkSpec(name="back"),
    subnet="10.0.2.0/24",
    gateway="10.0.2.1",
    vxlan_id=4098,
)
UNALLOCATED = Network(id="new", spec=NetworkSpec(name="new"))
WEB_PORT = PortConfig(target_port=80, published_port=8080)


def node(node_id: str, addr: str, ingress_addr: str = "") -> Node:
    attachments = (
        (NetworkAttachment("ing", (ingress_addr,), (), f"02:42:{node_id}"),) if ingress_addr else ()
    )
    return Node(id=node_id, status=NodeStatus(addr=addr), attachments=attachments)


def attach(network_id: str, address: str, *aliases: str) -> NetworkAttachment:
    return NetworkAttachment(network_id, (address,), aliases, f"mac-{address}")


def task(
    task_id: str,
    service: str,
    node_id: str,
    *networks: NetworkAttachment,
    slot: int = 1,
    state: TaskState = S.RUNNING,
    desired: TaskState = S.RUNNING,
) -> Task:
    return Task(
        id=task_id,
        service_id=f"svc-{service}",
        slot=slot,
        node_id=node_id,
        service_annotations=ServiceAnnotations(name=service),
        spec=TaskSpec(),
        desired_state=desired,
        status=TaskStatus(state=state),
        networks=networks,
    )


def service(
    name: str,
    *targets: NetworkAttachmentConfig,
    mode: EndpointMode = EndpointMode.VIP,
    vips: tuple[VirtualIP, ...] = (),
    ports: tuple[PortConfig, ...] = (),
) -> Service:
    spec = ServiceSpec(
        name=name,
        task_template=TaskSpec(networks=targets),
        endpoint_spec=EndpointSpec(mode=mode, ports=ports),
    )
    endpoint = Endpoint(spec=spec.endpoint_spec, ports=ports, virtual_ips=vips)
    return Service(id=f"svc-{name}", spec=spec, endpoint=endpoint)


def cluster_objects() -> list[object]:
    """n1 and n2 report addresses, n3 has not yet; web (VIP, published 8080) runs on n1 and
    starts on n2; db (dnsrr) runs on n2; api (global) runs on n1."""
    return [
        Cluster(id="c1", data_path_port=4790),
        node("n1", "192.168.0.1", "10.0.0.2/24"),
        node("n2", "192.168.0.2", "10.0.0.3/24"),
        node("n3", "", "10.0.0.4/24"),
        node("n4", "192.168.0.4", "10.0.0.10/24"),
        INGRESS,
        FRONT,
        BACK,
        UNALLOCATED,
        service(
            "web",
            NetworkAttachmentConfig(target="front", aliases=("www",)),
            vips=(VirtualIP("front", "10.0.1.2/24"), VirtualIP("ing", "10.0.0.5/24")),
            ports=(WEB_PORT,),
        ),
        service("db", NetworkAttachmentConfig(target="back"), mode=EndpointMode.DNSRR),
        service(
            "api",
            NetworkAttachmentConfig(target="front"),
            vips=(VirtualIP("front", "10.0.1.20/24"),),
        ),
        task(
            "w1", "web", "n1", attach("front", "10.0.1.3/24", "www"), attach("ing", "10.0.0.6/24")
        ),
        task("w2", "web", "n2", attach("front", "10.0.1.10/24", "www"), state=S.STARTING, slot=2),
        task("w3", "web", "n2", attach("front", "10.0.1.9/24"), state=S.FAILED, slot=3),
        task("w4", "web", "n3", attach("front", "10.0.1.8/24"), slot=4),
        task("d1", "db", "n2", attach("back", "10.0.2.3/24")),
        task("a1", "api", "n1", attach("front", "10.0.1.21/24"), slot=0),
    ]


async def make_store(*extra: object) -> Store:
    store = Store()

    def create(tx: WriteTx) -> None:
        for obj in [*cluster_objects(), *extra]:
            tx.create(obj)  # type: ignore[type-var]

    await store.update(create)
    return store


def views_of(store: Store, node_id: str) -> Mapping[str, NetworkView]:
    return node_assignments(store.view(), node_id).networks


# -- which views ---------------------------------------------------------------------------------


async def test_a_node_gets_its_tasks_networks_and_ingress_only_allocated_ones() -> None:
    store = await make_store()
    assert sorted(views_of(store, "n1")) == ["front", "ing"]
    assert sorted(views_of(store, "n2")) == ["back", "front", "ing"]
    assert sorted(views_of(store, "n4")) == ["ing"]  # no tasks: ingress all the same


async def test_no_networks_means_no_views() -> None:
    store = Store()
    await store.update(lambda tx: tx.create(node("n1", "192.168.0.1")))
    assert views_of(store, "n1") == {}
    await store.update(lambda tx: tx.create(UNALLOCATED))
    assert views_of(store, "n1") == {}
    on_unallocated = task("t1", "x", "n1", attach("new", "10.9.0.2/24"))
    assert network_views(store.view(), "n1", [on_unallocated]) == {}


async def test_a_terminal_task_needs_no_network() -> None:
    store = await make_store()
    failed = task("w9", "web", "n4", attach("back", "10.0.2.9/24"), state=S.FAILED)
    assert sorted(network_views(store.view(), "n4", [failed])) == ["ing"]


# -- what a view holds -------------------------------------------------------------------------


async def test_peers_span_nodes_sorted_by_address_with_task_names_and_serving() -> None:
    store = await make_store()
    front = views_of(store, "n1")["front"]
    assert front.network == store.view().get(Network, "front")
    assert front.data_path_port == 4790
    assert front.peers == (
        NetworkPeer(
            "10.0.1.3/24",
            "mac-10.0.1.3/24",
            "n1",
            "192.168.0.1",
            "w1",
            "web.1.w1",
            "svc-web",
            ("www",),
            serving=True,
        ),
        NetworkPeer(
            "10.0.1.10/24",
            "mac-10.0.1.10/24",
            "n2",
            "192.168.0.2",
            "w2",
            "web.2.w2",
            "svc-web",
            ("www",),
            serving=False,
        ),
        NetworkPeer(
            "10.0.1.21/24",
            "mac-10.0.1.21/24",
            "n1",
            "192.168.0.1",
            "a1",
            "api.n1.a1",
            "svc-api",
            serving=True,
        ),
    )  # w3 failed, w4's node has no address yet; 10.0.1.10 sorts after 10.0.1.3 as a number


async def test_serving_needs_observed_and_desired_running() -> None:
    store = await make_store(
        task("w5", "web", "n2", attach("front", "10.0.1.11/24"), desired=S.SHUTDOWN, slot=5)
    )
    peers = {p.task_id: p.serving for p in views_of(store, "n1")["front"].peers}
    assert peers == {"w1": True, "w2": False, "w5": False, "a1": True}


async def test_every_node_gets_every_nodes_ingress_sandbox_and_the_ingress_tasks() -> None:
    store = await make_store()
    ingress = views_of(store, "n4")["ing"]
    assert views_of(store, "n1")["ing"] == ingress  # the same table on every node
    assert [(p.address, p.node_id, p.task_id) for p in ingress.peers] == [
        ("10.0.0.2/24", "n1", ""),
        ("10.0.0.3/24", "n2", ""),
        ("10.0.0.6/24", "n1", "w1"),
        ("10.0.0.10/24", "n4", ""),
    ]  # n3 has no address to reach it at
    assert ingress.peers[0] == NetworkPeer("10.0.0.2/24", "02:42:n1", "n1", "192.168.0.1")


async def test_services_with_vips_ports_and_aliases_per_network() -> None:
    store = await make_store()
    views = views_of(store, "n2")
    assert views["front"].services == (
        NetworkService("svc-api", "api", vip="10.0.1.20/24"),
        NetworkService("svc-web", "web", vip="10.0.1.2/24", ports=(WEB_PORT,), aliases=("www",)),
    )
    assert views["ing"].services == (
        NetworkService("svc-web", "web", vip="10.0.0.5/24", ports=(WEB_PORT,)),
    )
    assert views["back"].services == (
        NetworkService("svc-db", "db", endpoint_mode=EndpointMode.DNSRR),
    )


async def test_a_service_being_removed_is_no_longer_listed() -> None:
    store = await make_store()

    def remove_api(tx: WriteTx) -> None:
        api = tx.get(Service, "svc-api")
        assert api is not None
        tx.update(dataclasses.replace(api, pending_delete=True))

    await store.update(remove_api)
    front = views_of(store, "n1")["front"]
    assert [s.name for s in front.services] == ["web"]
    assert "a1" in {p.task_id for p in front.peers}  # its address is still in use


# -- the stream --------------------------------------------------------------------------------


def summary(batch: AssignmentBatch) -> list[tuple[str, str, str]]:
    return [(c.action.value, type(c.obj).__name__, c.obj.id) for c in batch.changes]


async def change(store: Store, cls: type, obj_id: str, **changes: object) -> None:
    def apply(tx: WriteTx) -> None:
        current = tx.get(cls, obj_id)
        tx.update(dataclasses.replace(current, **changes))  # type: ignore[type-var]

    await store.update(apply)


async def test_the_complete_set_sends_views_before_tasks() -> None:
    store = await make_store()
    dispatcher = AssignmentDispatcher(store)
    async with running(dispatcher):
        stream = Stream(dispatcher.stream("n2"))
        await settle()
        assert summary(stream.batches[0]) == [
            ("update", "NetworkView", "back"),
            ("update", "NetworkView", "front"),
            ("update", "NetworkView", "ing"),
            ("update", "Task", "w2"),
            ("update", "Task", "w3"),
            ("update", "Task", "d1"),
        ]
        await stream.close()


async def test_another_nodes_task_changes_update_the_view() -> None:
    store = await make_store()
    dispatcher = AssignmentDispatcher(store)
    async with running(dispatcher):
        stream = Stream(dispatcher.stream("n1"))
        await settle()
        await change(store, Task, "w2", status=TaskStatus(state=S.RUNNING))  # n2's task
        await settle()
        assert summary(stream.batches[-1]) == [("update", "NetworkView", "front")]
        view = stream.batches[-1].changes[0].obj
        assert isinstance(view, NetworkView)
        assert {p.task_id: p.serving for p in view.peers}["w2"] is True

        # a task on a network n1 does not have: nothing for n1
        sent = len(stream.batches)
        await change(store, Task, "d1", status=TaskStatus(state=S.COMPLETE))
        await settle()
        assert len(stream.batches) == sent
        await stream.close()


async def test_node_and_service_changes_update_the_view() -> None:
    store = await make_store()
    dispatcher = AssignmentDispatcher(store)
    async with running(dispatcher):
        stream = Stream(dispatcher.stream("n1"))
        await settle()
        await change(store, Node, "n3", status=NodeStatus(addr="192.168.0.3"))
        await settle()
        assert summary(stream.batches[-1]) == [
            ("update", "NetworkView", "front"),  # w4 is reachable now
            ("update", "NetworkView", "ing"),  # and n3's ingress sandbox
        ]
        await change(store, Service, "svc-api", endpoint=Endpoint())
        await settle()
        assert summary(stream.batches[-1]) == [("update", "NetworkView", "front")]
        await stream.close()


async def test_a_new_network_goes_before_the_task_and_leaves_after_the_last_one() -> None:
    store = await make_store()
    dispatcher = AssignmentDispatcher(store)
    async with running(dispatcher):
        stream = Stream(dispatcher.stream("n4"))
        await settle()
        assert summary(stream.batches[0]) == [("update", "NetworkView", "ing")]

        new = task("d2", "db", "n4", attach("back", "10.0.2.4/24"), state=S.ASSIGNED)
        await store.update(lambda tx: tx.create(new))
        await settle()
        assert summary(stream.batches[-1]) == [
            ("update", "NetworkView", "back"),
            ("update", "Task", "d2"),
        ]

        await store.update(lambda tx: tx.delete(Task, "d2"))
        await settle()
        assert summary(stream.batches[-1]) == [
            ("remove", "Task", "d2"),
            ("remove", "NetworkView", "back"),
        ]

        # The node's own report that its last task there ended: only the view goes.
        again = dataclasses.replace(new, id="d3")
        await store.update(lambda tx: tx.create(again))
        await settle()
        await change(store, Task, "d3", status=TaskStatus(state=S.FAILED))
        await settle()
        assert summary(stream.batches[-1]) == [("remove", "NetworkView", "back")]
        removed = stream.batches[-1].changes[-1].obj
        assert removed == NetworkView(Network(id="back"))
        await stream.close()


async def test_ingress_allocated_later_reaches_every_node() -> None:
    store = Store()
    await store.update(lambda tx: tx.create(node("n1", "192.168.0.1", "10.0.0.2/24")))
    unallocated = dataclasses.replace(INGRESS, subnet="", vxlan_id=0)
    await store.update(lambda tx: tx.create(unallocated))
    dispatcher = AssignmentDispatcher(store)
    async with running(dispatcher):
        stream = Stream(dispatcher.stream("n1"))
        await settle()
        assert stream.batches[0].changes == ()
        await change(store, Network, "ing", subnet="10.0.0.0/24", vxlan_id=4096)
        await settle()
        assert summary(stream.batches[-1]) == [("update", "NetworkView", "ing")]
        await stream.close()


# -- the wire ----------------------------------------------------------------------------------


async def test_views_survive_the_wire() -> None:
    store = await make_store()
    views = views_of(store, "n2")
    batch = AssignmentBatch(
        False,
        4,
        (
            *(AssignmentChange(UPDATE, v) for v in views.values()),
            AssignmentChange(REMOVE, NetworkView(Network(id="gone"))),
        ),
    )
    message = wire.assignments_message(batch)
    removed = message.changes[-1].network
    assert removed.network.id == "gone" and not removed.peers and not removed.network.subnet
    assert wire.decode_assignments(message) == batch
    for view in views.values():
        assert wire.decode_network_view(wire.network_view_message(view)) == view


def test_an_unknown_endpoint_mode_reads_as_vip() -> None:
    view = NetworkView(FRONT, services=(NetworkService("s", "s", EndpointMode.DNSRR),))
    message = wire.network_view_message(view)
    assert wire.decode_network_view(message).services[0].endpoint_mode is EndpointMode.DNSRR
    message.services[0].endpoint_mode = "future"
    assert wire.decode_network_view(message).services[0].endpoint_mode is EndpointMode.VIP


async def test_a_task_the_allocator_released_is_no_peer_though_its_address_is_reused() -> None:
    # a global task that named n4 but never reached it, then no longer meant to run: the
    # allocator freed 10.0.1.30 and gave it to a task on n1; only that one is the peer
    abandoned = task(
        "g1", "api", "n4", attach("front", "10.0.1.30/24"), state=S.PENDING, desired=S.SHUTDOWN
    )
    reused = task("g2", "api", "n1", attach("front", "10.0.1.30/24"), slot=0)
    store = await make_store(abandoned, reused)
    front = views_of(store, "n1")["front"]
    owners = [(p.node_id, p.task_id) for p in front.peers if p.address == "10.0.1.30/24"]
    assert owners == [("n1", "g2")]
