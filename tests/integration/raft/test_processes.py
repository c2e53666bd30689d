"""Raft with real processes: 3 and 5 key-value members on 127.0.0.1, real gRPC, real fsync.

Clients write continuously (unique keys and values) while the test SIGKILLs the leader again
and again, restarting each killed member, then SIGKILLs every member at once and restarts them
all. Then: no acknowledged write is lost (each is read back through a linearizable get, from
every member), and every member ends with the same state (equal digests once the cluster is
quiet). Time from a kill to a new leader is printed (p50/p99), never asserted on.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.raftkv.client import KvClient, Unavailable
from tests.raftkv.cluster import ProcessCluster, process_cluster

pytestmark = pytest.mark.integration

LEADER_KILLS = 5
WRITERS = 4
TICK = 0.05  # seconds; election timeout is 10-20 ticks
# Small, so that members snapshot often and a restarted member that fell more than
# SNAPSHOT_KEEP entries behind catches up from the leader's snapshot.
SNAPSHOT_INTERVAL = 200
SNAPSHOT_KEEP = 50


@dataclass
class Writes:
    acked: dict[str, str] = field(default_factory=dict)
    unacked: int = 0  # timed out: may or may not have been applied; never counted as lost
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def writer(n: int, addresses: dict[int, str], writes: Writes) -> None:
    client = KvClient(addresses)
    try:
        for i in range(10**9):
            if writes.stop.is_set():
                return
            key = f"w{n}-{i}"
            value = f"{key}-{uuid.uuid4().hex[:12]}"
            try:
                await client.put(key, value, within=15)
            except Unavailable:
                writes.unacked += 1
            else:
                writes.acked[key] = value
    finally:
        client.close()


async def wait_for(what: str, condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def writes_progress(writes: Writes, more: int = 50) -> None:
    target = len(writes.acked) + more
    await wait_for(f"{more} more acknowledged writes", lambda: len(writes.acked) >= target)


async def max_term(c: ProcessCluster) -> int:
    return max(int(str(s["term"])) for s in (await c.statuses()).values() if s is not None)


async def read_back(c: ProcessCluster, node_id: int, acked: dict[str, str]) -> list[str]:
    """The acknowledged keys whose value a linearizable get through `node_id` does not return."""
    client = KvClient({node_id: c.client_addresses[node_id]})
    try:
        keys = sorted(acked)
        wrong = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            values = await client.get_many(chunk, within=30)
            wrong += [k for k in chunk if values.get(k) != acked[k]]
        return wrong
    finally:
        client.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@pytest.mark.parametrize("size", [3, 5])
async def test_acknowledged_writes_survive_leader_kills_and_a_whole_cluster_crash(
    size: int,
) -> None:
    started = time.monotonic()
    with process_cluster(
        size, tick=TICK, snapshot_interval=SNAPSHOT_INTERVAL, snapshot_keep=SNAPSHOT_KEEP
    ) as c:
        c.start_all()
        await c.wait_for_leader()
        writes = Writes()
        elections: list[float] = []
        try:
            async with asyncio.TaskGroup() as tg:
                for n in range(WRITERS):
                    tg.create_task(writer(n, c.client_addresses, writes))
                try:
                    for _ in range(LEADER_KILLS):
                        await writes_progress(writes)
                        leader, term = await c.wait_for_leader()
                        c.kill([leader])
                        killed_at = time.monotonic()
                        await c.wait_for_leader(above_term=term)
                        elections.append(time.monotonic() - killed_at)
                        c.start(leader)
                        await c.wait_until_serving(leader)

                    await writes_progress(writes)
                    term = await max_term(c)
                    c.kill(c.ids)
                    killed_at = time.monotonic()
                    c.start_all()
                    await c.wait_for_leader(above_term=term)
                    whole_restart = time.monotonic() - killed_at
                    await writes_progress(writes)
                finally:
                    writes.stop.set()

            final = await c.wait_until_quiet()
            lost = {i: await read_back(c, i, writes.acked) for i in c.ids}
            leader_snapshots = c.log_count("installed the leader's snapshot")
        except BaseException:
            for i in c.ids:
                print(f"--- member {i} log tail ---\n{c.log_tail(i)}")
            raise

    digests = {i: s["digest"] for i, s in final.items()}
    print(
        f"\n{size} members: {len(writes.acked)} acknowledged writes, {writes.unacked} "
        f"unacknowledged; lost (per member read-back): "
        f"{ {i: len(v) for i, v in lost.items()} }\n"
        f"time to a new leader after killing the leader ({len(elections)} kills): "
        f"p50 {statistics.median(elections) * 1000:.0f} ms, "
        f"p99 {percentile(elections, 99) * 1000:.0f} ms, "
        f"all {[round(e * 1000) for e in elections]} ms\n"
        f"time from killing all {size} members to a leader of the restarted cluster: "
        f"{whole_restart * 1000:.0f} ms (process start included)\n"
        f"final state: applied index {final[1]['applied']}, {final[1]['keys']} keys, "
        f"restarted members that caught up from the leader's snapshot: {leader_snapshots}; "
        f"digests "
        f"{ {i: str(d)[:12] for i, d in digests.items()} }; test took "
        f"{time.monotonic() - started:.1f}s"
    )
    assert all(not wrong for wrong in lost.values()), f"acknowledged writes lost: {lost}"
    assert len(set(digests.values())) == 1, f"members' states differ: {digests}"
    assert int(str(final[1]["keys"])) >= len(writes.acked)
