"""Network namespaces by path: create, enter, run in, remove.

    create_netns(<run_dir>/netns/shoal-net-x)   unshare(NEWNET) in this thread, bind-mount
                                                /proc/thread-self/ns/net on the file, setns back
    iproute(ns) / in_netns(ns)                  this thread enters ns, does its work
                                                (a netlink or UDP socket stays bound to ns), back
    ns_run(ns, argv)                            nsenter --net=<ns> argv
    remove_netns(path)                          umount + unlink (the kernel frees the namespace
                                                once nothing else holds it)

A namespace outlives the daemon because a bind mount holds it, like `ip netns add` does in
/run/netns; ours live under `<run_dir>/netns` (lab nodes share the host's /run). As iproute2
does, that directory is made a shared mount point so an unmount propagates to mount
namespaces that copied it (otherwise they would keep our namespaces alive); it is unmounted
again when its last namespace goes.

"The host namespace" throughout overlay_net is the calling thread's namespace: a caller that
runs in_netns(node) and calls these functions works inside that node (the integration tests
build fake nodes this way). setns and unshare change only the calling thread, so every
function here restores it before returning, on errors too.

All of this blocks and pyroute2's synchronous IPRoute refuses to run in a thread with a
running event loop: call it from a worker thread (asyncio.to_thread). in_netns alone (to
create a socket) is fine on the loop's thread, as long as nothing awaits inside it.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
THREAD_NS = "/proc/thread-self/ns/net"


class NetnsError(Exception):
    """A namespace could not be created, entered or used, or the kernel refused a change
    there; the message says which and why, `code` is the errno when there is one."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise NetnsError(f"{what}: {os.strerror(code)}", code)


def _setns(fd: int, what: str) -> None:
    _check(_libc().setns(fd, CLONE_NEWNET), what)


def _mount(source: str, target: Path, flags: int, what: str) -> None:
    result = _libc().mount(source.encode(), bytes(target), b"none", flags, None)
    _check(result, what)


def _umount(target: Path) -> bool:
    """Detach the mount on target; False when nothing is mounted there."""
    if _libc().umount2(bytes(target), MNT_DETACH) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOENT):
        return False
    raise NetnsError(f"cannot unmount {target}: {os.strerror(code)}", code)


def is_netns(path: Path) -> bool:
    """True when `path` is a namespace file (a bind mount of one, or /proc/<pid>/ns/net).

    Every namespace file lives on the kernel's nsfs, so its device is the one of our own.
    A leftover plain file (run_dir survives a reboot, its mounts do not) is not one."""
    try:
        return os.stat(path).st_dev == os.stat(THREAD_NS).st_dev
    except OSError:
        return False


def parse_mount_points(mountinfo: str) -> set[str]:
    """The mount points listed in a /proc/<pid>/mountinfo text."""
    points = set()
    for line in mountinfo.splitlines():
        # field 5 is the mount point, with space, tab, newline, backslash octal-escaped
        raw = line.split(" ")[4]
        points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), raw))
    return points


def _mount_points() -> set[str]:
    with open("/proc/thread-self/mountinfo", encoding="utf-8") as f:
        return parse_mount_points(f.read())


def _share_dir(directory: Path) -> None:
    """Make `directory` a shared mount point (ported from iproute2's netns_add)."""
    directory.mkdir(parents=True, exist_ok=True)
    if str(directory) in _mount_points():
        return
    _mount(str(directory), directory, MS_BIND | MS_REC, f"cannot bind-mount {directory}")
    _mount("", directory, MS_SHARED | MS_REC, f"cannot make {directory} a shared mount")


def create_netns(path: Path) -> None:
    """A new network namespace bind-mounted at `path`; an existing one is kept."""
    path = path.absolute()
    if is_netns(path):
        return
    _share_dir(path.parent.resolve())  # resolved: mountinfo lists real paths
    path.touch(exist_ok=True)
    saved = os.open(THREAD_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc().unshare(CLONE_NEWNET), f"cannot create network namespace {path}")
        try:
            _mount(THREAD_NS, path, MS_BIND, f"cannot bind-mount network namespace at {path}")
        finally:
            _setns(saved, "cannot return to the caller's network namespace")
    finally:
        os.close(saved)


def remove_netns(path: Path) -> None:
    """Unmount and delete `path`; a missing one is fine. Unmounts the namespace directory
    too once it holds no namespace any more."""
    path = path.absolute()
    while _umount(path):  # a racing create may have stacked two mounts
        pass
    path.unlink(missing_ok=True)
    directory = path.parent.resolve()
    try:
        empty = not any(directory.iterdir())
    except FileNotFoundError:
        return
    if empty and str(directory) in _mount_points():
        _umount(directory)


def pid_netns(pid: int) -> Path:
    return Path(f"/proc/{pid}/ns/net")


def _open_ns(ns: Path) -> int:
    try:
        fd = os.open(ns, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetnsError(f"network namespace {ns} is gone: {e.strerror}") from None
    if os.fstat(fd).st_dev != os.stat(THREAD_NS).st_dev:
        os.close(fd)
        raise NetnsError(f"{ns} is not a network namespace (was its mount lost? remove it)")
    return fd


@contextmanager
def ns_fd(ns: Path) -> Iterator[int]:
    """An open descriptor of `ns`, for moving links there (IFLA_NET_NS_FD)."""
    fd = _open_ns(ns)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def in_netns(ns: Path) -> Iterator[None]:
    """Run the body with this thread in `ns`; back to where it was afterwards, errors too.

    Sockets created inside stay in `ns`. Do not await inside: another task would run in
    the wrong namespace."""
    saved = os.open(THREAD_NS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with ns_fd(ns) as fd:
            _setns(fd, f"cannot enter network namespace {ns}")
        try:
            yield
        finally:
            _setns(saved, "cannot return to the caller's network namespace")
    finally:
        os.close(saved)


@contextmanager
def iproute(ns: Path | None) -> Iterator[IPRoute]:
    """A pyroute2 IPRoute whose netlink socket lives in `ns` (None: this thread's).

    A request the kernel refuses in the body comes out as NetnsError."""
    if ns is None:
        ipr = IPRoute()
    else:
        # the socket is created here, in ns; unlike IPRoute(netns=...) this forks nothing
        # and cannot create a missing namespace by accident
        with in_netns(ns):
            ipr = IPRoute()
    try:
        yield ipr
    except NetlinkError as e:
        where = f"namespace {ns}" if ns is not None else "this node's namespace"
        raise NetnsError(
            f"the kernel refused a network change in {where}: {os.strerror(e.code)}", e.code
        ) from e
    finally:
        ipr.close()


def ns_run(
    ns: Path | None,
    argv: Sequence[str],
    input: bytes = b"",
    *,
    timeout: float = 60.0,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` in `ns` (None: this thread's namespace) and return what it printed.

    With `check`, a non-zero exit raises NetnsError with the command's last stderr line."""
    cmd = [*argv] if ns is None else ["nsenter", f"--net={ns}", "--", *argv]
    where = f" in {ns}" if ns is not None else ""
    try:
        done = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise NetnsError(f"cannot run {cmd[0]}: not installed (install it)") from None
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{argv[0]}{where} did not finish within {timeout:g} s") from None
    if check and done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise NetnsError(f"{' '.join(argv)}{where} failed: {detail}")
    return done


def sysctl(ns: Path | None, key: str, value: str) -> None:
    """Set a sysctl (e.g. "net.ipv4.ip_forward") in `ns`; /proc/sys/net is per namespace."""
    target = Path("/proc/sys", *key.split("."))
    try:
        if ns is None:
            target.write_text(value)
        else:
            with in_netns(ns):
                target.write_text(value)
    except OSError as e:
        where = f" in {ns}" if ns is not None else ""
        raise NetnsError(f"cannot set {key}={value}{where}: {e.strerror}") from None
