"""The test state machine: a dict of string keys to string values.

An entry's data is the JSON array `[key, value]`; applying it sets the key and returns the
entry's index (what the proposer's `put` answers with). Deterministic, so that every member
that applied the same entries has the same `digest`.
"""

from __future__ import annotations

import hashlib
import json
import logging

from manager.raft.types import Entry

log = logging.getLogger("raftkv.kv")


def encode_put(key: str, value: str) -> bytes:
    return json.dumps([key, value], separators=(",", ":")).encode()


class KeyValue:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.restores = 0  # how many snapshots this process restored (status reports it)
        self.running = False  # set once started: a later restore is the leader's snapshot

    def apply(self, entry: Entry) -> object:
        key, value = json.loads(entry.data)
        self.data[str(key)] = str(value)
        return entry.index

    def snapshot(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()

    def restore(self, data: bytes) -> None:
        self.data = {str(k): str(v) for k, v in json.loads(data).items()} if data else {}
        self.restores += 1
        if self.running:
            log.info("installed the leader's snapshot: %d keys", len(self.data))

    def digest(self) -> str:
        """The same for two members exactly when their states are equal."""
        return hashlib.sha256(self.snapshot()).hexdigest()
