"""Convergence benchmark: `service create` to all tasks running, on one host, next to the floor
(`docker run` of the same containers) and to Docker Swarm measured in the same run.

    .venv/bin/python -m bench.converge [--replicas 1,20] [--runs 3] [--state-dir DIR]
                                       [--skip-swarm] [--wait 600]

shoal: a 1-node lab (`shoal-lab up --nodes 1`: the node's own dockerd and shoald in a network
namespace, one manager). Each run: `shoal service create --detach --replicas R
<registry>/web:1` through the CLI (a process, as a user runs it), then the service's tasks are
polled in this process through the daemon's socket every `--poll` seconds until R are RUNNING.
The time is from starting the CLI to the poll that sees R running. Then `service rm` and a
wait until the node's engine has no container of it left.

floor: on the same node's engine, `docker run -d --network none <same image>` R times, one
after another (sequential) and all at once (concurrent); the time until every `docker run`
returned (a container is running when it returns).

swarm: a separate dockerd (the same binary as the lab's) in a network namespace this bench
creates (`bench-swarm`: a veth pair with 192.168.254.1/24 and no route out), started like the
lab's engines (`nsenter --net`, own data root, exec root and socket, `--bridge none
--iptables=false`), with `docker swarm init --advertise-addr 192.168.254.1`. Each run: `docker
service create --detach --no-resolve-image --replicas R <same image>`, polled through the
engine's API (GET /tasks) until R tasks are running. Settings equivalent to shoal's: the image
is loaded into that engine beforehand (`docker save | docker load`) and the engine runs with
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, so neither pulls an image that is present (shoal pulls
only missing images); no networks and no published ports (shoal creates containers with
network mode none; under `--bridge none` Swarm's containers get only loopback, as `--network
none` is not accepted for a service).

Runs are interleaved (shoal, swarm, floor sequential, floor concurrent; then again) so that
each sees the same machine. Nothing is sent anywhere but inside namespaces the lab or this
bench created. The lab is shared with e2e tests (its namespace names are fixed, one per host):
the bench waits until no lab is up and no e2e run is going, up to `--wait` seconds, and only
takes down the lab it started. Everything it started is stopped by pid. Never fails on time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster_examples.lab.spec import DEFAULT_STATE_DIR, SWITCH_NETNS
from proto import objects_pb2
from shoal.cli._client import Daemon

NETNS_DIR = Path("/run/netns")
SWARM_NETNS = "bench-swarm"
SWARM_ADDR = "192.168.254.1"
IMAGE_TAG = "web:1"
BIN = Path(sys.executable).parent


class BenchError(Exception):
    """Why the bench cannot go on, in one line."""


def run(argv: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env} if env else None,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise BenchError(f"`{' '.join(argv)}` failed: {why[-1] if why else done.returncode}")
    return done.stdout


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else name


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    replicas: int
    seconds: list[float] = field(default_factory=list)
    cli: list[float] = field(default_factory=list)  # when the create command returned
    # when the first and the last container started (the engine's State.StartedAt)
    started: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def line(self) -> str:
        runs = ", ".join(f"{s:.2f}" for s in self.seconds) or "not measured"
        notes = f"  [{'; '.join(self.notes)}]" if self.notes else ""
        cli = ""
        if self.cli:
            cli = f"; create command returned after {statistics.median(self.cli):.2f} s"
        if self.started:
            first = statistics.median(f for f, _ in self.started)
            last = statistics.median(la for _, la in self.started)
            cli += f", containers started {first:.2f} s to {last:.2f} s after the create"
        return (
            f"{self.label:30} {self.replicas:3} replicas: median {self.median:6.2f} s "
            f"(runs: {runs}{cli}){notes}"
        )


def ratio(a: Series, b: Series) -> str:
    if not a.seconds or not b.seconds:
        return "n/a"
    return f"{a.median / b.median:.2f}"


# -- waiting -----------------------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], bool], timeout: float, poll: float) -> float:
    """Poll `check` until true; return the time it became true. BenchError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(poll)


def lab_in_use(own_state_dir: Path) -> str:
    """Why the lab cannot be used now, or "" if it can."""
    if (NETNS_DIR / SWITCH_NETNS).exists():
        return f"a lab is up (/run/netns/{SWITCH_NETNS} exists)"
    me = {os.getpid(), os.getppid()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in me:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"shoal-e2e-" in cmdline or (b"tests/e2e" in cmdline and b"pytest" in cmdline):
            return f"an e2e run is going (pid {proc.name})"
        if b"shoal-lab" in cmdline and str(own_state_dir).encode() not in cmdline:
            return f"shoal-lab is running (pid {proc.name})"
    return ""


def wait_for_lab(state_dir: Path, timeout: float) -> None:
    start = time.monotonic()
    said = ""
    while why := lab_in_use(state_dir):
        waited = time.monotonic() - start
        if waited > timeout:
            raise BenchError(f"the lab stayed busy for {waited:.0f} s ({why}); not measured")
        if why != said:
            print(f"waiting for the lab: {why}", flush=True)
            said = why
        time.sleep(5)


# -- the lab (shoal) ---------------------------------------------------------------------------


@dataclass
class Lab:
    state_dir: Path
    registry: str = ""
    started: bool = False

    @property
    def engine(self) -> list[str]:
        return ["docker", "-H", f"unix://{self.state_dir / 'n1' / 'docker.sock'}"]

    @property
    def shoal_host(self) -> str:
        return f"unix://{self.state_dir / 'n1' / 'shoal.sock'}"

    @property
    def image(self) -> str:
        return f"{self.registry}/{IMAGE_TAG}"

    def lab(self, *args: str) -> str:
        return run([tool("shoal-lab"), "--state-dir", str(self.state_dir), *args])

    def shoal(self, *args: str) -> str:
        return run([tool("shoal"), *args], env={"SHOAL_HOST": self.shoal_host})


@contextlib.contextmanager
def lab_up(state_dir: Path) -> Iterator[Lab]:
    lab = Lab(state_dir)
    t = time.perf_counter()
    # Only a lab this bench brought up is taken down: `up` removes what it made if it fails.
    lab.lab("up", "--nodes", "1")
    lab.started = True
    try:
        lab.registry = lab.lab("registry").strip()
        print(f"lab up in {time.perf_counter() - t:.1f} s; registry {lab.registry}", flush=True)
        run([*lab.engine, "pull", "-q", lab.image])  # both systems start from a present image
        yield lab
    finally:
        if lab.started:
            print(lab.lab("down").strip(), flush=True)


def shoal_running(daemon: Daemon, service_id: str) -> int:
    return sum(
        1
        for t in daemon.list_tasks(service_ids=[service_id])
        if t.status.state == objects_pb2.RUNNING and t.desired_state == objects_pb2.RUNNING
    )


def engine_containers(engine: list[str], service: str) -> list[str]:
    return run(
        [*engine, "ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={service}"]
    ).split()


def container_starts(engine: list[str], service: str, wall_start: float) -> tuple[float, float]:
    """When the service's first and last containers started, in seconds after `wall_start`
    (time.time() when the create command was started; the engine runs on the same clock)."""
    ids = engine_containers(engine, service)
    out = run([*engine, "inspect", "--format", "{{.State.StartedAt}}", *ids]).split()
    starts = []
    for stamp in out:  # RFC 3339 with nanoseconds: keep microseconds for fromisoformat
        m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", stamp)
        if m is None:
            raise BenchError(f"unexpected StartedAt {stamp!r}")
        frac = (m.group(2) or "0")[:6].ljust(6, "0")
        when = datetime.datetime.fromisoformat(f"{m.group(1)}.{frac}+00:00").timestamp()
        starts.append(when - wall_start)
    return min(starts), max(starts)


def shoal_run(
    lab: Lab, daemon: Daemon, replicas: int, name: str, args: argparse.Namespace, s: Series
) -> float:
    wall, start = time.time(), time.perf_counter()
    service_id = lab.shoal(
        "service", "create", "--detach", "--name", name, "--replicas", str(replicas), lab.image
    ).strip()
    s.cli.append(time.perf_counter() - start)
    try:
        done = wait_until(
            f"shoal service {name}",
            lambda: shoal_running(daemon, service_id) == replicas,
            args.timeout,
            args.poll,
        )
        s.started.append(container_starts(lab.engine, name, wall))
    finally:
        lab.shoal("service", "rm", name)
        wait_until(
            f"removing shoal service {name}",
            lambda: not engine_containers(lab.engine, name),
            120,
            0.2,
        )
    return done - start


# -- the floor ---------------------------------------------------------------------------------


def floor_run(engine: list[str], image: str, replicas: int, name: str, concurrent: bool) -> float:
    argvs = [
        [*engine, "run", "-d", "--network", "none", "--name", f"{name}-{i}", image]
        for i in range(1, replicas + 1)
    ]
    start = time.perf_counter()
    try:
        if concurrent:
            procs = [
                subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for a in argvs
            ]
            errors = [p.communicate()[1] for p in procs]
            failed = [e for p, e in zip(procs, errors, strict=True) if p.returncode != 0]
            if failed:
                raise BenchError(f"docker run failed: {failed[0].decode().strip()}")
        else:
            for a in argvs:
                run(a)
        return time.perf_counter() - start
    finally:
        names = [f"{name}-{i}" for i in range(1, replicas + 1)]
        run([*engine, "rm", "-f", *names], check=False)


# -- Docker Swarm ----------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("docker", timeout=10)
        self._path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self._path)
        self.sock = s


@dataclass
class SwarmEngine:
    root: Path
    pid: int = 0

    @property
    def sock(self) -> Path:
        return self.root / "docker.sock"

    @property
    def engine(self) -> list[str]:
        return ["docker", "-H", f"unix://{self.sock}"]

    def get(self, path: str) -> object:
        conn = UnixHTTPConnection(self.sock)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise BenchError(f"GET {path}: {response.status} {body[:200]!r}")
        return json.loads(body)

    def running(self, service: str) -> int:
        query = urllib.parse.quote(json.dumps({"service": {service: True}}))
        tasks = self.get(f"/tasks?filters={query}")
        assert isinstance(tasks, list)
        return sum(
            1
            for t in tasks
            if t.get("Status", {}).get("State") == "running" and t.get("DesiredState") == "running"
        )


def ping(sock: Path) -> bool:
    try:
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/_ping")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def process_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout: float) -> None:
    if not process_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


def processes_naming(text: str) -> list[int]:
    """Pids whose command line names `text` (our own temporary directory: dockerd's containerd
    and shims), this process excluded."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            with contextlib.suppress(OSError):
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


def mounts_under(root: Path) -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point == str(root) or point.startswith(f"{root}/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_cgroups(name: str) -> None:
    """The (empty) cgroup `name` dockerd's --cgroup-parent made, in every hierarchy (v1 or v2)."""
    cgroups = Path("/sys/fs/cgroup")
    for top in [cgroups / name, *cgroups.glob(f"*/{name}")]:
        if top.is_dir():
            for d in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if d.is_dir():
                    with contextlib.suppress(OSError):
                        d.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


@contextlib.contextmanager
def swarm_engine(image_from: list[str], image: str) -> Iterator[SwarmEngine]:
    if (NETNS_DIR / SWARM_NETNS).exists():
        raise BenchError(
            f"network namespace {SWARM_NETNS} exists (a crashed bench?); "
            f"remove it with 'ip netns del {SWARM_NETNS}'"
        )
    root = Path(tempfile.mkdtemp(prefix="bench-swarm-", dir="/var/tmp"))
    swarm = SwarmEngine(root)
    proc: subprocess.Popen[bytes] | None = None
    try:
        run(["ip", "netns", "add", SWARM_NETNS])
        ns = ["ip", "-n", SWARM_NETNS]
        run([*ns, "link", "set", "lo", "up"])
        run([*ns, "link", "add", "bench0", "type", "veth", "peer", "name", "bench1"])
        run([*ns, "addr", "add", f"{SWARM_ADDR}/24", "dev", "bench0"])
        run([*ns, "link", "set", "bench0", "up"])
        run([*ns, "link", "set", "bench1", "up"])
        argv = [
            "nsenter", f"--net={NETNS_DIR / SWARM_NETNS}",
            "dockerd",
            "--data-root", str(root / "docker"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"),
            "--host", f"unix://{swarm.sock}",
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
            "--cgroup-parent", "bench-swarm",
            "--shutdown-timeout", "5",
        ]  # fmt: skip
        env = {**os.environ, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}
        with (root / "docker.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True,
            )  # fmt: skip
        swarm.pid = proc.pid  # nsenter execs dockerd: the same pid
        wait_until("the swarm engine answering", lambda: ping(swarm.sock), 60, 0.1)
        save = subprocess.Popen([*image_from, "save", image], stdout=subprocess.PIPE)
        run_load = subprocess.run(
            [*swarm.engine, "load", "-q"], stdin=save.stdout, capture_output=True, check=False
        )
        if save.stdout:
            save.stdout.close()
        if save.wait() != 0 or run_load.returncode != 0:
            raise BenchError(f"could not copy {image} to the swarm engine: {run_load.stderr!r}")
        run([*swarm.engine, "swarm", "init", "--advertise-addr", SWARM_ADDR,
             "--listen-addr", f"{SWARM_ADDR}:2377"])  # fmt: skip
        yield swarm
    finally:
        if proc is not None:
            stop_pid(proc.pid, 30)
            proc.wait()
        for pid in processes_naming(str(root)):
            stop_pid(pid, 10)
        for point in mounts_under(root):
            run(["umount", "-l", point], check=False)
        if (NETNS_DIR / SWARM_NETNS).exists():
            run(["ip", "netns", "del", SWARM_NETNS], check=False)
        run(["rm", "-rf", "--one-file-system", str(root)], check=False)
        remove_cgroups("bench-swarm")


def swarm_run(
    swarm: SwarmEngine,
    image: str,
    replicas: int,
    name: str,
    args: argparse.Namespace,
    s: Series,
) -> float:
    wall, start = time.time(), time.perf_counter()
    run([*swarm.engine, "service", "create", "--detach", "--quiet", "--no-resolve-image",
         "--name", name, "--replicas", str(replicas), image])  # fmt: skip
    s.cli.append(time.perf_counter() - start)
    try:
        done = wait_until(
            f"swarm service {name}",
            lambda: swarm.running(name) == replicas,
            args.timeout,
            args.poll,
        )
        s.started.append(container_starts(swarm.engine, name, wall))
    finally:
        run([*swarm.engine, "service", "rm", name])
        wait_until(
            f"removing swarm service {name}",
            lambda: not engine_containers(swarm.engine, name),
            120,
            0.2,
        )
    return done - start


# -- main --------------------------------------------------------------------------------------


def versions() -> str:
    dockerd = run(["dockerd", "--version"], check=False).strip() or "dockerd: unknown"
    cli = run(["docker", "--version"], check=False).strip() or "docker CLI: unknown"
    return f"dockerd: {dockerd}; CLI: {cli}"


def conditions(args: argparse.Namespace) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}; Python {platform.python_version()}; {versions()}\n"
        f"image web:1 (busybox httpd, FROM scratch) present on every engine before the runs; "
        f"{args.runs} runs per figure, interleaved; tasks polled every {args.poll * 1000:.0f} ms "
        f"(shoal: ListTasks on the daemon's socket; swarm: GET /tasks); shoal: 1-node lab "
        f"(one manager, Raft tick 0.1 s, fsync on); swarm: its defaults, one manager; "
        f"both daemons idle while the other is measured; {loadavg()}"
    )


def loadavg() -> str:
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return "load average unknown"
    return f"load average {one}, {five}, {fifteen} (1, 5, 15 min)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.converge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--replicas",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 20],
        help="comma-separated replica counts",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per figure")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("SHOAL_LAB_DIR", str(DEFAULT_STATE_DIR))),
        help="the lab's state dir ($SHOAL_LAB_DIR or shoal-lab's default)",
    )
    p.add_argument("--poll", type=float, default=0.05, help="seconds between polls")
    p.add_argument("--timeout", type=float, default=300, help="give up on one run after this")
    p.add_argument("--wait", type=float, default=600, help="how long to wait for a busy lab")
    p.add_argument("--skip-swarm", action="store_true")
    return p.parse_args(argv)


def measure(args: argparse.Namespace) -> None:
    results: dict[tuple[str, int], Series] = {}

    def series(label: str, replicas: int) -> Series:
        return results.setdefault((label, replicas), Series(label, replicas))

    wait_for_lab(args.state_dir.absolute(), args.wait)
    with contextlib.ExitStack() as stack:
        lab = stack.enter_context(lab_up(args.state_dir.absolute()))
        daemon = Daemon(lab.shoal_host)
        stack.callback(daemon.close)
        swarm: SwarmEngine | None = None
        swarm_why = "--skip-swarm given"
        if not args.skip_swarm:
            try:
                swarm = stack.enter_context(swarm_engine(lab.engine, lab.image))
            except BenchError as e:
                swarm_why = str(e)
        if swarm is None:
            print(f"Docker Swarm reference NOT measured: {swarm_why}", flush=True)
        # One unmeasured round first: the first container an engine starts pays one-off costs.
        warmup = Series("warm-up", 1)
        shoal_run(lab, daemon, 1, "bench-warmup", args, warmup)
        if swarm is not None:
            swarm_run(swarm, lab.image, 1, "bench-warmup", args, warmup)
        floor_run(lab.engine, lab.image, 1, "bench-warmup", concurrent=False)
        for i in range(1, args.runs + 1):
            for replicas in args.replicas:
                name = f"bench-{replicas}-{i}"
                r, n = replicas, name
                figures: list[tuple[str, Callable[[], float]]] = [
                    ("shoal service create",
                     partial(shoal_run, lab, daemon, r, n, args,
                             series("shoal service create", r)))
                ]  # fmt: skip
                if swarm is not None:
                    label = "docker service create (swarm)"
                    figures.append(
                        (
                            label,
                            partial(swarm_run, swarm, lab.image, r, n, args, series(label, r)),
                        )
                    )
                floor = partial(floor_run, lab.engine, lab.image, r, n)
                figures += [
                    ("docker run, sequential", partial(floor, False)),
                    ("docker run, concurrent", partial(floor, True)),
                ]
                for label, fn in figures:
                    s = series(label, replicas)
                    try:
                        s.seconds.append(fn())
                        got = f"{s.seconds[-1]:.2f} s"
                        if len(s.started) == len(s.seconds):
                            first, last = s.started[-1]
                            got += f" (containers started {first:.2f} s to {last:.2f} s)"
                    except BenchError as e:
                        s.notes.append(str(e))
                        got = f"failed: {e}"
                    print(f"  run {i}: {label}, {replicas} replicas: {got}", flush=True)
    print(f"\nat the end: {loadavg()}")
    for s in results.values():
        print(s.line())
    for replicas in args.replicas:
        shoal = results[("shoal service create", replicas)]
        parts = []
        swarm_s = results.get(("docker service create (swarm)", replicas))
        parts.append(f"shoal / swarm {ratio(shoal, swarm_s) if swarm_s else 'n/a (not measured)'}")
        for label in ("docker run, sequential", "docker run, concurrent"):
            f = results[(label, replicas)]
            parts.append(f"shoal / {label} {ratio(shoal, f)}")
            if swarm_s:
                parts.append(f"swarm / {label} {ratio(swarm_s, f)}")
        print(f"{replicas} replicas: " + "; ".join(parts))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(conditions(args), flush=True)
    if os.geteuid() != 0:
        sys.exit("Error: the convergence bench needs root (network namespaces, dockerd)")
    if shutil.which("dockerd") is None:
        sys.exit("Error: dockerd not found; run scripts/setup")
    try:
        measure(args)
    except BenchError as e:
        sys.exit(f"Error: {e}")


if __name__ == "__main__":
    main()
