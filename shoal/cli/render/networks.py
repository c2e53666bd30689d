"""Networks: `network ls` rows and inspect JSON
(docker/cli cli/command/network/formatter.go; GET /networks/{id})."""

from __future__ import annotations

from proto import objects_pb2

from ._common import JSON, Row, _go_bool, _labels_csv, _put, go_time, rfc3339, short_id

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
# the overlay driver's state, as docker shows it in a network's Options
VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def network_row(network: objects_pb2.Network, *, trunc: bool = True) -> Row:
    """A `network ls` row; every network shoal has is a swarm-scoped overlay."""
    return {
        "ID": short_id(network.id) if trunc else network.id,
        "Name": network.spec.name,
        "Driver": network.spec.driver or "overlay",
        "Scope": "swarm",
        "IPv4": "true",
        "IPv6": "false",
        "Internal": _go_bool(network.spec.internal),
        "Labels": _labels_csv(network.spec.labels),
        "CreatedAt": go_time(network.meta.created_at),
    }


def _ipam_entry(subnet: str, ip_range: str, gateway: str) -> Row:
    out: Row = {"Subnet": subnet}
    _put(out, "IPRange", ip_range)
    _put(out, "Gateway", gateway)
    return out


def _ipam_configs(network: objects_pb2.Network) -> list[JSON]:
    """The allocated subnet and gateway (with the range asked for), or what the spec asks for
    until the allocator has seen the network."""
    requested = network.spec.ipam_configs
    if not network.subnet:
        return [_ipam_entry(c.subnet, c.range, c.gateway) for c in requested]
    ip_range = next((c.range for c in requested if c.subnet == network.subnet), "")
    return [_ipam_entry(network.subnet, ip_range, network.gateway)]


def network_inspect(network: objects_pb2.Network) -> Row:
    """A network in the Docker API's shape, as a manager shows a swarm network."""
    spec = network.spec
    options: dict[str, JSON] = dict(spec.driver_options)
    if network.vxlan_id:
        options[VXLAN_ID_OPTION] = str(network.vxlan_id)
    return {
        "Name": spec.name,
        "Id": network.id,
        "Created": rfc3339(network.meta.created_at),
        "Scope": "swarm",
        "Driver": spec.driver or "overlay",
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": _ipam_configs(network)},
        "Internal": spec.internal,
        "Attachable": spec.attachable,
        "Ingress": spec.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": options,
        "Labels": dict(spec.labels),
    }
