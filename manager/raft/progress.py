"""What the leader knows about each member's log, and the votes of an election.

A leader tracks one `Progress` per member (itself included), modelled on etcd raft's
`tracker/`:

    PROBE ──accepts an APP──▶ REPLICATE ──rejected APP──▶ PROBE
      │ ▲                                                   │
      │ └──────── snapshot acknowledged ◀── SNAPSHOT ◀──────┘ needed entries compacted
      └──────────────────────────────────────────▶ SNAPSHOT

PROBE sends one APP and waits for its answer (or a heartbeat answer) before the next: it is
looking for the point where the logs match. REPLICATE streams APPs optimistically, at most
`max_inflight` unanswered. SNAPSHOT sends nothing until the member acknowledges the snapshot.
"""

from __future__ import annotations

import enum
from collections import deque

from manager.raft.types import ConfState


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """The last index of each APP sent and not yet acknowledged, oldest first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._indexes: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._indexes)

    def full(self) -> bool:
        return len(self._indexes) >= self._size

    def add(self, index: int) -> None:
        self._indexes.append(index)

    def free_le(self, index: int) -> None:
        """An APP_RESP acknowledged everything up to `index`."""
        while self._indexes and self._indexes[0] <= index:
            self._indexes.popleft()

    def free_first_one(self) -> None:
        if self._indexes:
            self._indexes.popleft()

    def reset(self) -> None:
        self._indexes.clear()


class Progress:
    """The leader's view of one member's log."""

    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "recent_active",
        "snapshot_ticks",
        "state",
    )

    def __init__(self, next_index: int, max_inflight: int, *, is_learner: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0  # index of the snapshot sent, in SNAPSHOT state
        self.snapshot_ticks = 0  # leader ticks since the snapshot was sent
        self.probe_sent = False  # PROBE: an APP is out, wait for its answer
        self.recent_active = False  # heard from since the last check-quorum round
        self.is_learner = is_learner
        self.inflights = Inflights(max_inflight)

    def reset(self, next_index: int, match: int) -> None:
        """A new term: forget everything but the learner flag."""
        self._reset_state(ProgressState.PROBE)
        self.match = match
        self.next = next_index
        self.recent_active = False

    def _reset_state(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights.reset()

    def become_probe(self) -> None:
        # After a snapshot the member has at least the snapshot: probe right after it.
        floor = self.pending_snapshot if self.state is ProgressState.SNAPSHOT else 0
        self._reset_state(ProgressState.PROBE)
        self.next = max(self.match, floor) + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = index

    def maybe_update(self, index: int) -> bool:
        """The member has everything up to `index`; False if that is old news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def sent_entries(self, last_index: int) -> None:
        """An APP carrying entries up to `last_index` was sent."""
        if self.state is ProgressState.REPLICATE:
            self.next = last_index + 1
            self.inflights.add(last_index)

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The member rejected an APP at `rejected`; False if the rejection is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full()
        return True


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def quorum(voters: int) -> int:
    return voters // 2 + 1


class ProgressTracker:
    """The configuration (voters and learners), one Progress per member, and election votes."""

    def __init__(self, max_inflight: int) -> None:
        self._max_inflight = max_inflight
        self.voters: frozenset[int] = frozenset()
        self.learners: frozenset[int] = frozenset()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def conf_state(self) -> ConfState:
        return ConfState(voters=self.voters, learners=self.learners)

    def set_configuration(self, conf: ConfState, next_index: int) -> None:
        """Switch to `conf`, keeping the Progress of members that stay."""
        self.voters, self.learners = conf.voters, conf.learners - conf.voters
        members = self.voters | self.learners
        for node_id in list(self.progress):
            if node_id not in members:
                del self.progress[node_id]
        for node_id in members:
            pr = self.progress.get(node_id)
            if pr is None:
                pr = Progress(next_index, self._max_inflight)
                pr.recent_active = True  # give a new member a chance before check-quorum
                self.progress[node_id] = pr
            pr.is_learner = node_id in self.learners

    def peers(self, self_id: int) -> list[int]:
        """Every member but `self_id`, in a stable order."""
        return sorted(i for i in self.progress if i != self_id)

    def committed(self) -> int:
        """The highest index a quorum of voters has; 0 without voters."""
        if not self.voters:
            return 0
        matches = sorted((self.progress[v].match for v in self.voters), reverse=True)
        return matches[quorum(len(matches)) - 1]

    def has_quorum(self, ids: set[int] | frozenset[int]) -> bool:
        return bool(self.voters) and len(self.voters & ids) >= quorum(len(self.voters))

    def quorum_active(self, self_id: int) -> bool:
        """Whether a quorum of voters was heard from lately; starts the next round."""
        active = {i for i, pr in self.progress.items() if pr.recent_active or i == self_id}
        for node_id, pr in self.progress.items():
            pr.recent_active = node_id == self_id
        return self.has_quorum(active)

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        self.votes.setdefault(node_id, granted)

    def tally(self) -> VoteResult:
        granted = {i for i, v in self.votes.items() if v}
        if self.has_quorum(granted):
            return VoteResult.WON
        rejected = {i for i, v in self.votes.items() if not v}
        if len(self.voters - rejected) < quorum(len(self.voters)):
            return VoteResult.LOST
        return VoteResult.PENDING
