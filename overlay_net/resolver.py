"""What a container's embedded DNS answers: names to addresses, from its networks' views.

    views of the container's networks (its attachment order) ─▶ records ─▶ {name: (ip, ...)}

Per network, like Docker's swarm mode:
    <service>, each service alias     -> its VIP (endpoint_mode vip) or its serving tasks' IPs
                                         (dnsrr)
    tasks.<service>, tasks.<alias>    -> its serving tasks' IPs
    <task name>, each task alias      -> that task's IP (serving tasks only)

A name defined by a service wins over the same name given to tasks (a VIP answer stays one
address), and a name the container could resolve on several networks answers from the first
of them (Docker looks the networks up in order and stops at the first match). Names are
lower case (DNS is case-insensitive); names with no address are left out, so the server
treats them as not ours and forwards them, as Docker does. Ingress is never a container's
network for DNS; a view of it is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address, ip_interface

from manager.dispatcher.networks import NetworkView
from manager.store import EndpointMode


def records(views: Iterable[NetworkView]) -> dict[str, tuple[str, ...]]:
    """Each name the container resolves -> its addresses (no prefix, in numeric order)."""
    merged: dict[str, tuple[str, ...]] = {}
    for view in views:
        if view.network.spec.ingress:
            continue
        for name, addresses in _network_records(view).items():
            merged.setdefault(name, addresses)
    return dict(sorted(merged.items()))


def _network_records(view: NetworkView) -> dict[str, tuple[str, ...]]:
    task_ips: dict[str, set[str]] = {}  # service id -> serving tasks' IPs
    task_names: dict[str, set[str]] = {}
    for peer in view.peers:
        if not (peer.serving and peer.task_id):
            continue
        ip = str(ip_interface(peer.address).ip)
        task_ips.setdefault(peer.service_id, set()).add(ip)
        for name in (peer.task_name, *peer.aliases):
            if name:
                task_names.setdefault(name.lower(), set()).add(ip)

    service_names: dict[str, set[str]] = {}
    for service in view.services:
        tasks = task_ips.get(service.service_id, set())
        if service.endpoint_mode is EndpointMode.DNSRR:
            front = tasks
        else:
            front = {str(ip_interface(service.vip).ip)} if service.vip else set()
        for name in (service.name, *service.aliases):
            if name:
                service_names.setdefault(name.lower(), set()).update(front)
                service_names.setdefault(f"tasks.{name.lower()}", set()).update(tasks)

    names = {**task_names, **{name: ips for name, ips in service_names.items() if ips}}
    return {name: _ordered(ips) for name, ips in names.items() if ips}


def _ordered(ips: set[str]) -> tuple[str, ...]:
    return tuple(sorted(ips, key=lambda ip: (ip_address(ip).version, ip_address(ip))))
