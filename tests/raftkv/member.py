"""One member of the test key-value cluster, as a process:

    python -m tests.raftkv.member --id 1 --data-dir D --listen 127.0.0.1:P \
        --peers 1=127.0.0.1:P1,2=127.0.0.1:P2,3=127.0.0.1:P3 --client-listen 127.0.0.1:Q

It runs a RaftDriver over the real gRPC transport and the real Storage (fsync on every save)
and serves a JSON-lines client protocol on `--client-listen` (one request per line, one answer
per line, in order, on each connection):

    {"op": "put", "key": K, "value": V}  -> {"ok": true, "index": I}      once applied here
    {"op": "get", "keys": [K, ...]}       -> {"ok": true, "values": {K: V or null}}
                                             after a read barrier (ReadIndex): linearizable
    {"op": "status", "digest": bool}      -> {"ok": true, "id", "role", "term", "leader",
                                              "commit", "applied", "keys", "restores", "digest"}
    failures -> {"ok": false, "error": "not_leader", "leader": N}
                {"ok": false, "error": "lost" | "timeout" | ..., "detail": "..."}

A put answered "lost" or "timeout" may or may not have been applied: it is not acknowledged.
A brand-new member (empty data directory) bootstraps the configuration from `--peers`.
SIGTERM stops it cleanly; the tests SIGKILL it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from manager.raft.core import Config, RaftNode
from manager.raft.driver import DriverOptions, RaftDriver
from manager.raft.errors import NotLeader, ProposalLost, RaftError
from manager.raft.storage import Storage
from manager.raft.transport import GrpcTransport
from manager.raft.types import ConfState, HardState
from tests.raftkv.kv import KeyValue, encode_put

CLUSTER_ID = "raftkv"
log = logging.getLogger("raftkv.member")


@dataclass(frozen=True)
class Options:
    node_id: int
    data_dir: Path
    listen: str
    peers: dict[int, str]
    client_listen: str
    tick: float
    election_tick: int
    snapshot_interval: int
    snapshot_keep: int
    request_timeout: float


def parse_peers(text: str) -> dict[int, str]:
    peers: dict[int, str] = {}
    for item in text.split(","):
        node_id, _, address = item.partition("=")
        if not address:
            raise argparse.ArgumentTypeError(f"peer {item!r}: expected ID=HOST:PORT")
        peers[int(node_id)] = address
    return peers


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m tests.raftkv.member", description=__doc__)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--listen", required=True, help="Raft (gRPC) address, host:port")
    p.add_argument("--peers", type=parse_peers, required=True, help="1=host:port,2=host:port,...")
    p.add_argument("--client-listen", required=True, help="client protocol address, host:port")
    p.add_argument("--tick", type=float, default=0.1, help="seconds per Raft tick")
    p.add_argument("--election-tick", type=int, default=10)
    p.add_argument("--snapshot-interval", type=int, default=10_000)
    p.add_argument("--snapshot-keep", type=int, default=500, help="log entries kept behind")
    p.add_argument("--request-timeout", type=float, default=5.0)
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    logging.basicConfig(
        level=a.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s member-{a.id} %(name)s %(levelname)s %(message)s",
    )
    return Options(
        node_id=a.id,
        data_dir=a.data_dir,
        listen=a.listen,
        peers=a.peers,
        client_listen=a.client_listen,
        tick=a.tick,
        election_tick=a.election_tick,
        snapshot_interval=a.snapshot_interval,
        snapshot_keep=a.snapshot_keep,
        request_timeout=a.request_timeout,
    )


class Member:
    """The Raft stack of one member plus its client server; `run` until SIGTERM."""

    def __init__(self, options: Options) -> None:
        self.options = options
        storage, restored = Storage.open(
            options.data_dir, cluster_id=CLUSTER_ID, node_id=options.node_id
        )
        self.storage = storage
        fresh = (
            restored.hard_state == HardState() and not restored.entries and not restored.snapshot
        )
        config = Config(id=options.node_id, election_tick=options.election_tick)
        if fresh:
            bootstrap = ConfState(voters=frozenset(options.peers))
            self.core = RaftNode(config, bootstrap=bootstrap)
        else:
            self.core = RaftNode(
                config,
                hard_state=restored.hard_state,
                snapshot=restored.snapshot,
                entries=restored.entries,
            )
        self.kv = KeyValue()
        self.transport = GrpcTransport(
            node_id=options.node_id, cluster_id=CLUSTER_ID, listen=options.listen
        )
        self.driver = RaftDriver(
            self.core,
            storage,
            self.transport,
            self.kv,
            peers=options.peers,
            snapshot=restored.snapshot,
            options=DriverOptions(
                tick_interval=options.tick,
                snapshot_interval=options.snapshot_interval,
                snapshot_keep=options.snapshot_keep,
            ),
        )
        self.kv.running = True
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        host, port = self.options.client_listen.rsplit(":", 1)
        server = await asyncio.start_server(self._serve, host, int(port))
        await self.transport.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.transport.run())
                driver = tg.create_task(self.driver.run())
                stop = tg.create_task(self._stopping.wait())
                await asyncio.wait({driver, stop}, return_when=asyncio.FIRST_COMPLETED)
                self._stopping.set()
                await self.driver.stop()
                await self.transport.stop()
        finally:
            server.close()
            self.storage.close()

    # -- the client protocol -----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await self._answer(json.loads(line))
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, json.JSONDecodeError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: dict[str, object]) -> dict[str, object]:
        op = request.get("op")
        try:
            async with asyncio.timeout(self.options.request_timeout):
                if op == "put":
                    data = encode_put(str(request["key"]), str(request["value"]))
                    return {"ok": True, "index": await self.driver.propose(data)}
                if op == "get":
                    await self.driver.read_barrier()
                    keys = request["keys"]
                    assert isinstance(keys, list)
                    return {"ok": True, "values": {k: self.kv.data.get(k) for k in keys}}
                if op == "status":
                    return self._status(bool(request.get("digest")))
        except NotLeader as e:
            return {"ok": False, "error": "not_leader", "leader": e.leader}
        except ProposalLost as e:
            return {"ok": False, "error": "lost", "detail": str(e)}
        except TimeoutError:
            return {"ok": False, "error": "timeout", "detail": f"no answer within {op!r} timeout"}
        except RaftError as e:
            return {"ok": False, "error": type(e).__name__, "detail": str(e)}
        return {"ok": False, "error": "bad_request", "detail": f"unknown op {op!r}"}

    def _status(self, digest: bool) -> dict[str, object]:
        # Read-only looks at the core from the loop's thread: safe between the driver's steps.
        status: dict[str, object] = {
            "ok": True,
            "id": self.options.node_id,
            "role": self.driver.role.value,
            "term": self.core.term,
            "leader": self.driver.leader,
            "commit": self.core.commit,
            "applied": self.driver.applied,
            "keys": len(self.kv.data),
            "restores": self.kv.restores,  # snapshots restored: on start or from the leader
        }
        if digest:
            status["digest"] = self.kv.digest()
        return status


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)

    async def run() -> None:
        await Member(options).run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
