"""Namespaces by path: create, adopt, enter and leave, run in, remove."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from overlay_net.netns import (
    NetnsError,
    create_netns,
    in_netns,
    iproute,
    is_netns,
    ns_run,
    remove_netns,
    sysctl,
)
from tests.integration.overlay.conftest import NetnsFactory
from tests.integration.overlay.support import mounts_under


def here() -> int:
    """The inode of this thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def test_create_is_idempotent_and_remove_cleans_the_directory(
    overlay_root: Path,
) -> None:
    run = overlay_root / "run" / "netns"
    path = run / "shoal-net-x"
    create_netns(path)
    inode = os.stat(path).st_ino
    create_netns(path)
    assert os.stat(path).st_ino == inode  # the same namespace, not a second mount
    assert inode != here()
    assert sorted(mounts_under(run)) == [str(run), str(path)]  # the dir is a mount point
    remove_netns(path)
    remove_netns(path)  # missing is fine
    assert not path.exists()
    assert mounts_under(run) == []  # the last one out unmounts the directory


def test_a_file_left_without_its_mount_is_replaced(overlay_root: Path) -> None:
    """run_dir survives a reboot; the mounts do not."""
    path = overlay_root / "netns" / "shoal-net-y"
    path.parent.mkdir()
    path.touch()
    assert not is_netns(path)
    with pytest.raises(NetnsError, match="is not a network namespace"), in_netns(path):
        pass
    try:
        create_netns(path)
        assert is_netns(path)
    finally:
        remove_netns(path)


def test_in_netns_enters_and_always_comes_back(netns_factory: NetnsFactory) -> None:
    ns = netns_factory("test-enter")
    start = here()
    with in_netns(ns):
        assert here() == os.stat(ns).st_ino
    assert here() == start
    with pytest.raises(RuntimeError, match="boom"), in_netns(ns):
        raise RuntimeError("boom")
    assert here() == start
    with pytest.raises(NetnsError, match="is gone"), in_netns(ns.parent / "missing"):
        pass
    assert here() == start


def test_in_netns_moves_only_the_calling_thread(netns_factory: NetnsFactory) -> None:
    ns = netns_factory("test-thread")
    entered, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def worker() -> None:
        with in_netns(ns):
            seen.append(here())
            entered.set()
            release.wait(timeout=10)

    thread = threading.Thread(target=worker)
    start = here()
    thread.start()
    try:
        assert entered.wait(timeout=10)
        assert here() == start  # this thread stayed
        assert seen == [os.stat(ns).st_ino]
    finally:
        release.set()
        thread.join(timeout=10)


def test_iproute_ns_run_and_sysctl_act_in_the_namespace(netns_factory: NetnsFactory) -> None:
    ns = netns_factory("test-tools")
    with iproute(ns) as ipr:
        assert [link.get("IFLA_IFNAME") for link in ipr.link("dump")] == ["lo"]
    with (
        pytest.raises(NetnsError, match=r"kernel refused a network change in namespace .*exists"),
        iproute(ns) as ipr,
    ):
        ipr.link("add", ifname="lo", kind="bridge")  # the name is taken
    other = netns_factory("test-tools-other")
    forward = ["cat", "/proc/sys/net/ipv4/ip_forward"]
    before = ns_run(other, forward).stdout
    flipped = b"0\n" if before == b"1\n" else b"1\n"
    sysctl(ns, "net.ipv4.ip_forward", flipped.decode().strip())
    assert ns_run(ns, forward).stdout == flipped
    assert ns_run(other, forward).stdout == before  # per namespace
    inner = ns_run(ns, ["readlink", "/proc/self/ns/net"]).stdout.decode().strip()
    assert inner == f"net:[{os.stat(ns).st_ino}]"
    with pytest.raises(NetnsError, match=r"^ip link show nothere in .* failed: .*nothere"):
        ns_run(ns, ["ip", "link", "show", "nothere"])
    assert ns_run(ns, ["false"], check=False).returncode == 1
    with pytest.raises(NetnsError, match=r"cannot set net\.ipv4\.nonsense=1"):
        sysctl(ns, "net.ipv4.nonsense", "1")
