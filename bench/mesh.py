"""Routing-mesh benchmark: the same web task reached directly, through its VIP, and through
the ingress routing mesh of a node that runs no replica.

    .venv/bin/python -m bench.mesh [--requests 20000] [--seconds 20] [--rounds 3]
                                   [--connections 8] [--state-dir DIR] [--wait 600]

A 3-node lab (`shoal-lab up --nodes 3`, n1 the manager). An overlay network `bench`, a service
`web` (one replica of web:1, busybox httpd, pinned to n2) on it publishing 8080:80, and a
`tools` service (2 replicas, pinned to n1) on the same network. wrk (Debian's) sends HTTP GETs over
`--connections` connections; busybox httpd closes each after one reply, so every request is
a new TCP connection: the case where the mesh's DNAT and conntrack cost the most.

- direct: wrk in one tools container's namespace -> the web task's overlay address:80
  (VXLAN n1 -> n2, no NAT);
- vip:    wrk in the other tools container -> the service's VIP:80 (nft DNAT in the
  client's namespace). Not the same client as direct: the server's TIME_WAIT sockets of one
  path would refuse the other's SYNs on reused ports (the ISN and the TCP timestamp offset
  depend on the destination the client dialed, the VIP or the task's address), and both
  would stall on SYN retransmits after ~40,000 connections;
- mesh:   wrk in n1's own namespace (n1 runs no web replica) -> n1's address:8080 (host DNAT
  to the ingress sbox, DNAT + masquerade there, VXLAN to n2).

Each measurement stops after `--requests` responses or `--seconds`, whichever comes first
(a wrk Lua script stops each thread after its share). Rounds are interleaved (direct, vip,
mesh, again). Printed: requests, requests/s, latency p50/p99 per path (median over rounds)
and mesh/direct and vip/direct throughput ratios. All traffic stays inside the lab's
namespaces. Never fails on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.converge import BenchError, conditions, run, tool, wait_for_lab, wait_until

# Each thread stops after its share of responses; wrk's own Requests/sec divides by the -d
# duration even when the threads stopped earlier, so the script times them itself.
LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *tp);
]]
local function now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) / 1e9
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  limit = tonumber(os.getenv("BENCH_PER_THREAD"))
  count = 0
  started = now()
  finished = 0
end
function response(status, headers, body)
  count = count + 1
  finished = now()
  if count >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local total, first, last = 0, nil, 0
  for _, t in ipairs(threads) do
    total = total + t:get("count")
    local s, f = t:get("started"), t:get("finished")
    if first == nil or s < first then first = s end
    if f > last then last = f end
  end
  io.write(string.format("BENCH %d %.6f\\n", total, last - first))
end
"""


@dataclass
class Route:
    label: str
    rps: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median_rps(self) -> float:
        return statistics.median(self.rps) if self.rps else float("nan")

    def line(self) -> str:
        if not self.rps:
            return f"{self.label:7} not measured"
        runs = ", ".join(f"{r:.0f}" for r in self.rps)
        errs = f"  [{'; '.join(self.errors)}]" if self.errors else ""
        return (
            f"{self.label:7} {self.median_rps():8.0f} req/s (runs: {runs}); "
            f"{statistics.median(self.requests):.0f} requests per run; latency p50 "
            f"{statistics.median(self.p50_ms):.2f} ms, p99 {statistics.median(self.p99_ms):.2f} ms"
            f"{errs}"
        )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise BenchError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> tuple[int, float, float, float, str]:
    """wrk's report and the script's "BENCH <responses> <seconds>" line -> (responses,
    responses/s, p50 ms, p99 ms, errors line or "")."""
    ours = re.search(r"^BENCH (\d+) ([\d.]+)$", out, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    if not (ours and p50 and p99):
        raise BenchError(f"could not read wrk's report: {out.strip()[-200:]!r}")
    responses, seconds = int(ours.group(1)), float(ours.group(2))
    errors = re.search(r"Socket errors:.*|Non-2xx or 3xx responses: \d+", out)
    return (
        responses,
        responses / seconds if seconds > 0 else float("nan"),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        errors.group(0) if errors else "",
    )


class Lab:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def lab(self, *args: str) -> str:
        return run([tool("shoal-lab"), "--state-dir", str(self.state_dir), *args])

    def on(self, node: str, *cmd: str) -> str:
        return self.lab("exec", node, "--", *cmd)

    def shoal(self, *args: str) -> str:
        return self.on("n1", tool("shoal"), *args)


@contextlib.contextmanager
def lab_up(state_dir: Path) -> Iterator[Lab]:
    lab = Lab(state_dir)
    lab.lab("up", "--nodes", "3")
    try:
        yield lab
    finally:
        print(lab.lab("down").strip(), flush=True)


def containers(lab: Lab, node: str, service: str) -> list[str]:
    label = f"label=com.docker.swarm.service.name={service}"
    return lab.on(node, "docker", "ps", "-q", "--filter", label).split()


def container(lab: Lab, node: str, service: str) -> str:
    return next(iter(containers(lab, node, service)), "")


def deploy(lab: Lab) -> tuple[str, str, str, str, str]:
    """-> (two tools containers' pids, web task overlay IP, VIP, n1's address)."""
    registry = lab.lab("registry").strip()

    def ready() -> bool:
        rows = json.loads(lab.shoal("node", "ls", "--format", "json"))
        return len([r for r in rows if r["Status"] == "Ready"]) == 3

    wait_until("3 nodes ready", ready, 90, 0.5)
    lab.shoal("network", "create", "-d", "overlay", "bench")
    lab.shoal(
        "service", "create", "--detach", "--name", "web", "--network", "bench",
        "--constraint", "node.hostname==n2", "-p", "8080:80", f"{registry}/web:1",
    )  # fmt: skip
    lab.shoal(
        "service", "create", "--detach", "--name", "tools", "--network", "bench",
        "--replicas", "2", "--constraint", "node.hostname==n1", f"{registry}/tools",
    )  # fmt: skip
    wait_until("web running on n2", lambda: bool(container(lab, "n2", "web")), 120, 0.5)
    wait_until("tools running on n1", lambda: len(containers(lab, "n1", "tools")) == 2, 120, 0.5)
    web = container(lab, "n2", "web")
    addr = lab.on("n2", "docker", "exec", web, "ip", "-o", "-4", "addr", "show", "eth0")
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", addr)
    if m is None:
        raise BenchError(f"the web task has no overlay address: {addr.strip()!r}")
    inspect = json.loads(lab.shoal("service", "inspect", "web"))[0]
    network_id = json.loads(lab.shoal("network", "inspect", "bench"))[0]["Id"]
    vip = next(
        v["Addr"].split("/")[0]
        for v in inspect["Endpoint"]["VirtualIPs"]
        if v["NetworkID"] == network_id
    )
    pids = [
        lab.on("n1", "docker", "inspect", "--format", "{{.State.Pid}}", tools).strip()
        for tools in containers(lab, "n1", "tools")
    ]
    n1 = lab.lab("ip", "n1").strip()
    # the first requests of each path must already work (not measured: a warm-up)
    for netns, url in ((f"/proc/{pids[1]}/ns/net", f"http://{vip}/"), ("", f"http://{n1}:8080/")):
        wait_until(f"{url} answering", partial(fetch_ok, lab, netns, url), 30, 0.5)
    return pids[0], pids[1], m.group(1), vip, n1


def fetch_ok(lab: Lab, netns: str, url: str) -> bool:
    argv = ["timeout", "5", "busybox", "wget", "-q", "-O", "-", url]
    cmd = ["nsenter", f"--net={netns}", *argv] if netns else argv
    try:
        return lab.on("n1", *cmd).startswith("web ")
    except BenchError:
        return False


def measure_one(
    lab: Lab, netns: str, url: str, args: argparse.Namespace, script: Path
) -> tuple[int, float, float, float, str]:
    threads = 2
    wrk = [
        "env", f"BENCH_PER_THREAD={max(1, args.requests // threads)}",
        "wrk", f"-t{threads}", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
        "-s", str(script), url,
    ]  # fmt: skip
    cmd = ["nsenter", f"--net={netns}", *wrk] if netns else wrk
    return parse_wrk(lab.on("n1", *cmd))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.mesh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--requests", type=int, default=20000, help="responses per measurement")
    p.add_argument("--seconds", type=int, default=20, help="time bound per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a busy lab")
    args = p.parse_args(argv)
    args.runs, args.poll = args.rounds, 0.5  # what bench.converge.conditions prints
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="bench-mesh-", dir="/var/tmp"))
    try:
        wait_for_lab(state_dir, args.wait)
        routes = {name: Route(name) for name in ("direct", "vip", "mesh")}
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua, lab_up(state_dir) as lab:
            lua.write(LUA)
            lua.flush()
            direct_pid, vip_pid, task_ip, vip, n1 = deploy(lab)
            targets = {
                "direct": (f"/proc/{direct_pid}/ns/net", f"http://{task_ip}/"),
                "vip": (f"/proc/{vip_pid}/ns/net", f"http://{vip}/"),
                "mesh": ("", f"http://{n1}:8080/"),
            }
            for _ in range(args.rounds):
                for name, (netns, url) in targets.items():
                    n, rps, p50, p99, errors = measure_one(lab, netns, url, args, Path(lua.name))
                    path = routes[name]
                    path.requests.append(n)
                    path.rps.append(rps)
                    path.p50_ms.append(p50)
                    path.p99_ms.append(p99)
                    if errors:
                        path.errors.append(errors)
                    print(f"  {name:7} {rps:8.0f} req/s, p50 {p50:.2f} ms", flush=True)
                    time.sleep(1)  # let the previous run's connections close (TIME_WAIT aside)
        print(conditions(args).splitlines()[0])
        print(
            f"wrk: 2 threads, {args.connections} connections, up to {args.requests} responses "
            f"or {args.seconds} s per run; busybox httpd (a new connection per request); "
            f"web task on n2, client on n1"
        )
        for path in routes.values():
            print(path.line())
        direct = routes["direct"].median_rps()
        for name in ("vip", "mesh"):
            print(f"{name}/direct throughput: {routes[name].median_rps() / direct:.2f}")
    except BenchError as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
