from __future__ import annotations

import re
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface

import pytest

from manager.allocator import (
    AddressesExhausted,
    Allocations,
    InvalidIPAMConfig,
    PortConflict,
    SubnetOverlap,
)
from manager.store.objects import (
    Cluster,
    IPAMConfig,
    Network,
    NetworkSpec,
    Node,
    Service,
    Task,
    TaskState,
    TaskStatus,
)
from manager.store.specs import (
    EndpointSpec,
    NetworkAttachmentConfig,
    PortConfig,
    ServiceSpec,
    TaskSpec,
)

CLUSTER = Cluster(id="c")


def net(nid: str, subnet: str = "", ingress: bool = False, **ipam: str) -> Network:
    configs = (IPAMConfig(subnet=subnet, **ipam),) if subnet else ()
    return Network(id=nid, spec=NetworkSpec(name=nid, ipam_configs=configs, ingress=ingress))


def svc(sid: str, nets: tuple[str, ...], ports: tuple[PortConfig, ...] = ()) -> Service:
    tmpl = TaskSpec(networks=tuple(NetworkAttachmentConfig(target=n) for n in nets))
    spec = ServiceSpec(name=sid, task_template=tmpl, endpoint_spec=EndpointSpec(ports=ports))
    return Service(id=sid, spec=spec)


def build() -> tuple[Allocations, list[Network], list[Service], list[Task], list[Node]]:
    alloc = Allocations(CLUSTER, reserved=["10.0.1.0/24"])
    networks = [
        alloc.allocate_network(net("ingress", ingress=True)),
        alloc.allocate_network(net("front")),
        alloc.allocate_network(net("back", "192.168.5.0/24", gateway="192.168.5.254")),
    ]
    services = []
    for s in (svc("web", ("front", "back"), (PortConfig(target_port=80),)), svc("db", ("back",))):
        services.append(replace(s, endpoint=alloc.allocate_service(s)))
    tasks = []
    for i, s in enumerate(services * 2):
        t = Task(id=f"t{i}", service_id=s.id, spec=s.spec.task_template, endpoint=s.endpoint)
        tasks.append(replace(t, networks=alloc.allocate_task(t)))
    nodes = [replace(n, attachments=alloc.allocate_node(n)) for n in (Node(id="n1"), Node(id="n2"))]
    return alloc, networks, services, tasks, nodes


def test_networks_get_subnets_gateways_and_vxlan_ids() -> None:
    _, networks, *_ = build()
    assert [(n.subnet, n.gateway, n.vxlan_id) for n in networks] == [
        ("10.0.0.0/24", "10.0.0.1", 4096),
        ("10.0.2.0/24", "10.0.2.1", 4097),  # 10.0.1.0/24 is a node route
        ("192.168.5.0/24", "192.168.5.254", 4098),
    ]


def test_service_vips_ports_and_task_attachments() -> None:
    _, _, services, tasks, nodes = build()
    web = services[0].endpoint
    assert web is not None
    assert [(v.network_id, v.addr) for v in web.virtual_ips] == [
        ("front", "10.0.2.2/24"),
        ("back", "192.168.5.1/24"),
        ("ingress", "10.0.0.2/24"),  # it publishes a port in ingress mode
    ]
    assert web.ports[0].published_port == 30000
    t0 = tasks[0].networks
    assert [(a.network_id, a.addresses, a.mac) for a in t0] == [
        ("front", ("10.0.2.3/24",), "02:42:0a:00:02:03"),
        ("back", ("192.168.5.3/24",), "02:42:c0:a8:05:03"),
        ("ingress", ("10.0.0.3/24",), "02:42:0a:00:00:03"),
    ]
    assert [a.network_id for a in tasks[1].networks] == ["back"]  # db publishes nothing
    assert nodes[1].attachments[0].addresses == ("10.0.0.6/24",)


def test_restore_equals_incremental_state() -> None:
    alloc, networks, services, tasks, nodes = build()
    rebuilt = Allocations.restore(CLUSTER, networks, services, tasks, nodes, ["10.0.1.0/24"])
    assert rebuilt == alloc
    # and the next allocations agree
    nxt = net("more")
    assert rebuilt.allocate_network(nxt) == alloc.allocate_network(nxt)
    t = Task(id="tx", spec=services[1].spec.task_template)
    assert rebuilt.allocate_task(t) == alloc.allocate_task(t)


def test_restore_skips_terminal_tasks_and_releases_agree() -> None:
    alloc, networks, services, tasks, nodes = build()
    dead = replace(tasks[0], status=TaskStatus(state=TaskState.FAILED))
    alloc.release_task(tasks[0])
    rebuilt = Allocations.restore(
        CLUSTER, networks, services, [dead, *tasks[1:]], nodes, ["10.0.1.0/24"]
    )
    assert rebuilt == alloc


def test_release_service_and_network() -> None:
    alloc, _, services, tasks, _ = build()
    alloc.release_service(services[0])
    for t in tasks:
        alloc.release_task(t)
    assert set(alloc.space("front").allocated.values()) == {"gateway"}
    alloc.release_network("front")
    again = alloc.allocate_network(net("front2"))
    assert (again.subnet, again.vxlan_id) == ("10.0.2.0/24", 4097)
    assert alloc.ports.allocated == {}


def test_exhausted_network_message_and_rollback() -> None:
    alloc = Allocations(CLUSTER)
    alloc.allocate_network(net("foo", "10.9.0.0/30"))
    alloc.allocate_network(net("bar"))
    s = svc("s", ("bar", "foo"))
    t = Task(id="t", spec=s.spec.task_template)
    alloc.allocate_task(t)  # takes 10.9.0.2, the only one
    with pytest.raises(AddressesExhausted, match=r"^network foo has no free addresses$"):
        alloc.allocate_task(replace(t, id="t2"))
    assert set(alloc.space("bar").allocated.values()) == {"gateway", "task:t"}  # rolled back


def test_network_errors() -> None:
    alloc = Allocations(CLUSTER)
    alloc.allocate_network(net("a", "10.5.0.0/16"))
    with pytest.raises(SubnetOverlap, match=re.escape("overlaps subnet 10.5.0.0/16 of network a")):
        alloc.allocate_network(net("b", "10.5.3.0/24"))
    enc = Network(id="e", spec=NetworkSpec(name="e", driver_options={"encrypted": ""}))
    with pytest.raises(InvalidIPAMConfig, match="encrypted overlay networks are not supported"):
        alloc.allocate_network(enc)


def test_service_port_conflict_leaves_no_vips() -> None:
    alloc = Allocations(CLUSTER)
    alloc.allocate_network(net("front"))
    alloc.allocate_service(svc("web", (), (PortConfig(target_port=80, published_port=8080),)))
    with pytest.raises(PortConflict, match="port 8080/tcp is already in use by service web"):
        alloc.allocate_service(
            svc("api", ("front",), (PortConfig(target_port=1, published_port=8080),))
        )
    assert set(alloc.space("front").allocated.values()) == {"gateway"}


def test_a_release_frees_only_what_the_owner_still_holds() -> None:
    alloc, _, _, tasks, _ = build()
    db_task = tasks[1]  # on "back"
    assert alloc.release_task(db_task)
    successor = Task(id="next", spec=db_task.spec)
    taken = alloc.allocate_task(successor)
    assert taken[0].addresses == db_task.networks[0].addresses  # the freed address, reused
    assert not alloc.release_task(db_task)  # again (deleted after it ended): nothing freed
    owner = alloc.space("back").owner_of(_addr(taken[0].addresses[0]))
    assert owner == "task:next"


def test_restore_leaves_out_what_it_cannot_take_back_and_says_so() -> None:
    _, networks, services, tasks, nodes = build()
    clash = replace(tasks[1], id="zz-clash")  # claims t1's addresses again
    gone = replace(nodes[0], attachments=(replace(nodes[0].attachments[0], network_id="gone"),))
    rebuilt = Allocations.restore(CLUSTER, networks, services, [*tasks, clash], [gone, nodes[1]])
    assert rebuilt.conflicts == [
        f"task zz-clash: address {tasks[1].networks[0].addresses[0].split('/')[0]} on network "
        "back is in use by task:t1",
        "node n1: network gone is not allocated yet",
    ]
    assert rebuilt.space("front").owner_of(_addr(tasks[0].networks[0].addresses[0])) == "task:t0"


def test_a_failed_service_update_keeps_the_vips_it_holds() -> None:
    alloc = Allocations(CLUSTER)
    alloc.allocate_network(net("front"))
    alloc.allocate_network(net("tiny", "10.9.0.0/30"))
    alloc.allocate_task(Task(id="filler", spec=svc("x", ("tiny",)).spec.task_template))
    web = svc("web", ("front",))
    web = replace(web, endpoint=alloc.allocate_service(web))
    grown = replace(web, spec=svc("web", ("front", "tiny")).spec)
    with pytest.raises(AddressesExhausted):
        alloc.allocate_service(grown)
    assert web.endpoint is not None
    vip = _addr(web.endpoint.virtual_ips[0].addr)
    assert alloc.space("front").owner_of(vip) == "service:web"


def _addr(cidr: str) -> IPv4Address:
    return IPv4Interface(cidr).ip
