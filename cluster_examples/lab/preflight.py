"""What `shoal-lab up` needs from the host, checked before anything is created."""

from __future__ import annotations

import os
import shutil

from cluster_examples.lab.sh import LabError, run, succeeds

TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "docker-registry": "docker-registry",
    "busybox": "busybox-static",
}
PROBE_NETNS = "shoal-probe"


def check_host() -> None:
    if os.geteuid() != 0:
        raise LabError("shoal-lab must run as root (it creates namespaces and engines); use sudo")
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found; install {package} (scripts/setup does)")
    check_kernel()


def check_kernel() -> None:
    """Try vxlan, bridge and nf_tables in a throwaway namespace: the kernel's own answer."""
    run(["ip", "netns", "add", PROBE_NETNS])
    try:
        ip = ["ip", "-n", PROBE_NETNS, "link", "add"]
        probes = {
            "bridge": [*ip, "shoal-pbr", "type", "bridge"],
            "vxlan": [*ip, "shoal-pvx", "type", "vxlan", "id", "42", "dstport", "4789", "local",
                      "127.0.0.1"],
            "nf_tables": ["nsenter", f"--net=/run/netns/{PROBE_NETNS}", "nft", "add", "table",
                          "bridge", "shoal_probe"],
        }  # fmt: skip
        for feature, argv in probes.items():
            if not succeeds(argv):
                raise LabError(
                    f"the kernel has no {feature} support; load it (modprobe {feature}) "
                    "or use a kernel built with it"
                )
    finally:
        run(["ip", "netns", "del", PROBE_NETNS], check=False)
