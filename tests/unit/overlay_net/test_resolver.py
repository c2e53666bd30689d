"""records(views): the names a container's embedded DNS answers, from its networks' views."""

from __future__ import annotations

from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView
from manager.store import EndpointMode, Network, NetworkSpec
from overlay_net.resolver import records


def view(
    name: str, *peers: NetworkPeer, services: tuple[NetworkService, ...] = (), ingress: bool = False
) -> NetworkView:
    network = Network(id=f"id-{name}", spec=NetworkSpec(name=name, ingress=ingress))
    return NetworkView(network=network, peers=peers, services=services)


def task(
    address: str,
    service_id: str = "s-web",
    name: str = "",
    *,
    serving: bool = True,
    aliases: tuple[str, ...] = (),
) -> NetworkPeer:
    task_id = f"t{address.split('/')[0].replace('.', '')}"
    return NetworkPeer(
        address=address,
        mac="02:42:0a:00:00:01",
        node_id="n1",
        node_addr="192.168.0.1",
        task_id=task_id,
        task_name=name or f"web.1.{task_id}",
        service_id=service_id,
        aliases=aliases,
        serving=serving,
    )


def service(
    name: str = "web",
    service_id: str = "s-web",
    *,
    vip: str = "10.0.1.2/24",
    dnsrr: bool = False,
    aliases: tuple[str, ...] = (),
) -> NetworkService:
    mode = EndpointMode.DNSRR if dnsrr else EndpointMode.VIP
    return NetworkService(service_id, name, mode, "" if dnsrr else vip, aliases=aliases)


def test_a_vip_service_resolves_to_its_vip_and_tasks_dot_service_to_its_tasks() -> None:
    v = view(
        "front",
        task("10.0.1.10/24", name="web.2.tb"),
        task("10.0.1.9/24", name="web.1.ta"),
        services=(service(),),
    )
    assert records([v]) == {
        "web": ("10.0.1.2",),
        "tasks.web": ("10.0.1.9", "10.0.1.10"),  # numeric order, no prefix
        "web.1.ta": ("10.0.1.9",),
        "web.2.tb": ("10.0.1.10",),
    }


def test_a_dnsrr_service_resolves_to_its_serving_tasks() -> None:
    v = view(
        "front",
        task("10.0.1.5/24", name="web.1.a"),
        task("10.0.1.6/24", name="web.2.b"),
        task("10.0.1.7/24", name="web.3.c", serving=False),
        services=(service(dnsrr=True),),
    )
    got = records([v])
    assert got["web"] == got["tasks.web"] == ("10.0.1.5", "10.0.1.6")
    assert "web.3.c" not in got  # not serving: no answer at all


def test_a_dnsrr_service_without_serving_tasks_has_no_name() -> None:
    v = view("front", task("10.0.1.5/24", serving=False), services=(service(dnsrr=True),))
    assert records([v]) == {}


def test_a_vip_service_without_serving_tasks_still_resolves_to_its_vip() -> None:
    assert records([view("front", services=(service(),))]) == {"web": ("10.0.1.2",)}


def test_a_service_whose_vip_is_not_allocated_yet_has_no_name() -> None:
    assert records([view("front", services=(service(vip=""),))]) == {}


def test_service_aliases_resolve_like_the_service_and_names_are_lower_case() -> None:
    v = view(
        "front",
        task("10.0.1.9/24", name="Web.1.X"),
        services=(service("Web", aliases=("Frontend", "www")),),
    )
    assert records([v]) == {
        "frontend": ("10.0.1.2",),
        "tasks.frontend": ("10.0.1.9",),
        "tasks.web": ("10.0.1.9",),
        "tasks.www": ("10.0.1.9",),
        "web": ("10.0.1.2",),
        "web.1.x": ("10.0.1.9",),
        "www": ("10.0.1.2",),
    }


def test_task_aliases_resolve_to_the_serving_tasks_that_carry_them() -> None:
    v = view(
        "front",
        task("10.0.1.9/24", name="web.1.a", aliases=("cache",)),
        task("10.0.1.8/24", name="web.2.b", aliases=("cache", "primary")),
        task("10.0.1.7/24", name="web.3.c", aliases=("cache",), serving=False),
        services=(service(),),
    )
    got = records([v])
    assert got["cache"] == ("10.0.1.8", "10.0.1.9")
    assert got["primary"] == ("10.0.1.8",)


def test_a_service_name_wins_over_a_task_alias_of_the_same_name() -> None:
    v = view(
        "front",
        task("10.0.1.9/24", aliases=("web",)),
        task("10.0.1.20/24", "s-db", "db.1.x", aliases=("api",)),
        services=(service(), service("db", "s-db", vip="10.0.1.3/24", aliases=("api",))),
    )
    got = records([v])
    assert got["web"] == ("10.0.1.2",)
    assert got["api"] == ("10.0.1.3",)


def test_an_empty_dnsrr_service_does_not_hide_a_task_alias_of_its_name() -> None:
    v = view(
        "front",
        task("10.0.1.20/24", "s-db", "db.1.x", aliases=("web",)),
        services=(service(dnsrr=True), service("db", "s-db", vip="10.0.1.3/24")),
    )
    assert records([v])["web"] == ("10.0.1.20",)


def test_the_first_network_a_name_is_found_on_answers() -> None:
    back = view("back", task("10.0.2.7/24", name="web.1.a"), services=(service(vip="10.0.2.2/24"),))
    front = view(
        "front",
        task("10.0.1.7/24", name="web.1.a"),
        task("10.0.1.8/24", "s-api", "api.1.b"),
        services=(service(), service("api", "s-api", vip="10.0.1.3/24")),
    )
    assert records([back, front]) == {
        "api": ("10.0.1.3",),
        "api.1.b": ("10.0.1.8",),
        "tasks.api": ("10.0.1.8",),
        "tasks.web": ("10.0.2.7",),
        "web": ("10.0.2.2",),
        "web.1.a": ("10.0.2.7",),
    }
    assert records([front, back])["web"] == ("10.0.1.2",)


def test_ingress_and_node_sandbox_peers_give_no_names() -> None:
    sandbox = NetworkPeer("10.0.0.2/24", "02:42:0a:00:00:02", "n1", "192.168.0.1", serving=True)
    ingress = view(
        "ingress",
        task("10.0.0.9/24"),
        sandbox,
        services=(service(vip="10.0.0.5/24"),),
        ingress=True,
    )
    assert records([ingress]) == {}
    assert records([view("front", sandbox)]) == {}


def test_no_networks_no_names() -> None:
    assert records([]) == {}
