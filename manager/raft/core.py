"""The Raft state machine: pure and deterministic, no I/O, no clock, no logging.

Modelled on etcd-io/raft (raft.go, rawnode.go, read_only.go). The driver feeds it ticks,
peers' messages and proposals, and acts on what `ready()` hands back:

    tick() ─┐                        ┌─▶ hard state + entries + snapshot ─▶ persist (fsync)
    step() ─┼─▶ RaftNode ─▶ ready() ─┼─▶ messages ──────────────────────▶ send
    propose()┘      ▲                └─▶ committed entries, read states ─▶ apply
                    └───────────── advance(ready) ◀───────────────────────┘

Roles: FOLLOWER ─timeout─▶ PRE_CANDIDATE ─pre-votes─▶ CANDIDATE ─votes─▶ LEADER; any message
of a higher term turns a node back into a follower. Membership changes take effect when the
driver has applied them (advance()), one at a time.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from manager.raft.errors import ConfChangeInProgress, ProposalDropped
from manager.raft.log import RaftLog
from manager.raft.progress import Progress, ProgressState, ProgressTracker, VoteResult
from manager.raft.types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
)

# The context of a VOTE sent on a leader's request: voters grant it even within a leader lease.
TRANSFER = b"transfer"

_VOTE_RESPONSE = {
    MessageType.VOTE: MessageType.VOTE_RESP,
    MessageType.PRE_VOTE: MessageType.PRE_VOTE_RESP,
}
_NO_HARD_STATE = HardState()
_FROM_LEADER = (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP)


@dataclass(frozen=True, slots=True)
class Config:
    id: int
    election_tick: int = (
        10  # a follower campaigns after a random timeout in [election_tick, 2*election_tick)
    )
    heartbeat_tick: int = 1
    max_inflight: int = 256  # APP messages in flight per follower in REPLICATE state
    max_size_per_msg: int = 1 << 20  # bytes of entry data per APP message (at least one entry)
    pre_vote: bool = True
    check_quorum: bool = True
    seed: int = 0  # seeds random.Random for the election timeout; deterministic

    def validate(self) -> None:
        if self.id <= NONE:
            raise ValueError(f"raft node id must be a positive integer, not {self.id}")
        if self.heartbeat_tick < 1 or self.election_tick <= self.heartbeat_tick:
            raise ValueError(
                f"need 1 <= heartbeat_tick < election_tick, got heartbeat_tick="
                f"{self.heartbeat_tick} election_tick={self.election_tick}"
            )
        if self.max_inflight < 1:
            raise ValueError(f"max_inflight must be at least 1, not {self.max_inflight}")


@dataclass(frozen=True, slots=True)
class PeerStatus:
    match: int
    next: int
    state: ProgressState
    learner: bool = False
    recent_active: bool = False


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    vote: int
    commit: int
    applied: int
    leader: int
    role: Role
    conf_state: ConfState
    progress: dict[int, PeerStatus] = field(default_factory=dict)  # leader only
    lead_transferee: int = NONE


@dataclass(slots=True)
class _ReadRequest:
    index: int  # the commit index when the read was asked for
    frm: int  # who asked: this node or a follower
    acks: set[int]


class RaftNode:
    def __init__(
        self,
        config: Config,
        *,
        hard_state: HardState = _NO_HARD_STATE,
        snapshot: Snapshot | None = None,
        entries: Sequence[Entry] = (),
        bootstrap: ConfState | None = None,
    ) -> None:
        config.validate()
        self.id = config.id
        self._cfg = config
        self._rng = random.Random(config.seed * 1_000_003 + config.id)
        self._log = RaftLog(snapshot, entries)
        self._tracker = ProgressTracker(config.max_inflight)
        self._term, self._vote = hard_state.term, hard_state.vote
        self._role, self._leader = Role.FOLLOWER, NONE
        self._msgs: list[Message] = []
        # Broadcasts asked for since the last ready(): sent once there, so that proposals (and
        # acknowledgements) arriving together go to each follower as one APP, not one each.
        self._bcast_pending = False
        self._read_states: list[ReadState] = []
        self._reads: OrderedDict[bytes, _ReadRequest] = OrderedDict()
        self._pending_reads: list[Message] = []  # asked before the leader committed in its term
        self._election_elapsed = self._heartbeat_elapsed = 0
        self._randomized_timeout = config.election_tick
        self._lead_transferee = NONE
        self._pending_conf_index = 0  # leader: the last conf change proposed
        self._conf_index = 0  # the last conf change entry already in effect
        self._prev_hard = hard_state
        self._prev_soft = SoftState()
        self._restore_configuration(snapshot, hard_state, bootstrap)
        self._become_follower(self._term, NONE)

    def _restore_configuration(
        self, snapshot: Snapshot | None, hard_state: HardState, bootstrap: ConfState | None
    ) -> None:
        if bootstrap is not None:
            if snapshot is not None or self._log.last_index() or hard_state != HardState():
                raise ValueError("bootstrap is for a brand-new node: this one has a state already")
            if not bootstrap.voters:
                raise ValueError("bootstrap needs at least one voter")
            self._bootstrap(bootstrap)
            return
        if hard_state.commit > self._log.last_index():
            raise ValueError(
                f"hard state commit {hard_state.commit} is beyond the last log entry "
                f"{self._log.last_index()}: the log was truncated; rejoin this member"
            )
        self._log.commit_to(hard_state.commit)
        conf = snapshot.meta.conf_state if snapshot is not None else ConfState()
        first = self._log.first_index()
        for e in self._log.slice(first, self._log.committed):
            if e.type is EntryType.CONF_CHANGE:
                conf = _changed(conf, _decode(e))
        self._tracker.set_configuration(conf, self._log.last_index() + 1)
        self._conf_index = self._log.committed

    def _bootstrap(self, conf: ConfState) -> None:
        """A new cluster's first members: conf change entries at term 1, committed, so that a
        member joining later learns the whole configuration from the log."""
        changes = [ConfChange(ConfChangeType.ADD_VOTER, v) for v in sorted(conf.voters)]
        changes += [ConfChange(ConfChangeType.ADD_LEARNER, v) for v in sorted(conf.learners)]
        entries = [
            Entry(1, i, EntryType.CONF_CHANGE, cc.encode()) for i, cc in enumerate(changes, 1)
        ]
        self._log.append(entries)
        self._log.commit_to(len(entries))
        self._term = 1
        self._tracker.set_configuration(conf, len(entries) + 1)
        self._conf_index = len(entries)

    # -- read-only views -----------------------------------------------------------------------

    @property
    def leader(self) -> int:
        return self._leader

    @property
    def term(self) -> int:
        return self._term

    @property
    def role(self) -> Role:
        return self._role

    @property
    def conf_state(self) -> ConfState:
        return self._tracker.conf_state()

    @property
    def commit(self) -> int:
        return self._log.committed

    @property
    def applied(self) -> int:
        return self._log.applied

    def status(self) -> Status:
        progress: dict[int, PeerStatus] = {}
        if self._role is Role.LEADER:
            progress = {
                i: PeerStatus(pr.match, pr.next, pr.state, pr.is_learner, pr.recent_active)
                for i, pr in sorted(self._tracker.progress.items())
            }
        return Status(
            id=self.id,
            term=self._term,
            vote=self._vote,
            commit=self._log.committed,
            applied=self._log.applied,
            leader=self._leader,
            role=self._role,
            conf_state=self.conf_state,
            progress=progress,
            lead_transferee=self._lead_transferee,
        )

    # -- driver API ----------------------------------------------------------------------------

    def tick(self) -> None:
        if self._role is Role.LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def campaign(self) -> None:
        self._hup(transfer=False)

    def propose(self, data: bytes) -> int:
        self._check_can_propose()
        return self._append_and_broadcast(EntryType.NORMAL, data)

    def propose_conf_change(self, cc: ConfChange) -> int:
        self._check_can_propose()
        if self._pending_conf_index > self._log.applied:
            raise ConfChangeInProgress(self._pending_conf_index)
        index = self._append_and_broadcast(EntryType.CONF_CHANGE, cc.encode())
        self._pending_conf_index = index
        return index

    def transfer_leadership(self, to: int) -> None:
        """Hand leadership to voter `to`; ignored for non-voters and for this node itself."""
        if self._role is not Role.LEADER:
            raise ProposalDropped(self._leader, "only the leader can transfer leadership")
        if to == self.id or to not in self._tracker.voters or to == self._lead_transferee:
            return
        self._lead_transferee = to
        self._election_elapsed = 0  # the transfer is aborted after election_tick ticks
        if self._tracker.progress[to].match == self._log.last_index():
            self._send(MessageType.TIMEOUT_NOW, to)
        else:
            self._send_append(to)

    def read_index(self, context: bytes) -> None:
        if self._role is Role.LEADER:
            self._leader_read_index(
                Message(MessageType.READ_INDEX, self.id, self.id, context=context)
            )
        elif self._leader == NONE:
            raise ProposalDropped(NONE, "no leader is known to confirm the read")
        else:
            self._send(MessageType.READ_INDEX, self._leader, term=0, context=context)

    def report_snapshot(self, to: int, success: bool) -> None:
        """Optional: the transport tells how sending a snapshot to `to` ended. On failure the
        leader probes again (without it, it does so after election_tick ticks)."""
        pr = self._tracker.progress.get(to)
        if self._role is Role.LEADER and pr is not None and pr.state is ProgressState.SNAPSHOT:
            if not success:
                pr.pending_snapshot = 0
            pr.become_probe()
            pr.probe_sent = success  # wait for the follower's answer to the snapshot

    # -- Ready ---------------------------------------------------------------------------------

    def _soft_state(self) -> SoftState:
        return SoftState(leader=self._leader, role=self._role)

    def _hard_state(self) -> HardState:
        return HardState(term=self._term, vote=self._vote, commit=self._log.committed)

    def has_ready(self) -> bool:
        return bool(
            self._msgs
            or self._bcast_pending
            or self._read_states
            or self._log.has_unstable()
            or self._log.has_next_committed()
            or self._soft_state() != self._prev_soft
            or self._hard_state() != self._prev_hard
        )

    def ready(self) -> Ready:
        if self._bcast_pending:
            self._flush_broadcast()
        soft, hard = self._soft_state(), self._hard_state()
        snapshot, entries = self._log.take_unstable()
        rd = Ready(
            soft_state=soft if soft != self._prev_soft else None,
            hard_state=hard if hard != self._prev_hard else None,
            entries=entries,
            snapshot=snapshot,
            committed_entries=self._log.take_committed(),
            messages=tuple(self._msgs),
            read_states=tuple(self._read_states),
        )
        self._prev_soft, self._prev_hard = soft, hard
        self._msgs, self._read_states = [], []
        return rd

    def advance(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self._log.snapshot_persisted(rd.snapshot)
        if rd.committed_entries:
            self._log.applied_to(rd.committed_entries[-1].index)
        for e in rd.committed_entries:
            if e.type is EntryType.CONF_CHANGE and e.index > self._conf_index:
                self._conf_index = e.index
                self._apply_conf_change(_decode(e))

    def compact(self, snapshot: Snapshot, keep: int = 500) -> None:
        self._log.compact(snapshot, keep)

    # -- membership ----------------------------------------------------------------------------

    def _apply_conf_change(self, cc: ConfChange | None) -> None:
        if cc is None:
            return
        conf = _changed(self._tracker.conf_state(), cc)
        # A new member is probed with the last entry, so that it hears from us right away.
        self._tracker.set_configuration(conf, max(self._log.last_index(), 1))
        if self._role is not Role.LEADER:
            return
        if self.id not in conf.voters:
            # Removed (or demoted). The others learned the commit index when it advanced.
            self._become_follower(self._term, NONE)
            return
        if self._lead_transferee not in conf.voters:
            self._lead_transferee = NONE
        if self._maybe_commit():
            self._bcast_append()
        else:
            for peer in self._tracker.peers(self.id):
                self._send_append(peer, send_if_empty=False)

    def _promotable(self) -> bool:
        return self.id in self._tracker.voters and self._log.pending_snapshot is None

    def _has_unapplied_conf_changes(self) -> bool:
        lo = max(self._log.applied, self._conf_index) + 1
        entries = self._log.slice(lo, self._log.committed) if lo <= self._log.committed else []
        return any(e.type is EntryType.CONF_CHANGE for e in entries)

    # -- role changes --------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self._term:
            self._term, self._vote = term, NONE
        self._leader = NONE
        self._election_elapsed = self._heartbeat_elapsed = 0
        self._randomized_timeout = self._cfg.election_tick + self._rng.randrange(
            self._cfg.election_tick
        )
        self._lead_transferee = NONE
        self._bcast_pending = False
        self._tracker.reset_votes()
        last = self._log.last_index()
        for node_id, pr in self._tracker.progress.items():
            pr.reset(last + 1, last if node_id == self.id else 0)
        self._pending_conf_index = 0
        self._reads.clear()
        self._pending_reads = []

    def _become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self._role, self._leader = Role.FOLLOWER, leader

    def _become_pre_candidate(self) -> None:
        # Term and vote stay: a pre-vote asks "would you vote for me?" without disturbing anyone.
        self._tracker.reset_votes()
        self._role, self._leader = Role.PRE_CANDIDATE, NONE

    def _become_candidate(self) -> None:
        self._reset(self._term + 1)
        self._role, self._vote = Role.CANDIDATE, self.id

    def _become_leader(self) -> None:
        self._reset(self._term)
        self._role, self._leader = Role.LEADER, self.id
        own = self._tracker.progress.get(self.id)
        if own is not None:
            own.become_replicate()
        # Entries of earlier terms may still be uncommitted, conf changes among them.
        self._pending_conf_index = self._log.last_index()
        # An empty entry of our term commits everything before it (commit counts only
        # entries of the current term).
        self._append_entries(EntryType.NORMAL, b"")

    # -- elections -----------------------------------------------------------------------------

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._promotable() and self._election_elapsed >= self._randomized_timeout:
            self._election_elapsed = 0
            self._hup(transfer=False)

    def _tick_heartbeat(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        for pr in self._tracker.progress.values():
            if pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_ticks += 1
        if self._election_elapsed >= self._cfg.election_tick:
            self._election_elapsed = 0
            if self._cfg.check_quorum and not self._tracker.quorum_active(self.id):
                self._become_follower(self._term, NONE)
                return
            self._lead_transferee = NONE  # a transfer that did not finish in time is aborted
        if self._heartbeat_elapsed >= self._cfg.heartbeat_tick:
            self._heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _hup(self, *, transfer: bool) -> None:
        if self._role is Role.LEADER or not self._promotable():
            return
        if self._has_unapplied_conf_changes():
            return  # the configuration we would campaign in may be out of date
        if self._cfg.pre_vote and not transfer:
            self._campaign(pre_vote=True, transfer=False)
        else:
            self._campaign(pre_vote=False, transfer=transfer)

    def _campaign(self, *, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self._become_pre_candidate()
            kind, term = MessageType.PRE_VOTE, self._term + 1
        else:
            self._become_candidate()
            kind, term = MessageType.VOTE, self._term
        self._tracker.record_vote(self.id, True)
        if self._tracker.tally() is VoteResult.WON:
            self._won_election()
            return
        context = TRANSFER if transfer else b""
        for voter in sorted(self._tracker.voters - {self.id}):
            self._send(
                kind,
                voter,
                term=term,
                index=self._log.last_index(),
                log_term=self._log.last_term(),
                context=context,
            )

    def _won_election(self) -> None:
        if self._role is Role.PRE_CANDIDATE:
            self._campaign(pre_vote=False, transfer=False)
        else:
            self._become_leader()
            self._bcast_append()

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (
            self._vote == m.frm
            or (self._vote == NONE and self._leader == NONE)
            or (m.type is MessageType.PRE_VOTE and m.term > self._term)
        )
        kind = _VOTE_RESPONSE[m.type]
        if can_vote and self._log.is_up_to_date(m.index, m.log_term):
            # A granted pre-vote answers with the term asked for, so the candidate counts it.
            self._send(kind, m.frm, term=m.term)
            if m.type is MessageType.VOTE:
                self._election_elapsed = 0
                self._vote = m.frm
        else:
            self._send(kind, m.frm, reject=True)

    def _handle_vote_response(self, m: Message) -> None:
        expected = (
            MessageType.PRE_VOTE_RESP if self._role is Role.PRE_CANDIDATE else MessageType.VOTE_RESP
        )
        if m.type is not expected:
            return
        self._tracker.record_vote(m.frm, not m.reject)
        result = self._tracker.tally()
        if result is VoteResult.WON:
            self._won_election()
        elif result is VoteResult.LOST:
            self._become_follower(self._term, NONE)

    # -- step ----------------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        """A message from a peer. Stale, unknown and malformed messages are ignored."""
        if m.to != self.id or m.frm == NONE or m.frm == self.id:
            return
        if m.term == 0:
            if m.type is MessageType.READ_INDEX:
                self._step_read_index(m)
            return
        if m.term > self._term and not self._on_higher_term(m):
            return
        if m.term < self._term:
            self._on_lower_term(m)
            return
        if m.type in _VOTE_RESPONSE:
            self._handle_vote_request(m)
        elif self._role is Role.LEADER:
            self._step_leader(m)
        elif self._role is Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _on_higher_term(self, m: Message) -> bool:
        """Returns whether to go on processing `m`."""
        if m.type in _VOTE_RESPONSE:
            in_lease = (
                self._cfg.check_quorum
                and self._leader != NONE
                and self._election_elapsed < self._cfg.election_tick
            )
            if in_lease and m.context != TRANSFER:
                return False  # we heard from a leader lately: do not let anyone depose it
        if m.type is MessageType.PRE_VOTE or (m.type is MessageType.PRE_VOTE_RESP and not m.reject):
            return True  # pre-votes carry the next term without anyone moving to it
        self._become_follower(m.term, m.frm if m.type in _FROM_LEADER else NONE)
        return True

    def _on_lower_term(self, m: Message) -> None:
        if m.type in (MessageType.APP, MessageType.HEARTBEAT) and (
            self._cfg.check_quorum or self._cfg.pre_vote
        ):
            # A stale leader (e.g. back from a partition) learns our term and steps down;
            # otherwise, with pre-vote, nobody would ever tell it.
            self._send(MessageType.APP_RESP, m.frm)
        elif m.type is MessageType.PRE_VOTE:
            self._send(MessageType.PRE_VOTE_RESP, m.frm, reject=True)

    def _step_follower(self, m: Message) -> None:
        if m.type in _FROM_LEADER:
            self._election_elapsed = 0
            self._leader = m.frm
            self._handle_from_leader(m)
        elif m.type is MessageType.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif m.type is MessageType.READ_INDEX_RESP:
            self._read_states.append(ReadState(m.index, m.context))

    def _step_candidate(self, m: Message) -> None:
        if m.type in _FROM_LEADER:
            self._become_follower(m.term, m.frm)
            self._handle_from_leader(m)
        elif m.type in (MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP):
            self._handle_vote_response(m)

    def _step_leader(self, m: Message) -> None:
        pr = self._tracker.progress.get(m.frm)
        if pr is None:
            return  # not (or no longer) a member
        if m.type is MessageType.APP_RESP:
            pr.recent_active = True
            if m.reject:
                self._on_append_rejected(m, pr)
            else:
                self._on_append_accepted(m, pr)
        elif m.type is MessageType.HEARTBEAT_RESP:
            self._on_heartbeat_resp(m, pr)

    # -- replication: follower side ------------------------------------------------------------

    def _handle_from_leader(self, m: Message) -> None:
        if m.type is MessageType.APP:
            self._handle_append(m)
        elif m.type is MessageType.HEARTBEAT:
            self._log.commit_to(m.commit)
            self._send(MessageType.HEARTBEAT_RESP, m.frm, context=m.context)
        else:
            self._handle_snapshot(m)

    def _handle_append(self, m: Message) -> None:
        if any(e.index != m.index + i for i, e in enumerate(m.entries, 1)):
            return  # malformed
        if m.index < self._log.committed:
            self._send(MessageType.APP_RESP, m.frm, index=self._log.committed)
            return
        last = self._log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last is not None:
            self._send(MessageType.APP_RESP, m.frm, index=last)
            return
        hint = min(m.index, self._log.last_index())
        hint, hint_term = self._log.find_conflict_by_term(hint, m.log_term)
        self._send(
            MessageType.APP_RESP,
            m.frm,
            index=m.index,
            reject=True,
            reject_hint=hint,
            log_term=hint_term,
        )

    def _handle_snapshot(self, m: Message) -> None:
        if m.snapshot is None or m.snapshot.empty:
            return
        restored = self._restore(m.snapshot)
        index = self._log.last_index() if restored else self._log.committed
        self._send(MessageType.APP_RESP, m.frm, index=index)

    def _restore(self, snapshot: Snapshot) -> bool:
        meta = snapshot.meta
        if meta.index <= self._log.committed:
            return False
        # A snapshot may predate our membership (a member that joined after it was taken and
        # needs compacted entries): installing it is still safe, it is committed state, and the
        # entries after it add us. Unlike etcd we do not require to be in its configuration.
        if self._log.match_term(meta.index, meta.term):
            self._log.commit_to(meta.index)  # we have the entries: just catch up the commit
            return False
        self._log.restore(snapshot)
        self._tracker.set_configuration(meta.conf_state, self._log.last_index() + 1)
        self._conf_index = meta.index
        return True

    # -- replication: leader side --------------------------------------------------------------

    def _check_can_propose(self) -> None:
        if self._role is not Role.LEADER:
            raise ProposalDropped(self._leader)
        if self.id not in self._tracker.voters:
            raise ProposalDropped(NONE, "this leader was removed from the configuration")
        if self._lead_transferee != NONE:
            raise ProposalDropped(
                self._lead_transferee,
                f"leadership is being transferred to node {self._lead_transferee}",
            )

    def _append_entries(self, kind: EntryType, data: bytes) -> int:
        index = self._log.last_index() + 1
        self._log.append([Entry(self._term, index, kind, data)])
        own = self._tracker.progress.get(self.id)
        if own is not None:
            own.maybe_update(index)
        self._maybe_commit()
        return index

    def _append_and_broadcast(self, kind: EntryType, data: bytes) -> int:
        index = self._append_entries(kind, data)
        self._bcast_pending = True
        return index

    def _maybe_commit(self) -> bool:
        committed_in_term = self._committed_in_term()
        if not self._log.maybe_commit(self._tracker.committed(), self._term):
            return False
        if not committed_in_term:
            self._release_pending_reads()
        return True

    def _committed_in_term(self) -> bool:
        return self._log.term(self._log.committed) == self._term

    def _bcast_append(self) -> None:
        for peer in self._tracker.peers(self.id):
            self._send_append(peer)

    def _flush_broadcast(self) -> None:
        """The deferred broadcast: new entries to every follower, and the commit index to those
        that no APP in this batch has told yet."""
        self._bcast_pending = False
        committed = self._log.committed
        told = {m.to for m in self._msgs if m.type is MessageType.APP and m.commit >= committed}
        for peer in self._tracker.peers(self.id):
            self._send_append(peer, send_if_empty=peer not in told)

    def _bcast_heartbeat(self) -> None:
        context = next(reversed(self._reads)) if self._reads else b""
        for peer in self._tracker.peers(self.id):
            pr = self._tracker.progress[peer]
            commit = min(pr.match, self._log.committed)
            self._send(MessageType.HEARTBEAT, peer, commit=commit, context=context)

    def _send_append(self, to: int, *, send_if_empty: bool = True) -> bool:
        pr = self._tracker.progress[to]
        if pr.is_paused():
            return False
        prev = pr.next - 1
        prev_term = self._log.term(prev)
        entries = self._log.entries_from(pr.next, self._cfg.max_size_per_msg)
        if prev_term is None or entries is None:
            return self._send_snapshot(to, pr)
        if not entries and not send_if_empty:
            return False
        self._send(
            MessageType.APP,
            to,
            index=prev,
            log_term=prev_term,
            entries=tuple(entries),
            commit=self._log.committed,
        )
        if entries:
            pr.sent_entries(entries[-1].index)
        if pr.state is ProgressState.PROBE:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        snapshot = self._log.snapshot
        if not pr.recent_active or snapshot is None:
            return False
        self._send(MessageType.SNAP, to, snapshot=snapshot)
        pr.become_snapshot(snapshot.meta.index)
        return True

    def _on_append_rejected(self, m: Message, pr: Progress) -> None:
        hint = m.reject_hint
        if m.log_term > 0:
            hint, _ = self._log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, hint):
            if pr.state is ProgressState.REPLICATE:
                pr.become_probe()
            self._send_append(m.frm)

    def _on_append_accepted(self, m: Message, pr: Progress) -> None:
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT and pr.match + 1 >= self._log.first_index():
            pr.become_probe()
            pr.become_replicate()
        elif pr.state is ProgressState.REPLICATE:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            self._bcast_pending = True
        elif was_paused:
            self._send_append(m.frm)
        while self._send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self._lead_transferee and pr.match == self._log.last_index():
            self._send(MessageType.TIMEOUT_NOW, m.frm)

    def _on_heartbeat_resp(self, m: Message, pr: Progress) -> None:
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state is ProgressState.REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()
        if pr.state is ProgressState.SNAPSHOT and pr.snapshot_ticks >= self._cfg.election_tick:
            pr.become_probe()  # the snapshot was probably lost: find out what it needs now
        if pr.match < self._log.last_index() or pr.state is ProgressState.PROBE:
            self._send_append(m.frm)
        if m.context:
            self._on_read_ack(m.context, m.frm)

    # -- ReadIndex -----------------------------------------------------------------------------

    def _step_read_index(self, m: Message) -> None:
        if self._role is Role.LEADER:
            self._leader_read_index(m)
        elif self._role is Role.FOLLOWER and self._leader not in (NONE, m.frm):
            self._send(MessageType.READ_INDEX, self._leader, term=0, context=m.context)

    def _leader_read_index(self, m: Message) -> None:
        if self._tracker.voters == {self.id}:
            self._respond_read(m.frm, self._log.committed, m.context)
            return
        if not self._committed_in_term():
            # Our commit index may be behind the last leader's until we commit in our term.
            self._pending_reads.append(m)
            return
        if m.context in self._reads:
            return
        self._reads[m.context] = _ReadRequest(self._log.committed, m.frm, {self.id})
        self._bcast_heartbeat()

    def _on_read_ack(self, context: bytes, frm: int) -> None:
        request = self._reads.get(context)
        if request is None:
            return
        request.acks.add(frm)
        if not self._tracker.has_quorum(request.acks):
            return
        # A quorum acknowledged this round: every read asked before it is confirmed too.
        while self._reads:
            ctx, req = self._reads.popitem(last=False)
            self._respond_read(req.frm, req.index, ctx)
            if ctx == context:
                break

    def _respond_read(self, frm: int, index: int, context: bytes) -> None:
        if frm in (NONE, self.id):
            self._read_states.append(ReadState(index, context))
        else:
            self._send(MessageType.READ_INDEX_RESP, frm, index=index, context=context)

    def _release_pending_reads(self) -> None:
        pending, self._pending_reads = self._pending_reads, []
        for m in pending:
            self._leader_read_index(m)

    # -- sending -------------------------------------------------------------------------------

    def _send(
        self,
        kind: MessageType,
        to: int,
        *,
        term: int | None = None,
        log_term: int = 0,
        index: int = 0,
        entries: tuple[Entry, ...] = (),
        commit: int = 0,
        reject: bool = False,
        reject_hint: int = 0,
        snapshot: Snapshot | None = None,
        context: bytes = b"",
    ) -> None:
        self._msgs.append(
            Message(
                type=kind,
                to=to,
                frm=self.id,
                term=self._term if term is None else term,
                log_term=log_term,
                index=index,
                entries=entries,
                commit=commit,
                reject=reject,
                reject_hint=reject_hint,
                snapshot=snapshot,
                context=context,
            )
        )


def _decode(e: Entry) -> ConfChange | None:
    try:
        return ConfChange.decode(e.data)
    except ValueError:
        return None  # not a conf change we understand: every member skips it alike


def _changed(conf: ConfState, cc: ConfChange | None) -> ConfState:
    """`conf` after `cc`; a change that would leave no voter is ignored (by every member)."""
    if cc is None:
        return conf
    voters, learners = set(conf.voters), set(conf.learners)
    if cc.type is ConfChangeType.ADD_VOTER:
        voters.add(cc.node_id)
        learners.discard(cc.node_id)
    elif cc.type is ConfChangeType.ADD_LEARNER:
        voters.discard(cc.node_id)
        learners.add(cc.node_id)
    else:
        voters.discard(cc.node_id)
        learners.discard(cc.node_id)
    if not voters:
        return conf
    return ConfState(voters=frozenset(voters), learners=frozenset(learners))
