"""The client of the test key-value cluster: JSON lines over loopback TCP (see member.py).

`KvClient` keeps one connection per member with one request in flight on each, so a caller
that wants N concurrent requests uses N clients. `put` and `get` retry until their deadline:
on "not leader, leader=N" at once on N, otherwise on the next member after a short backoff.
Only a put answered `ok` is acknowledged; a put that ran out of time may still be applied.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import cast

Answer = dict[str, object]


class Unavailable(Exception):
    """No member answered the request successfully before the deadline."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, payload: Mapping[str, object]) -> Answer:
        self.writer.write(json.dumps(payload).encode() + b"\n")
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("the member closed the connection")
        return cast(Answer, json.loads(line))

    def close(self) -> None:
        self.writer.close()


class KvClient:
    def __init__(
        self, addresses: Mapping[int, str], *, attempt_timeout: float = 6.0, backoff: float = 0.02
    ) -> None:
        self.addresses = dict(addresses)
        self.leader_hint = 0
        self.attempt_timeout = attempt_timeout  # longer than the member's own request timeout
        self.backoff = backoff
        self._conns: dict[int, _Connection] = {}
        self._next = 0

    async def put(self, key: str, value: str, *, within: float = 20.0) -> int:
        """Returns the entry's index once the leader applied it (the write is acknowledged)."""
        answer = await self._call({"op": "put", "key": key, "value": value}, within)
        return cast(int, answer["index"])

    async def get_many(self, keys: Sequence[str], *, within: float = 20.0) -> dict[str, str | None]:
        """Linearizable: the member serves it after a read barrier."""
        answer = await self._call({"op": "get", "keys": list(keys)}, within)
        return cast(dict[str, str | None], answer["values"])

    async def get(self, key: str, *, within: float = 20.0) -> str | None:
        return (await self.get_many([key], within=within))[key]

    async def status(self, node_id: int, *, digest: bool = False, within: float = 2.0) -> Answer:
        """One attempt on one member; raises OSError or TimeoutError if it does not answer."""
        return await self._request(node_id, {"op": "status", "digest": digest}, within)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    # -- internals ---------------------------------------------------------------------------

    async def _call(self, payload: Mapping[str, object], within: float) -> Answer:
        deadline = time.monotonic() + within
        last = "no attempt"
        while True:
            node_id = self.leader_hint or self._rotate()
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"{payload['op']} failed until its deadline; last: {last}")
            try:
                answer = await self._request(node_id, payload, min(left, self.attempt_timeout))
            except (OSError, TimeoutError, ValueError) as e:
                answer = {"ok": False, "error": type(e).__name__, "detail": str(e)}
            if answer.get("ok"):
                self.leader_hint = node_id
                return answer
            last = f"node {node_id}: {answer}"
            leader = answer.get("leader")
            if answer.get("error") == "not_leader" and isinstance(leader, int) and leader:
                self.leader_hint = leader if leader != node_id else 0
                if leader != node_id:
                    continue
            self.leader_hint = 0
            await asyncio.sleep(min(self.backoff, max(0.0, deadline - time.monotonic())))

    def _rotate(self) -> int:
        ids = sorted(self.addresses)
        self._next = (self._next + 1) % len(ids)
        return ids[self._next]

    async def _request(self, node_id: int, payload: Mapping[str, object], within: float) -> Answer:
        conn = self._conns.get(node_id)
        try:
            async with asyncio.timeout(within):
                if conn is None:
                    host, port = self.addresses[node_id].rsplit(":", 1)
                    conn = _Connection(*await asyncio.open_connection(host, int(port)))
                    self._conns[node_id] = conn
                return await conn.request(payload)
        except BaseException:
            # The connection's state is unknown (a request may be half-sent): start over.
            self._conns.pop(node_id, None)
            if conn is not None:
                conn.close()
            raise
