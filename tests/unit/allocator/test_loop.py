"""The allocator loop against a local Store and a fake clock: no sleeps, no I/O."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Address
from typing import Any

import pytest

from manager.allocator import Allocations, Allocator, ingress_network
from manager.allocator.loop import RETRY_DELAY
from manager.allocator.reconcile import NO_INGRESS
from manager.orchestrator._common import new_task
from manager.raft import ProposalLost
from manager.raft.clock import FakeClock
from manager.scheduler import Scheduler, wants_node
from manager.store import (
    Cluster,
    Endpoint,
    EndpointMode,
    EndpointSpec,
    IPAMConfig,
    Network,
    NetworkAttachmentConfig,
    NetworkSpec,
    Node,
    NodeDescription,
    NodeState,
    NodeStatus,
    PortConfig,
    PublishMode,
    Service,
    ServiceSpec,
    Store,
    StoreObject,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    VirtualIP,
    WriteTx,
)
from tests.unit.store.helpers import T0, new_store

WEB_PORT = PortConfig(target_port=80, published_port=8080)


async def settle(rounds: int = 100) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class Harness:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or new_store()
        self.clock = FakeClock()
        self.routes: list[str] = []
        self.allocator = self.new_allocator()

    def new_allocator(self) -> Allocator:
        return Allocator(self.store, self.clock, reserved=lambda: self.routes)

    async def add(self, *objects: StoreObject) -> list[Any]:
        def create(tx: WriteTx) -> list[Any]:
            return [tx.create(o) for o in objects]

        return await self.store.update(create)

    async def cluster(self, *, ingress: bool = True) -> None:
        objects: list[StoreObject] = [Cluster(), node("n1")]
        if ingress:
            objects.append(ingress_network())
        await self.add(*objects)

    async def network(self, name: str, subnet: str = "") -> Network:
        ipam = (IPAMConfig(subnet=subnet),) if subnet else ()
        (created,) = await self.add(Network(spec=NetworkSpec(name=name, ipam_configs=ipam)))
        network: Network = self.get(Network, created.id)
        return network

    async def service(
        self,
        name: str,
        networks: tuple[str, ...] = (),
        ports: tuple[PortConfig, ...] = (),
        mode: EndpointMode = EndpointMode.VIP,
    ) -> Service:
        ids = tuple(self.by_name(Network, n).id for n in networks)
        template = TaskSpec(networks=tuple(NetworkAttachmentConfig(target=i) for i in ids))
        spec = ServiceSpec(
            name=name, task_template=template, endpoint_spec=EndpointSpec(mode=mode, ports=ports)
        )
        (created,) = await self.add(Service(spec=spec, spec_version=1))
        service: Service = self.get(Service, created.id)
        return service

    async def tasks(self, service_name: str, count: int = 1) -> list[str]:
        """Tasks made the way the orchestrators make them (new_task)."""
        service = self.by_name(Service, service_name)
        created = await self.add(
            *[new_task(service, now=T0, slot=i + 1) for i in range(count)],
        )
        return [t.id for t in created]

    async def change(self, cls: type[Any], object_id: str, fn: Callable[[Any], Any]) -> None:
        def update(tx: WriteTx) -> None:
            tx.update(fn(tx.get(cls, object_id)))

        await self.store.update(update)

    async def set_state(self, task_id: str, state: TaskState) -> None:
        await self.change(
            Task,
            task_id,
            lambda t: dataclasses.replace(t, status=dataclasses.replace(t.status, state=state)),
        )

    async def delete(self, cls: type[StoreObject], object_id: str) -> None:
        await self.store.update(lambda tx: tx.delete(cls, object_id))

    def get(self, cls: type[Any], object_id: str) -> Any:
        found = self.store.view().get(cls, object_id)
        assert found is not None
        return found

    def by_name(self, cls: type[Any], name: str) -> Any:
        found = self.store.view().get_by_name(cls, name)
        assert found is not None, name
        return found

    def addresses(self, task_id: str) -> dict[str, str]:
        """network name -> address of the task's attachments."""
        task: Task = self.get(Task, task_id)
        return {self.get(Network, a.network_id).spec.name: a.addresses[0] for a in task.networks}

    @property
    def state(self) -> Allocations:
        assert self.allocator.allocations is not None
        return self.allocator.allocations

    @asynccontextmanager
    async def running(self, *others: Scheduler) -> AsyncIterator[None]:
        runners = [asyncio.create_task(self.allocator.run())]
        runners += [asyncio.create_task(s.run()) for s in others]
        await settle()
        try:
            yield
        finally:
            await self.allocator.stop()
            for s in others:
                await s.stop()
            await asyncio.wait_for(asyncio.gather(*runners), 5)


def node(node_id: str) -> Node:
    return Node(
        id=node_id,
        description=NodeDescription(hostname=node_id),
        status=NodeStatus(state=NodeState.READY, addr="192.0.2.1"),
    )


# -- allocation --------------------------------------------------------------------------------


async def test_networks_services_tasks_and_the_node_get_their_addresses() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.service("web", ("front",), (WEB_PORT,))
    (t1,) = await h.tasks("web")
    async with h.running():
        ingress, front = h.by_name(Network, "ingress"), h.by_name(Network, "front")
        assert (ingress.subnet, ingress.gateway, ingress.vxlan_id) == (
            "10.0.0.0/24",
            "10.0.0.1",
            4096,
        )
        assert (front.subnet, front.gateway, front.vxlan_id) == ("10.0.1.0/24", "10.0.1.1", 4097)
        web: Service = h.by_name(Service, "web")
        assert web.endpoint is not None
        assert [(v.network_id, v.addr) for v in web.endpoint.virtual_ips] == [
            (front.id, "10.0.1.2/24"),
            (ingress.id, "10.0.0.2/24"),
        ]
        assert web.endpoint.ports == (WEB_PORT,)
        task: Task = h.get(Task, t1)
        assert h.addresses(t1) == {"front": "10.0.1.3/24", "ingress": "10.0.0.3/24"}
        assert task.networks[0].mac == "02:42:0a:00:01:03"
        assert task.endpoint == web.endpoint
        assert task.status.state is TaskState.PENDING and task.status.err == ""
        n1: Node = h.get(Node, "n1")
        assert [(a.network_id, a.addresses) for a in n1.attachments] == [
            (ingress.id, ("10.0.0.4/24",))
        ]


async def test_published_ports_left_out_are_filled_in_and_kept_across_updates() -> None:
    h = Harness()
    await h.cluster()
    await h.service("web", (), (PortConfig(target_port=80),))
    async with h.running():
        web: Service = h.by_name(Service, "web")
        assert web.endpoint is not None
        assert web.endpoint.ports[0].published_port == 30000
        extra = PortConfig(target_port=443)
        spec = dataclasses.replace(
            web.spec, endpoint_spec=EndpointSpec(ports=(PortConfig(target_port=80), extra))
        )
        await h.change(Service, web.id, lambda s: dataclasses.replace(s, spec=spec))
        await settle()
        web = h.by_name(Service, "web")
        assert web.endpoint is not None
        assert [p.published_port for p in web.endpoint.ports] == [30000, 30001]


async def test_a_task_that_needs_no_network_is_left_alone() -> None:
    h = Harness()
    await h.cluster()
    await h.service("plain")
    (t1,) = await h.tasks("plain")
    before: Task = h.get(Task, t1)
    async with h.running():
        assert h.get(Task, t1) == before
        plain: Service = h.by_name(Service, "plain")
        assert plain.endpoint is not None and plain.endpoint.virtual_ips == ()
    assert wants_node(before)


async def test_dnsrr_services_get_no_vip_but_their_tasks_get_addresses() -> None:
    h = Harness()
    await h.cluster()
    await h.network("back")
    await h.service("db", ("back",), mode=EndpointMode.DNSRR)
    (t1,) = await h.tasks("db")
    async with h.running():
        db: Service = h.by_name(Service, "db")
        assert db.endpoint is not None and db.endpoint.virtual_ips == ()
        assert h.addresses(t1) == {"back": "10.0.1.2/24"}


async def test_a_service_update_reallocates_its_vips() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.network("back")
    web = await h.service("web", ("front",), (WEB_PORT,))
    async with h.running():
        back = h.by_name(Network, "back")
        template = dataclasses.replace(
            web.spec.task_template, networks=(NetworkAttachmentConfig(target=back.id),)
        )
        spec = dataclasses.replace(web.spec, task_template=template, endpoint_spec=EndpointSpec())
        await h.change(Service, web.id, lambda s: dataclasses.replace(s, spec=spec))
        await settle()
        web = h.by_name(Service, "web")
        assert web.endpoint is not None
        assert [v.network_id for v in web.endpoint.virtual_ips] == [back.id]
        assert web.endpoint.ports == ()
        front, ingress = h.by_name(Network, "front"), h.by_name(Network, "ingress")
        assert set(h.state.space(front.id).allocated.values()) == {"gateway"}
        assert f"service:{web.id}" not in h.state.space(ingress.id).allocated.values()
        assert h.state.ports.allocated == {}


async def test_nodes_get_an_ingress_address_once_ingress_exists() -> None:
    h = Harness()
    await h.cluster(ingress=False)
    await h.service("web", (), (WEB_PORT,))
    (t1,) = await h.tasks("web")
    async with h.running():
        assert h.get(Node, "n1").attachments == ()
        task: Task = h.get(Task, t1)
        assert task.status.err == NO_INGRESS.format(name="web")
        assert not wants_node(task)
        await h.add(ingress_network())
        await settle()
        assert h.addresses(t1) == {"ingress": "10.0.0.3/24"}  # .2: the VIP
        assert h.get(Node, "n1").attachments[0].addresses == ("10.0.0.4/24",)
        task = h.get(Task, t1)
        assert task.status.err == ""
        assert wants_node(task)
        await h.add(node("n2"))
        await settle()
        assert h.get(Node, "n2").attachments[0].addresses == ("10.0.0.5/24",)


async def test_a_port_conflict_is_reported_on_the_tasks() -> None:
    h = Harness()
    await h.cluster()
    await h.service("web", (), (WEB_PORT,))
    await h.service("api", (), (dataclasses.replace(WEB_PORT, target_port=8000),))
    (t1,) = await h.tasks("api")
    async with h.running():
        task: Task = h.get(Task, t1)
        assert task.status.err == (
            "port 8080/tcp is already in use by service web: choose another published port"
        )
        assert task.networks == () and not wants_node(task)
        await h.delete(Service, h.by_name(Service, "web").id)
        await settle()
        task = h.get(Task, t1)
        assert task.status.err == "" and h.addresses(t1) == {"ingress": "10.0.0.4/24"}


async def test_a_network_without_a_subnet_holds_its_tasks_until_one_is_free() -> None:
    h = Harness()
    await h.add(Cluster(default_address_pool=("10.0.0.0/24",)), node("n1"), ingress_network())
    await h.network("front")
    await h.service("db", ("front",), mode=EndpointMode.DNSRR)
    (t1,) = await h.tasks("db")
    async with h.running():
        assert h.by_name(Network, "front").subnet == ""
        task: Task = h.get(Task, t1)
        assert task.status.err == "network front has no subnet yet (see the manager's log)"
        await h.delete(Network, h.by_name(Network, "ingress").id)
        await settle()
        assert h.by_name(Network, "front").subnet == "10.0.0.0/24"
        assert h.addresses(t1) == {"front": "10.0.0.2/24"}


# -- release -----------------------------------------------------------------------------------


async def test_terminal_and_deleted_tasks_release_their_addresses() -> None:
    h = Harness()
    await h.cluster()
    await h.network("back")
    await h.service("db", ("back",), mode=EndpointMode.DNSRR)
    t1, t2 = await h.tasks("db", 2)
    async with h.running():
        back = h.by_name(Network, "back").id
        assert h.addresses(t1) == {"back": "10.0.1.2/24"}
        assert h.addresses(t2) == {"back": "10.0.1.3/24"}
        await h.set_state(t1, TaskState.FAILED)
        await settle()
        assert h.state.space(back).owner_of(_ip("10.0.1.2")) is None
        assert h.addresses(t1) == {"back": "10.0.1.2/24"}  # the record stays on the task
        (t3,) = await h.tasks("db")
        await settle()
        assert h.addresses(t3) == {"back": "10.0.1.2/24"}
        await h.delete(Task, t1)  # released already: t3 keeps its address
        await settle()
        assert h.state.space(back).owner_of(_ip("10.0.1.2")) == f"task:{t3}"
        await h.delete(Task, t2)
        await settle()
        assert h.state.space(back).owner_of(_ip("10.0.1.3")) is None


async def test_a_pending_task_that_will_never_run_releases_its_addresses() -> None:
    h = Harness()
    await h.cluster()
    await h.network("back")
    await h.service("db", ("back",), mode=EndpointMode.DNSRR)
    (t1,) = await h.tasks("db")
    async with h.running():
        await h.change(Task, t1, lambda t: dataclasses.replace(t, desired_state=TaskState.SHUTDOWN))
        await settle()
        back = h.by_name(Network, "back").id
        assert set(h.state.space(back).allocated.values()) == {"gateway"}


async def test_removed_services_nodes_and_networks_release_everything() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    web = await h.service("web", ("front",), (WEB_PORT,))
    async with h.running():
        front = h.by_name(Network, "front")
        ingress = h.by_name(Network, "ingress")
        await h.delete(Service, web.id)
        await h.delete(Node, "n1")
        await settle()
        assert set(h.state.space(front.id).allocated.values()) == {"gateway"}
        assert set(h.state.space(ingress.id).allocated.values()) == {"gateway"}
        assert h.state.ports.allocated == {}
        await h.delete(Network, front.id)
        await settle()
        assert not h.state.has_network(front.id)
        again = await h.network("again")
        await settle()
        assert (h.get(Network, again.id).subnet, h.get(Network, again.id).vxlan_id) == (
            "10.0.1.0/24",
            4097,
        )


async def test_removing_ingress_clears_the_nodes_attachments() -> None:
    h = Harness()
    await h.cluster()
    async with h.running():
        assert h.get(Node, "n1").attachments != ()
        await h.delete(Network, h.by_name(Network, "ingress").id)
        await settle()
        assert h.get(Node, "n1").attachments == ()


# -- exhaustion --------------------------------------------------------------------------------


async def test_an_exhausted_network_is_an_error_on_the_task_until_an_address_is_freed() -> None:
    h = Harness()
    await h.cluster()
    await h.network("tiny", "10.9.0.0/30")  # the gateway .1, one address: .2
    await h.service("db", ("tiny",), mode=EndpointMode.DNSRR)
    t1, t2 = await h.tasks("db", 2)
    async with h.running():
        assert h.addresses(t1) == {"tiny": "10.9.0.2/30"}
        waiting: Task = h.get(Task, t2)
        assert waiting.networks == ()
        assert waiting.status.state is TaskState.PENDING
        assert waiting.status.err == "network tiny has no free addresses"
        assert not wants_node(waiting)
        # no retry loop: nothing more is written and no pass runs until something changes
        index, passes = h.store.index, h.allocator.passes
        await settle(500)
        assert (h.store.index, h.allocator.passes) == (index, passes)
        await h.set_state(t1, TaskState.COMPLETE)
        await settle()
        recovered: Task = h.get(Task, t2)
        assert h.addresses(t2) == {"tiny": "10.9.0.2/30"}
        assert recovered.status.err == ""
        assert wants_node(recovered)


async def test_a_vip_dropped_by_a_service_update_lets_a_waiting_task_in() -> None:
    h = Harness()
    await h.cluster()
    await h.network("tiny", "10.9.0.0/30")  # the gateway .1, one address: .2
    web = await h.service("web", ("tiny",))  # its VIP takes .2
    await h.service("db", ("tiny",), mode=EndpointMode.DNSRR)
    (t1,) = await h.tasks("db")
    async with h.running():
        assert h.get(Task, t1).status.err == "network tiny has no free addresses"
        dnsrr = EndpointSpec(mode=EndpointMode.DNSRR)
        await h.change(
            Service,
            web.id,
            lambda s: dataclasses.replace(s, spec=dataclasses.replace(s.spec, endpoint_spec=dnsrr)),
        )
        await settle()
        assert h.by_name(Service, "web").endpoint.virtual_ips == ()
        task: Task = h.get(Task, t1)
        assert h.addresses(t1) == {"tiny": "10.9.0.2/30"}
        assert task.status.err == ""
        assert wants_node(task)


async def test_a_port_dropped_by_a_service_update_lets_a_waiting_task_in() -> None:
    h = Harness()
    await h.cluster()
    web = await h.service("web", (), (WEB_PORT,))
    await h.service("api", (), (dataclasses.replace(WEB_PORT, target_port=8000),))
    (t1,) = await h.tasks("api")
    async with h.running():
        assert h.get(Task, t1).status.err.startswith("port 8080/tcp is already in use")
        moved = EndpointSpec(ports=(dataclasses.replace(WEB_PORT, published_port=9090),))
        await h.change(
            Service,
            web.id,
            lambda s: dataclasses.replace(s, spec=dataclasses.replace(s.spec, endpoint_spec=moved)),
        )
        await settle()
        task: Task = h.get(Task, t1)
        assert task.status.err == ""
        assert task.endpoint is not None and [p.published_port for p in task.endpoint.ports] == [
            8080
        ]
        assert wants_node(task)


async def test_a_task_waiting_for_addresses_is_not_scheduled_then_is() -> None:
    h = Harness()
    await h.cluster()
    await h.network("tiny", "10.9.0.0/30")
    await h.service("db", ("tiny",), mode=EndpointMode.DNSRR)
    t1, t2 = await h.tasks("db", 2)
    scheduler = Scheduler(h.store, h.clock, now=lambda: T0, debounce=0)
    async with h.running(scheduler):
        assert h.get(Task, t1).status.state is TaskState.ASSIGNED
        assert h.get(Task, t1).node_id == "n1"
        assert h.get(Task, t2).status.state is TaskState.PENDING
        assert h.get(Task, t2).node_id == ""
        await h.set_state(t1, TaskState.FAILED)
        await settle()
        assert h.get(Task, t2).status.state is TaskState.ASSIGNED
        assert h.addresses(t2) == {"tiny": "10.9.0.2/30"}


async def test_the_scheduler_alone_never_places_a_task_that_needs_networks() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.service("web", ("front",))
    await h.service("pub", (), (WEB_PORT,))
    await h.service("plain")
    (networked,) = await h.tasks("web")
    (published,) = await h.tasks("pub")
    (plain,) = await h.tasks("plain")
    scheduler = Scheduler(h.store, h.clock, now=lambda: T0, debounce=0)
    runner = asyncio.create_task(scheduler.run())
    await settle()
    await scheduler.stop()
    await asyncio.wait_for(runner, 5)
    assert h.get(Task, networked).status.state is TaskState.PENDING
    assert h.get(Task, published).status.state is TaskState.PENDING
    assert h.get(Task, plain).status.state is TaskState.ASSIGNED


# -- a new leader ------------------------------------------------------------------------------


async def test_a_new_leader_restores_the_same_addresses_and_writes_nothing() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.network("back", "192.168.5.0/24")
    await h.service("web", ("front", "back"), (WEB_PORT,))
    await h.service("db", ("back",))
    await h.tasks("web", 3)
    await h.tasks("db", 2)
    async with h.running():
        first = h.state
    index = h.store.index
    h.allocator = h.new_allocator()
    async with h.running():
        assert h.state == first
        assert h.store.index == index
        (t,) = await h.tasks("db")
        await settle()
        # .2 and .3 the VIPs, .4-.6 web's tasks, .7-.8 db's
        assert h.addresses(t) == {"back": "192.168.5.9/24"}


async def test_the_hosts_routes_are_never_given_to_a_network() -> None:
    h = Harness()
    h.routes = ["10.0.0.0/23", "0.0.0.0/0"]
    await h.cluster()
    async with h.running():
        assert h.by_name(Network, "ingress").subnet == "10.0.2.0/24"


async def test_no_network_is_given_a_subnet_routed_on_any_node() -> None:
    # a worker reports (in its description) that 10.0.1.0/24 is routed there, e.g. a VPN
    h = Harness()
    await h.cluster()
    routed = Node(
        id="n2",
        description=NodeDescription(hostname="n2", routes=("10.0.1.0/24", "192.0.2.0/24")),
        status=NodeStatus(state=NodeState.READY, addr="192.0.2.2"),
    )
    await h.add(routed)
    async with h.running():
        front = await h.network("front")
        await settle()
        assert h.by_name(Network, "ingress").subnet == "10.0.0.0/24"
        assert h.get(Network, front.id).subnet == "10.0.2.0/24"


async def test_the_allocator_waits_for_the_cluster_object() -> None:
    h = Harness()
    async with h.running():
        await h.cluster()
        await settle()
        assert h.by_name(Network, "ingress").subnet == "10.0.0.0/24"


async def test_a_failed_write_is_retried_from_a_restored_state() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.service("web", ("front",))
    real_update = h.store.update
    failures = [ProposalLost("leader changed")]

    async def flaky(fn: Callable[[WriteTx], Any]) -> Any:
        if failures:
            raise failures.pop()
        return await real_update(fn)

    (t1,) = await h.tasks("web")
    h.store.update = flaky  # type: ignore[method-assign]
    async with h.running():
        assert h.by_name(Network, "front").subnet == ""
        h.clock.advance(RETRY_DELAY)
        await settle()
        assert h.by_name(Network, "front").subnet == "10.0.1.0/24"
        assert h.addresses(t1) == {"front": "10.0.1.3/24"}
        assert h.state == _restored(h.store)


async def test_a_task_deleted_before_its_addresses_were_written_releases_them() -> None:
    h = Harness()
    await h.cluster(ingress=False)
    await h.network("back")
    await h.service("db", ("back",), mode=EndpointMode.DNSRR)
    (t1,) = await h.tasks("db")
    real_update = h.store.update

    async def delete_first(fn: Callable[[WriteTx], Any]) -> Any:
        if h.store.view().get(Task, t1) is not None:  # just before the allocator's write
            await real_update(lambda tx: tx.delete(Task, t1))
        return await real_update(fn)

    h.store.update = delete_first  # type: ignore[method-assign]
    async with h.running():
        back = h.by_name(Network, "back")
        assert back.subnet == "10.0.0.0/24"
        assert set(h.state.space(back.id).allocated.values()) == {"gateway"}
        assert h.state == _restored(h.store)


async def test_a_snapshot_restore_rebuilds_the_state() -> None:
    h = Harness()
    await h.cluster()
    await h.network("front")
    await h.service("web", ("front",))
    async with h.running():
        other = new_store()
        other.restore(h.store.snapshot())
        await h.network("later")  # only in h.store
        await settle()
        h.store.restore(other.snapshot())  # back to before "later": a ResetEvent
        await settle()
        assert h.state == _restored(h.store)
        assert not any(n.spec.name == "later" for n in h.store.view().all(Network))


# -- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ports", "networks", "waits"),
    [
        ((), (), False),
        (
            (PortConfig(target_port=80, publish_mode=PublishMode.HOST, published_port=80),),
            (),
            False,
        ),
        ((PortConfig(target_port=80),), (), True),
        ((), ("n",), True),
    ],
)
def test_new_tasks_wait_for_the_allocator_only_when_they_need_networks(
    ports: tuple[PortConfig, ...], networks: tuple[str, ...], waits: bool
) -> None:
    template = TaskSpec(networks=tuple(NetworkAttachmentConfig(target=n) for n in networks))
    spec = ServiceSpec(name="s", task_template=template, endpoint_spec=EndpointSpec(ports=ports))
    task = dataclasses.replace(new_task(Service(id="s", spec=spec), now=T0), id="t")
    assert task.endpoint is not None and task.endpoint.spec.ports == ports
    assert wants_node(task) is not waits
    later = dataclasses.replace(task, status=TaskStatus(state=TaskState.PENDING, err="x"))
    assert wants_node(later) is not waits


def test_new_tasks_copy_the_allocated_endpoint_only_when_it_is_current() -> None:
    spec = ServiceSpec(name="s", endpoint_spec=EndpointSpec(ports=(WEB_PORT,)))
    allocated = Service(id="s", spec=spec, endpoint=_endpoint(spec, vip="10.0.0.2/24"))
    assert new_task(allocated, now=T0).endpoint == allocated.endpoint
    changed = dataclasses.replace(
        allocated, spec=dataclasses.replace(spec, endpoint_spec=EndpointSpec())
    )
    endpoint = new_task(changed, now=T0).endpoint
    assert endpoint is not None and endpoint.virtual_ips == () and endpoint.spec == EndpointSpec()


def _endpoint(spec: ServiceSpec, vip: str) -> Endpoint:
    ports = spec.endpoint_spec.ports
    return Endpoint(spec=spec.endpoint_spec, ports=ports, virtual_ips=(VirtualIP("i", vip),))


def _restored(store: Store) -> Allocations:
    view = store.view()
    cluster = view.cluster()
    assert cluster is not None
    return Allocations.restore(
        cluster, view.all(Network), view.all(Service), view.all(Task), view.all(Node)
    )


def _ip(text: str) -> IPv4Address:
    return IPv4Address(text)
