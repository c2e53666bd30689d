"""The in-memory Raft log: the entries after the last compaction point, and where they stand.

    offset                 applied        committed          handed       last
      │ (compacted, in the   │                │                 │            │
      ▼  latest snapshot)    ▼                ▼                 ▼            ▼
    ──┼──────────────────────┼────────────────┼─────────────────┼────────────┼──
        applied by the        committed, not   persisted or       "unstable": not yet
        state machine         yet applied      handed out to      handed out in a Ready
                                               be persisted

Modelled on etcd raft's log.go + log_unstable.go, simplified: the whole log after the
compaction point lives in memory (the WAL is only read back on restart).
"""

from __future__ import annotations

from collections.abc import Sequence

from manager.raft.types import Entry, Snapshot


class RaftLog:
    def __init__(self, snapshot: Snapshot | None = None, entries: Sequence[Entry] = ()) -> None:
        self.snapshot = snapshot if snapshot is not None and not snapshot.empty else None
        meta = self.snapshot.meta if self.snapshot else None
        self._offset = meta.index if meta else 0  # the entry before entries[0]
        self._offset_term = meta.term if meta else 0
        self._entries = [e for e in entries if e.index > self._offset]
        _check_contiguous(self._offset, self._entries)
        self.committed = self._offset
        self.applied = self._offset
        self._applying = self._offset  # last committed index handed out in a Ready
        self._handed = self.last_index()  # what we were given was persisted already
        self.pending_snapshot: Snapshot | None = None  # from the leader, not yet persisted
        self._snapshot_handed = False

    # -- reading -------------------------------------------------------------------------------

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._entries)

    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self._offset_term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`, or None if it is compacted or not there yet."""
        if index == self._offset:
            return self._offset_term
        if index < self._offset or index > self.last_index():
            return None
        return self._entries[index - self._offset - 1].term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as recent as ours."""
        ours = self.last_term()
        return last_term > ours or (last_term == ours and last_index >= self.last_index())

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries lo..hi inclusive; lo must be above the compaction point."""
        return self._entries[lo - self._offset - 1 : hi - self._offset]

    def entries_from(self, lo: int, max_bytes: int) -> list[Entry] | None:
        """Entries from `lo` up to `max_bytes` of data (at least one); None if compacted."""
        if lo <= self._offset:
            return None
        out: list[Entry] = []
        size = 0
        for e in self._entries[lo - self._offset - 1 :]:
            size += len(e.data)
            if out and size > max_bytes:
                break
            out.append(e)
        return out

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first entry whose term differs from ours (or that we lack); 0 if
        every entry matches."""
        for e in entries:
            if e.index > self._offset and not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index <= `index` whose term is <= `term`, and that term.

        A follower answers a rejected APP with it so the leader can skip a whole term of
        mismatching entries at once (the term 0 means "unknown": compacted or missing).
        """
        while index > 0:
            ours = self.term(index)
            if ours is None:
                return index, 0
            if ours <= term:
                return index, ours
            index -= 1
        return 0, 0

    # -- writing -------------------------------------------------------------------------------

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: Sequence[Entry]
    ) -> int | None:
        """Append a leader's entries that follow (index, log_term); None if we lack that entry.

        Returns the index of the last entry the leader sent (which we now have).
        """
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        # Committed entries never change: a conflict there is a faulty leader; keep ours.
        conflict = max(conflict, self.committed + 1) if conflict else 0
        if conflict and conflict <= last_new:
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, entries: Sequence[Entry]) -> int:
        """Append, replacing our entries from entries[0].index on; returns the last index."""
        if not entries:
            return self.last_index()
        first = entries[0].index
        if first <= self._offset or first > self.last_index() + 1:
            raise ValueError(
                f"cannot append entries from index {first} to a log holding "
                f"{self.first_index()}..{self.last_index()}"
            )
        del self._entries[first - self._offset - 1 :]
        self._entries.extend(entries)
        self._handed = min(self._handed, first - 1)
        return self.last_index()

    def commit_to(self, index: int) -> None:
        # Never beyond what we have (a faulty message must not make us commit a hole).
        self.committed = max(self.committed, min(index, self.last_index()))

    def maybe_commit(self, index: int, term: int) -> bool:
        """Leader: commit up to `index` if it is new and of the current `term`."""
        if index > self.committed and self.term(index) == term:
            self.committed = index
            return True
        return False

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a leader's snapshot."""
        meta = snapshot.meta
        self.snapshot = snapshot
        self.pending_snapshot = snapshot
        self._snapshot_handed = False
        self._offset, self._offset_term = meta.index, meta.term
        self._entries = []
        self.committed = meta.index
        self._applying = max(self._applying, meta.index)
        self._handed = meta.index

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        """The state machine took `snapshot`; drop entries below its index minus `keep`."""
        index = snapshot.meta.index
        if self.snapshot is not None and index <= self.snapshot.meta.index:
            return
        if index > self.applied:
            raise ValueError(
                f"snapshot at index {index} is beyond the applied index {self.applied}"
            )
        self.snapshot = snapshot
        new_offset = max(self._offset, index - max(keep, 0))
        if new_offset > self._offset:
            term = self.term(new_offset)
            assert term is not None  # offset < new_offset <= applied <= last
            del self._entries[: new_offset - self._offset]
            self._offset, self._offset_term = new_offset, term

    # -- handing out Ready -----------------------------------------------------------------

    def has_unstable(self) -> bool:
        snapshot = self.pending_snapshot is not None and not self._snapshot_handed
        return snapshot or self.last_index() > self._handed

    def take_unstable(self) -> tuple[Snapshot | None, tuple[Entry, ...]]:
        """What must be persisted next; marks it handed out."""
        snapshot = None if self._snapshot_handed else self.pending_snapshot
        self._snapshot_handed = True
        entries = tuple(self.slice(self._handed + 1, self.last_index()))
        self._handed = self.last_index()
        return snapshot, entries

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self._applying)

    def take_committed(self) -> tuple[Entry, ...]:
        """Committed entries not yet handed out for applying; marks them handed out."""
        lo = max(self.applied, self._applying) + 1
        if lo > self.committed:
            return ()
        self._applying = self.committed
        return tuple(self.slice(lo, self.committed))

    def snapshot_persisted(self, snapshot: Snapshot) -> None:
        if self.pending_snapshot is not None and self.pending_snapshot.meta == snapshot.meta:
            self.pending_snapshot = None
        self.applied_to(snapshot.meta.index)

    def applied_to(self, index: int) -> None:
        self.applied = max(self.applied, min(index, self.committed))
        self._applying = max(self._applying, self.applied)


def _check_contiguous(offset: int, entries: Sequence[Entry]) -> None:
    for expected, e in enumerate(entries, start=offset + 1):
        if e.index != expected:
            raise ValueError(
                f"log entries are not contiguous: expected index {expected}, found {e.index}; "
                "the restored log is damaged"
            )
