"""The safety properties the simulation checks as it goes (Raft paper, figure 3).

- Election safety: at most one leader per term.
- Log matching: two logs with an entry of the same index and term hold the same entry there
  and agree on everything before it. Checked incrementally: every entry any node appends is
  recorded by (index, term) with its data and the term of the entry before it; a second node
  appending that (index, term) must agree on both, which by induction gives the whole prefix.
- Leader completeness: a leader of term T holds every entry committed in a term before T.
  The term an entry was committed in is bounded above by the term of the first node to apply
  it, at that moment (a delayed vote can still make a leader of an older term later: its
  log need not hold what newer terms committed, and it cannot commit anything itself).
- State machine safety: whatever any node applies at an index, every node applies there; each
  node applies in order without gaps; a value is applied at one index only; snapshots of the
  same index hold the same state.
- Persistent state: a node's term never goes back, nor its commit, and it never changes its
  vote within a term.

`raft._log` is read (white box) to see a leader's whole in-memory log, part of which may not
be persisted yet when it wins.
"""

from __future__ import annotations

from manager.raft.core import RaftNode
from manager.raft.types import Entry, EntryType, HardState, Ready, Role, Snapshot
from tests.unit.raft.sim_node import SafetyViolation, decode_write


class Invariants:
    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}  # term -> the node that led it
        self._entries: dict[tuple[int, int], tuple[EntryType, bytes, int | None]] = {}
        self.applied: dict[int, Entry] = {}  # index -> the entry applied there (by anyone)
        self.first_applied_at: dict[int, int] = {}  # index -> history time it was first applied
        self.committed_by: dict[int, int] = {}  # index -> term it was committed in, at most
        self.max_applied = 0
        self.value_index: dict[str, int] = {}  # written value -> the index it was applied at
        self._snapshots: dict[int, bytes] = {}  # index -> state machine bytes
        self._hard: dict[int, HardState] = {}  # node -> last hard state persisted

    # -- election safety, leader completeness ---------------------------------------------

    def observe(self, raft: RaftNode) -> None:
        """After every call into a node: is it a (new) leader, and may it be one?"""
        if raft.role is not Role.LEADER:
            return
        term = raft.term
        leader = self.leaders.get(term)
        if leader is None:
            self.leaders[term] = raft.id
            self._check_leader_log(raft)
        elif leader != raft.id:
            raise SafetyViolation(f"two leaders in term {term}: nodes {leader} and {raft.id}")

    def _check_leader_log(self, raft: RaftNode) -> None:
        log = raft._log
        for index in range(max(log.first_index(), 1), self.max_applied + 1):
            if self.committed_by[index] >= raft.term:
                continue  # committed in this term or later: not this leader's to hold
            term = log.term(index)
            want = self.applied[index].term
            if term != want:
                raise SafetyViolation(
                    f"leader completeness: node {raft.id} leads term {raft.term} but its entry "
                    f"at index {index} has term {term}, while the committed entry there has "
                    f"term {want} (its log: {log.first_index()}..{log.last_index()})"
                )

    # -- what a node hands out to persist --------------------------------------------------

    def on_ready(self, raft: RaftNode, rd: Ready) -> None:
        if rd.hard_state is not None:
            self._check_hard_state(raft.id, rd.hard_state)
        log = raft._log
        prev_term: int | None = None
        for i, e in enumerate(rd.entries):
            if i == 0:
                prev_term = log.term(e.index - 1)
                if prev_term is None and rd.snapshot is not None:
                    meta = rd.snapshot.meta
                    prev_term = meta.term if meta.index == e.index - 1 else None
            key = (e.index, e.term)
            mine = (e.type, e.data, prev_term)
            seen = self._entries.setdefault(key, mine)
            if seen[:2] != mine[:2]:
                raise SafetyViolation(
                    f"log matching: node {raft.id} has at index {e.index} term {e.term} "
                    f"{mine[:2]!r}, another node has {seen[:2]!r}"
                )
            if None not in (seen[2], prev_term) and seen[2] != prev_term:
                raise SafetyViolation(
                    f"log matching: node {raft.id} has entry {e.index}/{e.term} after an entry "
                    f"of term {prev_term}, another node after one of term {seen[2]}"
                )
            prev_term = e.term

    def check_whole_log(self, raft: RaftNode) -> None:
        """Every entry in a node's in-memory log is the one recorded for its (index, term)."""
        log = raft._log
        for index in range(log.first_index(), log.last_index() + 1):
            e = log.slice(index, index)[0]
            seen = self._entries.get((e.index, e.term))
            if seen is None or seen[:2] != (e.type, e.data):
                raise SafetyViolation(
                    f"log matching: node {raft.id}'s entry {index}/{e.term} {e.data!r} was "
                    f"never handed out to persist, or differs from what was: {seen!r}"
                )
            applied = self.applied.get(index)
            if index <= raft.commit and applied is not None and applied != e:
                raise SafetyViolation(
                    f"node {raft.id} holds {e} as committed but {applied} was applied there"
                )

    def _check_hard_state(self, node_id: int, hs: HardState) -> None:
        old = self._hard.get(node_id, HardState())
        if hs.term < old.term:
            raise SafetyViolation(f"node {node_id}: term went back from {old.term} to {hs.term}")
        if hs.term == old.term and old.vote and hs.vote != old.vote:
            raise SafetyViolation(
                f"node {node_id} voted for {old.vote} then for {hs.vote} in term {hs.term}"
            )
        if hs.commit < old.commit:
            raise SafetyViolation(
                f"node {node_id}: persisted commit went back from {old.commit} to {hs.commit}"
            )
        self._hard[node_id] = hs

    # -- state machine safety ----------------------------------------------------------------

    def on_apply(self, node_id: int, term: int, expected: int, e: Entry, now: int) -> None:
        """Node `node_id`, at `term`, applies `e`, expecting index `expected`."""
        if e.index != expected:
            raise SafetyViolation(
                f"node {node_id} applied index {e.index} after {expected - 1}: out of order"
            )
        seen = self.applied.setdefault(e.index, e)
        self.committed_by[e.index] = min(self.committed_by.get(e.index, term), term)
        if seen is e:
            self.first_applied_at[e.index] = now
            self.max_applied = max(self.max_applied, e.index)
            if e.type is EntryType.NORMAL and e.data:
                _, value = decode_write(e.data)
                other = self.value_index.setdefault(value, e.index)
                if other != e.index:
                    raise SafetyViolation(
                        f"value {value} was applied twice: at index {other} and {e.index}"
                    )
        elif seen != e:
            raise SafetyViolation(
                f"state machine safety: node {node_id} applied {e} at index {e.index}, another "
                f"node applied {seen}"
            )

    def on_snapshot(self, node_id: int, snapshot: Snapshot, installed: bool, applied: int) -> None:
        """A snapshot taken locally, or installed from the leader (`installed`)."""
        meta = snapshot.meta
        if installed and meta.index <= applied:
            raise SafetyViolation(
                f"node {node_id} was handed a snapshot at {meta.index} but had applied {applied}"
            )
        known = self._snapshots.setdefault(meta.index, snapshot.data)
        if known != snapshot.data:
            raise SafetyViolation(
                f"two snapshots at index {meta.index} hold different states "
                f"(node {node_id}'s: {snapshot.data[:200]!r}, other: {known[:200]!r})"
            )
        want = self.applied.get(meta.index)
        if want is not None and want.term != meta.term:
            raise SafetyViolation(
                f"node {node_id}'s snapshot at {meta.index} says term {meta.term}, the entry "
                f"applied there has term {want.term}"
            )
