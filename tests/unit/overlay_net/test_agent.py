"""The node's NetworkAgent against a fake kernel and a fake DNS server: which sandboxes,
interfaces, nft tables and DNS records a node gets from its views and tasks, and what goes
when they go. The kernel parts themselves are tested in tests/integration/overlay."""

from __future__ import annotations

from pathlib import Path

import pytest

from manager.dispatcher.networks import NetworkPeer, NetworkService, NetworkView
from manager.store import (
    ContainerSpec,
    DNSConfig,
    Endpoint,
    EndpointMode,
    Network,
    NetworkAttachment,
    NetworkSpec,
    PortConfig,
    PublishMode,
    Task,
    TaskSpec,
)
from overlay_net import nft
from overlay_net.agent import NetworkAgent, NetworkUnavailable
from overlay_net.netns import NetnsError
from overlay_net.nftapply import NftError
from overlay_net.resolver import records
from tests.unit.overlay_net.fakes import FakeDNS, FakeKernel

NODE, NODE_ADDR = "n1", "172.31.0.11"
N2, N2_ADDR = "n2", "172.31.0.12"
GW = "shoal_gwbridge"


def network(name: str, n: int, *, internal: bool = False, ingress: bool = False) -> Network:
    return Network(
        id=f"{name}-{'0' * 12}",  # the sandbox is named by the first 12 characters
        spec=NetworkSpec(name=name, internal=internal, ingress=ingress),
        subnet=f"10.0.{n}.0/24",
        gateway=f"10.0.{n}.1",
        vxlan_id=4096 + n,
    )


INGRESS = network("ingress", 0, ingress=True)
FRONT = network("front", 1)
BACK = network("back", 2, internal=True)


def sandbox_name(net: Network) -> str:
    return "shoal-net-" + net.id[:12]


def mac(address: str) -> str:
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("/")[0].split("."))


def peer(
    address: str, node: str = NODE, task: str = "", service: str = "", *, serving: bool = True
) -> NetworkPeer:
    """A task's address (`task` given) or a node's ingress sandbox address."""
    return NetworkPeer(
        address=address,
        mac=mac(address),
        node_id=node,
        node_addr=NODE_ADDR if node == NODE else N2_ADDR,
        task_id=task,
        task_name=f"{service}.1.{task}" if task else "",
        service_id=service,
        serving=serving,
    )


WEB_PORT = PortConfig(target_port=80, published_port=8080)


def ingress_view(*, published: bool = True, me: bool = True) -> NetworkView:
    peers = [
        peer("10.0.0.2/24", N2),  # n2's ingress sbox
        peer("10.0.0.5/24", NODE, "web1", "web"),
        peer("10.0.0.7/24", N2, "web2", "web"),
    ]
    if me:
        peers.append(peer("10.0.0.3/24", NODE))  # ours
    ports = (WEB_PORT,) if published else ()
    web = NetworkService("web", "web", vip="10.0.0.4/24", ports=ports)
    return NetworkView(INGRESS, peers=tuple(peers), services=(web,))


def front_view(*, web3_serving: bool = False) -> NetworkView:
    return NetworkView(
        FRONT,
        peers=(
            peer("10.0.1.5/24", NODE, "web1", "web"),
            peer("10.0.1.7/24", N2, "web2", "web"),
            peer("10.0.1.8/24", N2, "db1", "db"),
            peer("10.0.1.9/24", N2, "web3", "web", serving=web3_serving),  # starting
        ),
        services=(
            NetworkService("db", "db", EndpointMode.DNSRR),
            NetworkService("web", "web", vip="10.0.1.2/24", aliases=("www",)),
        ),
    )


def back_view() -> NetworkView:
    return NetworkView(
        BACK,
        peers=(
            peer("10.0.2.5/24", NODE, "web1", "web"),
            peer("10.0.2.7/24", N2, "cache1", "cache"),
        ),
        services=(NetworkService("cache", "cache", vip="10.0.2.2/24"),),
    )


def views(*vs: NetworkView) -> dict[str, NetworkView]:
    return {v.id: v for v in vs}


def task(
    task_id: str,
    *on: tuple[Network, str],
    ports: tuple[PortConfig, ...] = (),
    dns: tuple[str, ...] = (),
) -> Task:
    return Task(
        id=task_id,
        service_id="web",
        spec=TaskSpec(
            container=ContainerSpec(dns_config=DNSConfig(nameservers=dns) if dns else None)
        ),
        networks=tuple(NetworkAttachment(n.id, (a,), mac=mac(a)) for n, a in on),
        endpoint=Endpoint(ports=ports) if ports else None,
    )


def host_port(published: int, target: int) -> PortConfig:
    return PortConfig(target_port=target, published_port=published, publish_mode=PublishMode.HOST)


@pytest.fixture
def kernel(tmp_path: Path) -> FakeKernel:
    return FakeKernel(tmp_path / "run")


@pytest.fixture
def dns() -> FakeDNS:
    return FakeDNS()


def new_agent(kernel: FakeKernel, dns: FakeDNS) -> NetworkAgent:
    """An agent on `kernel`; a second one on the same kernel is the daemon restarted."""
    return NetworkAgent(
        node_id=NODE, node_addr=NODE_ADDR, run_dir=kernel.run_dir, kernel=kernel, dns=dns
    )


@pytest.fixture
async def agent(kernel: FakeKernel, dns: FakeDNS) -> NetworkAgent:
    agent = new_agent(kernel, dns)
    await agent.start()
    return agent


def host_table(kernel: FakeKernel) -> str:
    return kernel.nft.get(None, "")


def shoal_namespaces(kernel: FakeKernel) -> list[str]:
    return sorted(p.name for p in kernel.namespaces if p.parent == kernel.netns_dir)


# -- the peer table -------------------------------------------------------------------------


async def test_a_node_on_no_network_and_publishing_nothing_makes_nothing(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks({})
    await agent.set_networks(views(ingress_view(published=False)))  # every node has ingress's
    assert kernel.calls == []


async def test_a_tasks_network_gets_a_sandbox_with_the_remote_peers(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(front_view()))
    sandbox = kernel.sandbox(FRONT.id)
    assert sandbox is not None and sandbox.gateway == "10.0.1.1/24"
    # the FDB/neighbour entries: every address on another node, none of this node's
    assert sandbox.peers == {"10.0.1.7": N2_ADDR, "10.0.1.8": N2_ADDR, "10.0.1.9": N2_ADDR}
    # the gateway bridge is up and the node masquerades its containers' egress
    assert 'ip saddr 172.18.0.0/16 oifname != "shoal_gwbridge" masquerade' in host_table(kernel)
    assert kernel.sysctls[(None, "net.ipv4.conf.shoal_gwbridge.route_localnet")] == "1"

    gone = NetworkView(FRONT, peers=front_view().peers[:2], services=front_view().services)
    await agent.set_networks(views(gone))
    assert sandbox.peers == {"10.0.1.7": N2_ADDR}


async def test_a_network_no_view_asks_for_any_more_is_removed_with_the_bridge(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(front_view(), back_view()))
    assert shoal_namespaces(kernel) == [sandbox_name(BACK), sandbox_name(FRONT)]

    await agent.set_networks(views(front_view()))
    assert shoal_namespaces(kernel) == [sandbox_name(FRONT)]

    await agent.set_networks(views(ingress_view(published=False)))
    assert shoal_namespaces(kernel) == []
    assert kernel.gateway is None and None not in kernel.nft


async def test_a_published_port_makes_the_ingress_sbox_and_the_mesh_while_it_lasts(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(ingress_view()))
    sbox = kernel.netns_dir / "shoal-ingress-sbox"
    assert kernel.sandbox(INGRESS.id) is not None
    assert kernel.interfaces(sbox) == {
        "eth0": (sandbox_name(INGRESS), "10.0.0.3/24"),  # this node's ingress address
        "eth1": (GW, "172.18.0.2/16"),
    }
    assert kernel.sysctls[(sbox, "net.ipv4.ip_forward")] == "1"
    # the sbox spreads the port over every serving task of the service, on any node
    assert kernel.nft[sbox] == nft.ingress_sbox_table(
        [nft.MeshRule("tcp", 8080, 80, ("10.0.0.5", "10.0.0.7"))]
    )
    # the node sends its port 8080 to the sbox
    assert "fib daddr type local tcp dport 8080 dnat to 172.18.0.2" in host_table(kernel)

    await agent.set_networks(views(ingress_view(published=False)))
    assert shoal_namespaces(kernel) == []  # sbox and ingress sandbox
    assert kernel.gateway is None and None not in kernel.nft


async def test_without_its_own_ingress_address_a_node_makes_no_sbox_and_no_mesh_rule(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(ingress_view(me=False)))
    assert shoal_namespaces(kernel) == [sandbox_name(INGRESS)]
    assert "dport 8080" not in host_table(kernel)

    await agent.set_networks(views(ingress_view()))  # the allocator gave it one
    assert "shoal-ingress-sbox" in shoal_namespaces(kernel)
    assert "tcp dport 8080 dnat to 172.18.0.2" in host_table(kernel)


async def test_a_failing_network_does_not_stop_the_others_and_is_raised_for_a_retry(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    kernel.fail("ensure_sandbox", NetnsError("File exists"), BACK.id)
    with pytest.raises(NetnsError, match="network back: File exists"):
        await agent.set_networks(views(back_view(), front_view(), ingress_view()))
    assert kernel.sandbox(BACK.id) is None
    assert kernel.sandbox(FRONT.id) is not None and kernel.sandbox(INGRESS.id) is not None
    assert "tcp dport 8080 dnat to 172.18.0.2" in host_table(kernel)

    kernel.heal()
    await agent.set_networks(views(back_view(), front_view(), ingress_view()))  # the retry
    assert kernel.sandbox(BACK.id) is not None


async def test_a_sandbox_that_cannot_be_removed_does_not_keep_new_networks_out(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    stuck = kernel.leftover_sandbox("old-network")
    kernel.fail("remove_sandbox", NetnsError("Device or resource busy"), stuck.name)
    with pytest.raises(NetnsError, match=f"removing sandbox {stuck.name}: Device or resource"):
        await agent.set_networks(views(front_view()))
    assert kernel.sandbox(FRONT.id) is not None

    kernel.heal()
    await agent.set_networks(views(front_view()))
    assert shoal_namespaces(kernel) == [sandbox_name(FRONT)]


# -- containers ------------------------------------------------------------------------------


async def test_attach_gives_interfaces_in_task_order_and_the_gateway_last(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(ingress_view(), front_view(), back_view()))
    ns = kernel.start_container(101)
    web1 = task("web1", (INGRESS, "10.0.0.5/24"), (FRONT, "10.0.1.5/24"), (BACK, "10.0.2.5/24"))
    await agent.attach(web1, 101)
    assert kernel.interfaces(ns) == {
        "eth0": (sandbox_name(INGRESS), "10.0.0.5/24"),
        "eth1": (sandbox_name(FRONT), "10.0.1.5/24"),
        "eth2": (sandbox_name(BACK), "10.0.2.5/24"),
        "eth3": (GW, "172.18.0.3/16"),  # .2 is the ingress sbox's
    }
    assert dns.listening == {"web1": ns}


async def test_a_container_reaches_the_vips_of_its_networks_over_their_serving_tasks(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(ingress_view(), front_view(), back_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (INGRESS, "10.0.0.5/24"), (FRONT, "10.0.1.5/24")), 101)
    # not the ingress VIP, not back's (not its network), not web3 (not serving yet)
    assert kernel.nft[ns] == nft.container_table(
        [nft.VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.7"))]
    )

    await agent.set_networks(views(ingress_view(), front_view(web3_serving=True), back_view()))
    assert kernel.nft[ns] == nft.container_table(
        [nft.VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.7", "10.0.1.9"))]
    )


async def test_a_containers_dns_answers_for_its_networks_only_never_ingress(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(ingress_view(), front_view(), back_view()))
    kernel.start_container(101)
    on = ((INGRESS, "10.0.0.5/24"), (FRONT, "10.0.1.5/24"))
    await agent.attach(task("web1", *on, dns=("9.9.9.9", "1.1.1.1")), 101)
    names = dns.records["web1"]
    assert names == records([front_view()])
    assert names["web"] == ("10.0.1.2",)  # the VIP on front, not on ingress
    assert names["www"] == ("10.0.1.2",)
    assert names["tasks.web"] == ("10.0.1.5", "10.0.1.7")
    assert names["db"] == ("10.0.1.8",)  # dnsrr
    assert "cache" not in names  # back is not its network
    assert not any(a.startswith("10.0.0.") for addresses in names.values() for a in addresses)
    assert dns.upstream["web1"] == ("9.9.9.9", "1.1.1.1")  # --dns

    await agent.set_networks(views(ingress_view(), front_view(web3_serving=True), back_view()))
    assert dns.records["web1"]["tasks.web"] == ("10.0.1.5", "10.0.1.7", "10.0.1.9")


async def test_a_task_on_internal_networks_only_gets_no_gateway_interface(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(back_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (BACK, "10.0.2.5/24")), 101)
    assert kernel.interfaces(ns) == {"eth0": (sandbox_name(BACK), "10.0.2.5/24")}
    assert kernel.gateway is not None and "web1" not in kernel.gateway.addresses

    ns2 = kernel.start_container(102)  # internal and not: the gateway still comes last
    await agent.set_networks(views(back_view(), front_view()))
    await agent.attach(task("web4", (BACK, "10.0.2.6/24"), (FRONT, "10.0.1.6/24")), 102)
    assert list(kernel.interfaces(ns2)) == ["eth0", "eth1", "eth2"]
    assert kernel.interfaces(ns2)["eth2"] == (GW, "172.18.0.2/16")


async def test_a_task_on_no_network_gets_only_the_gateway_and_no_dns(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    ns = kernel.start_container(101)
    await agent.attach(task("solo"), 101)
    assert kernel.interfaces(ns) == {"eth0": (GW, "172.18.0.2/16")}
    assert dns.opened == [] and dns.records == {}
    assert ns not in kernel.nft  # no VIPs to reach
    assert 'ip saddr 172.18.0.0/16 oifname != "shoal_gwbridge" masquerade' in host_table(kernel)


async def test_a_host_mode_port_is_published_on_this_node_only_while_its_task_is_here(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    kernel.start_container(101)
    kernel.start_container(102)
    await agent.attach(task("solo", ports=(host_port(8081, 80),)), 101)
    await agent.attach(task("other"), 102)
    assert "fib daddr type local tcp dport 8081 dnat to 172.18.0.2:80" in host_table(kernel)

    await agent.detach("solo")
    assert "dport 8081" not in host_table(kernel)
    assert kernel.gateway is not None and "solo" not in kernel.gateway.addresses
    assert kernel.interfaces(kernel.pid_netns(101)) == {}  # its veth pair is gone
    assert dns.closed == ["solo"]

    await agent.detach("other")  # the last task, and no view needs anything
    assert kernel.gateway is None and None not in kernel.nft
    assert kernel.ops("remove_gateway") == ["host"]


async def test_a_port_published_twice_here_is_published_once_and_the_rest_still_is(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    """Refused upstream, so only stale state; it must not stop the node's table."""
    await agent.set_networks(views(ingress_view()))  # 8080 in ingress mode
    for pid, task_id in ((101, "a"), (102, "b")):
        kernel.start_container(pid)
        ports = (host_port(8080, 80), host_port(8081, 81))
        await agent.attach(task(task_id, ports=ports), pid)
    table = host_table(kernel)
    assert "tcp dport 8080 dnat to 172.18.0.2\n" in table  # the mesh keeps it
    assert "dport 8080 dnat to 172.18.0.3" not in table
    assert "tcp dport 8081 dnat to 172.18.0.3:81" in table  # the first task's
    assert "dnat to 172.18.0.4" not in table


async def test_detach_removes_the_tasks_interfaces_but_not_the_networks_still_in_view(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(front_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    await agent.detach("web1")
    assert kernel.interfaces(ns) == {}
    assert dns.listening == {}
    assert shoal_namespaces(kernel) == [sandbox_name(FRONT)]
    assert kernel.gateway is not None  # the view's network still wants egress

    await agent.set_networks({})
    assert shoal_namespaces(kernel) == [] and kernel.gateway is None


async def test_a_second_attach_of_the_same_task_changes_nothing(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(front_view()))
    ns = kernel.start_container(101)
    web1 = task("web1", (FRONT, "10.0.1.5/24"), ports=(host_port(8081, 80),))
    await agent.attach(web1, 101)
    before = (kernel.interfaces(ns), dict(kernel.nft), dict(dns.records))
    await agent.attach(web1, 101)
    assert (kernel.interfaces(ns), dict(kernel.nft), dict(dns.records)) == before
    assert kernel.gateway is not None and list(kernel.gateway.addresses) == ["web1"]
    assert host_table(kernel).count("dport 8081") == 2  # prerouting and output, once each


async def test_attach_before_the_networks_view_raises_network_unavailable(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    kernel.start_container(101)
    with pytest.raises(NetworkUnavailable, match=f"network {FRONT.id} is not set up"):
        await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    assert kernel.calls == [] and dns.opened == []

    await agent.set_networks(views(front_view()))
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)  # the retry
    assert "eth0" in kernel.interfaces(kernel.pid_netns(101))


async def test_a_network_whose_sandbox_failed_is_unavailable_to_tasks(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    kernel.fail("ensure_sandbox", NetnsError("File exists"), FRONT.id)
    with pytest.raises(NetnsError):
        await agent.set_networks(views(front_view()))
    kernel.start_container(101)
    with pytest.raises(NetworkUnavailable):
        await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)


async def test_a_container_that_died_before_its_detach_does_not_fail_the_views(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(front_view()))
    kernel.start_container(101)
    ns2 = kernel.start_container(102)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    await agent.attach(task("web4", (FRONT, "10.0.1.6/24")), 102)
    kernel.kill_container(101)

    await agent.set_networks(views(front_view(web3_serving=True)))
    assert "10.0.1.9" in kernel.nft[ns2]  # the living one is still kept up to date


async def test_a_refused_container_table_fails_the_views_for_a_retry(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(front_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    kernel.fail("nft_apply", NftError("nft refused the rules"), str(ns))
    with pytest.raises(NftError):
        await agent.set_networks(views(front_view(web3_serving=True)))


# -- the end ---------------------------------------------------------------------------------


async def test_close_keeps_everything_for_the_containers_that_keep_running(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(front_view(), ingress_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    changes = len(kernel.calls)
    await agent.close()
    assert dns.closed == ["*"]
    assert len(kernel.calls) == changes and "eth1" in kernel.interfaces(ns)


async def test_a_restarted_daemon_adopts_what_the_last_one_left(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(front_view(), back_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    await agent.close()

    again = new_agent(kernel, dns)
    await again.start()
    await again.set_networks(views(front_view()))  # back's tasks ended while it was down
    assert shoal_namespaces(kernel) == [sandbox_name(FRONT)]
    await again.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)  # the resumed task
    assert kernel.interfaces(ns)["eth1"] == (GW, "172.18.0.2/16")  # the address it had
    assert dns.listening == {"web1": ns}


async def test_a_task_that_stopped_while_the_daemon_was_down_is_cleaned_up(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    kernel.start_container(101)
    await agent.attach(task("solo", ports=(host_port(8081, 80),)), 101)
    await agent.close()
    kernel.kill_container(101)

    again = new_agent(kernel, dns)
    await again.detach("solo")  # the worker finds its container gone
    assert kernel.ops("gateway_release") == ["solo"]
    assert kernel.gateway is None and None not in kernel.nft  # nothing else needs the bridge


async def test_leave_removes_everything_including_a_previous_runs_sandboxes(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    kernel.leftover_sandbox("from-before")
    await agent.set_networks(views(front_view(), ingress_view()))
    ns = kernel.start_container(101)
    await agent.attach(task("web1", (INGRESS, "10.0.0.5/24"), (FRONT, "10.0.1.5/24")), 101)
    kernel.leftover_sandbox("from-before")  # mounted again behind the agent's back

    await agent.leave()
    assert shoal_namespaces(kernel) == []
    assert kernel.gateway is None and None not in kernel.nft
    assert kernel.interfaces(ns) == {}
    assert dns.closed == ["*"] and dns.listening == {}


async def test_leave_after_a_restart_removes_what_the_previous_run_made(
    agent: NetworkAgent, kernel: FakeKernel, dns: FakeDNS
) -> None:
    await agent.set_networks(views(front_view(), ingress_view()))
    kernel.start_container(101)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    await agent.close()

    again = new_agent(kernel, dns)
    await again.leave()  # `swarm leave` on a node whose daemon restarted
    assert shoal_namespaces(kernel) == []
    assert kernel.gateway is None and None not in kernel.nft


async def test_a_table_that_did_not_change_is_not_written_again(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    everything = views(ingress_view(), front_view())
    await agent.set_networks(everything)
    kernel.start_container(101)
    await agent.attach(task("web1", (INGRESS, "10.0.0.5/24"), (FRONT, "10.0.1.5/24")), 101)
    written = len(kernel.ops("nft_apply"))
    await agent.set_networks(everything)  # e.g. a change on another network of the cluster
    assert len(kernel.ops("nft_apply")) == written
    # a new serving backend rewrites the container's table, and only that one
    await agent.set_networks(views(ingress_view(), front_view(web3_serving=True)))
    assert len(kernel.ops("nft_apply")) == written + 1


async def test_a_container_whose_table_is_refused_does_not_keep_the_others_stale(
    agent: NetworkAgent, kernel: FakeKernel
) -> None:
    await agent.set_networks(views(ingress_view(), front_view()))
    first, second = kernel.start_container(101), kernel.start_container(102)
    await agent.attach(task("web1", (FRONT, "10.0.1.5/24")), 101)
    await agent.attach(task("api1", (FRONT, "10.0.1.6/24"), ports=(host_port(8081, 80),)), 102)
    kernel.fail("nft_apply", NftError("nft refused the rules"), str(first))
    with pytest.raises(NftError, match="refused"):
        await agent.set_networks(views(ingress_view(), front_view(web3_serving=True)))
    # the second container and the host's table are current all the same
    assert kernel.nft[second] == nft.container_table(
        [nft.VipRule("10.0.1.2", ("10.0.1.5", "10.0.1.7", "10.0.1.9"))]
    )
    assert "dport 8081 dnat to" in host_table(kernel)
    kernel.heal()
    await agent.set_networks(views(ingress_view(), front_view(web3_serving=True)))  # the retry
    assert kernel.nft[first] == kernel.nft[second]
