"""A deterministic simulation of a Raft cluster under faults (one seed = one run).

Everything comes from `random.Random(seed)`: no real time, no threads, no asyncio. A heap of
timed events drives 3 or 5 RaftNodes (and members added later) the way the driver would:

    tick ─┐                                 ┌─ persist (Durable) ── crash here loses the Ready
    deliver(message) ─┼─▶ RaftNode ─▶ ready ┼─ send ─▶ network: drop / delay / duplicate /
    client op ────────┘   (after an fsync   │          reorder / partitions (also one-way)
                           delay; whatever  └─ apply ─▶ KvStore; acks and reads to clients
                           arrives meanwhile
                           joins that Ready)

Faults: crashes (losing what was not persisted) and restarts, partitions, leader isolation,
membership changes (add a learner, promote it, remove a member), leadership transfers, forced
campaigns, local snapshots with log compaction. Clients append unique values to a few keys and
read them with ReadIndex. After the fault phase everything heals, every member restarts and
the cluster must settle: one leader, every member at the same applied index and state, every
acknowledged write present. The client history is then checked for linearizability.
"""

from __future__ import annotations

import heapq
import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from manager.raft.core import Config, RaftNode
from manager.raft.errors import ConfChangeInProgress, ProposalDropped
from manager.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    EntryType,
    Message,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
)
from tests.unit.raft.linearizability import KV_MODEL, KvInput, KvOutput, Operation, check
from tests.unit.raft.sim_checks import Invariants
from tests.unit.raft.sim_node import SafetyViolation, SimNode, encode_write

TICK = 10  # simulated time units per node tick; a message takes 1..4 units, fsync 0..3
CLIENT_TIMEOUT = 25 * TICK  # a client gives up on an operation after this long


@dataclass(frozen=True)
class Knobs:
    """What a seed decides about its run."""

    size: int
    pre_vote: bool
    check_quorum: bool
    max_inflight: int
    max_size_per_msg: int
    p_drop: float
    p_dup: float
    p_slow: float  # a message delayed by up to 8 ticks: reordering
    snapshot_every: int  # applied entries between local snapshots
    snapshot_keep: int
    fault_ticks: int  # mean ticks between faults
    p_crash_on_write: float  # the leader crashes a moment after taking a write
    run_ticks: int
    clients: int = 3
    keys: tuple[str, ...] = ("a", "b", "c")

    @classmethod
    def draw(cls, rng: random.Random) -> Knobs:
        return cls(
            size=rng.choice((3, 5)),
            pre_vote=rng.random() < 0.8,
            check_quorum=rng.random() < 0.8,
            max_inflight=rng.choice((1, 2, 4, 256)),
            max_size_per_msg=rng.choice((1, 40, 1 << 20)),
            p_drop=rng.choice((0.0, 0.02, 0.1)),
            p_dup=rng.choice((0.0, 0.02)),
            p_slow=rng.choice((0.0, 0.02, 0.1)),
            snapshot_every=rng.choice((5, 20, 1000)),
            snapshot_keep=rng.choice((0, 3, 500)),
            fault_ticks=rng.choice((3, 8, 20)),
            p_crash_on_write=rng.choice((0.0, 0.02, 0.1)),
            run_ticks=rng.randrange(300, 600),
            clients=rng.randrange(3, 9),
        )


@dataclass
class _Write:
    op_id: int
    node: int
    incarnation: int
    index: int
    term: int
    data: bytes


@dataclass
class _Read:
    op_id: int
    key: str
    node: int
    incarnation: int
    index: int | None = None  # from the ReadState


@dataclass
class _Client:
    id: int
    leader_guess: int = 1
    busy: int | None = None  # op id of the operation it waits for
    since: int = 0  # sim time it was invoked


@dataclass
class _Op:
    client: int
    input: KvInput
    call: int
    output: KvOutput | None = None
    ret: int | None = None
    done: bool = False  # returned, or abandoned (reads) / known not applied (writes)


@dataclass
class Outcome:
    seed: int
    knobs: Knobs
    events: int
    ops: int
    acked_writes: int
    reads: int
    terms: int
    max_index: int
    crashes: int


class Simulation:
    def __init__(self, seed: int, *, trace: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.knobs = Knobs.draw(self.rng)
        self.trace_all = trace
        self.trace: deque[str] = deque(maxlen=80)
        self.now = 0
        self._seq = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self.nodes: dict[int, SimNode] = {}
        self.blocked: set[tuple[int, int]] = set()  # (from, to) links that lose everything
        self.checks = Invariants()
        self.clients = [_Client(i + 1) for i in range(self.knobs.clients)]
        self.ops: list[_Op] = []
        self.writes: dict[int, dict[int, _Write]] = {}  # node -> index -> pending proposal
        self.reads: dict[int, dict[bytes, _Read]] = {}  # node -> context -> pending read
        self.hist_time = 0
        self.faults_on = True
        self.next_id = self.knobs.size + 1
        self.event_count = 0
        self.crashes = 0

    # -- the event loop ------------------------------------------------------------------------

    def at(self, delay: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (self.now + delay, self._seq, fn))

    def run_until(self, end: int, done: Callable[[], bool] | None = None) -> bool:
        while self._events and self._events[0][0] <= end:
            self.now, _, fn = heapq.heappop(self._events)
            self.event_count += 1
            fn()
            if done is not None and done():
                return True
        self.now = max(self.now, end)
        return done is not None and done()

    def log(self, text: str) -> None:
        line = f"t={self.now} {text}"
        self.trace.append(line)
        if self.trace_all:
            print(line)

    def tick_time(self) -> int:
        self.hist_time += 1
        return self.hist_time

    # -- nodes ---------------------------------------------------------------------------------

    def _config(self, node_id: int) -> Config:
        k = self.knobs
        return Config(
            id=node_id,
            pre_vote=k.pre_vote,
            check_quorum=k.check_quorum,
            max_inflight=k.max_inflight,
            max_size_per_msg=k.max_size_per_msg,
        )

    def _spawn(self, node_id: int, bootstrap: ConfState | None = None) -> SimNode:
        node = SimNode(node_id, self._config(node_id))
        self.nodes[node_id] = node
        if bootstrap is None:
            node.start(self.rng.randrange(1 << 30))
        else:
            # A new cluster persists its first configuration before it starts.
            node.config = replace(node.config, seed=self.rng.randrange(1 << 30))
            node.raft = RaftNode(node.config, bootstrap=bootstrap)
            self._handle_ready(node, allow_crash=False)
        self._schedule_tick(node)
        return node

    def _schedule_tick(self, node: SimNode) -> None:
        inc = node.incarnation
        self.at(TICK + self.rng.randint(-1, 1), lambda: self._tick(node, inc))

    def _tick(self, node: SimNode, inc: int) -> None:
        if node.raft is None or node.incarnation != inc:
            return
        node.raft.tick()
        self._after_call(node)
        self._schedule_tick(node)

    def _after_call(self, node: SimNode) -> None:
        raft = node.raft
        assert raft is not None
        self.checks.observe(raft)
        if not node.ready_scheduled and raft.has_ready():
            node.ready_scheduled = True
            inc = node.incarnation
            self.at(self.rng.randint(0, 3), lambda: self._on_ready(node, inc))

    def _on_ready(self, node: SimNode, inc: int) -> None:
        if node.raft is None or node.incarnation != inc:
            return
        node.ready_scheduled = False
        self._handle_ready(node, allow_crash=self.faults_on)
        if node.raft is not None:
            self._after_call(node)

    def _handle_ready(self, node: SimNode, *, allow_crash: bool) -> None:
        """The driver's loop body: persist, send, apply, advance (and maybe snapshot)."""
        raft = node.raft
        assert raft is not None
        rd = raft.ready()
        self.checks.on_ready(raft, rd)
        crash = self.rng.random() < 0.01 if allow_crash else False
        if rd.snapshot is not None:
            node.durable.save_snapshot(rd.snapshot)
            if crash and self.rng.random() < 0.5:
                self._crash(node, "after saving a snapshot, before its entries")
                return
        node.durable.save(node.id, rd.hard_state, rd.entries)
        if crash:
            self._crash(node, "after persisting a Ready, before sending")
            return
        for m in rd.messages:
            self._send(m)
        self._apply(node, rd)
        raft.advance(rd)
        self._serve_reads(node)
        if node.applied - node.snapshot_index >= self.knobs.snapshot_every:
            self._take_snapshot(node)

    def _apply(self, node: SimNode, rd: Ready) -> None:
        raft = node.raft
        assert raft is not None
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            self.checks.on_snapshot(node.id, rd.snapshot, True, node.applied)
            node.kv.restore(rd.snapshot.data)
            node.applied, node.applied_term = meta.index, meta.term
            node.snapshot_index = meta.index
            self.log(f"node {node.id} installed snapshot at {meta.index}")
        pending = self.writes.setdefault(node.id, {})
        if rd.snapshot is not None:
            # Like the driver: proposals the snapshot covers are failed ("superseded").
            for index in [i for i in pending if i <= rd.snapshot.meta.index]:
                lost = pending.pop(index)
                self._free_client(self.ops[lost.op_id].client, lost.op_id)
        for e in rd.committed_entries:
            self.checks.on_apply(node.id, raft.term, node.applied + 1, e, self.tick_time())
            node.applied, node.applied_term = e.index, e.term
            if e.type is EntryType.CONF_CHANGE:
                self._on_conf_change_applied(node, ConfChange.decode(e.data))
            elif e.data:
                node.kv.apply(e.data)
            w = pending.pop(e.index, None)
            if w is None:
                continue
            if w.term == e.term:
                if w.data != e.data:
                    raise SafetyViolation(
                        f"node {node.id} proposed {w.data!r} at {e.index} in term {w.term} "
                        f"but applied {e.data!r} there"
                    )
                op = self.ops[w.op_id]
                op.ret, op.done = self.tick_time(), True
                self._free_client(op.client, w.op_id)
            # else: overwritten by another leader's entry; resolved at the end
        for rs in rd.read_states:
            r = self.reads.get(node.id, {}).get(rs.context)
            if r is not None and r.index is None:
                r.index = rs.index
        if rd.soft_state is not None:
            ss = rd.soft_state
            # Like the driver: a read not confirmed yet fails when the leader changes (one
            # forwarded to the old leader would never be answered).
            reads = self.reads.get(node.id, {})
            for ctx in [ctx for ctx, r in reads.items() if r.index is None]:
                op_id = reads.pop(ctx).op_id
                self.ops[op_id].done = True
                self._free_client(self.ops[op_id].client, op_id)
            if ss.role is not Role.LEADER and pending:
                # The driver fails its proposals: the clients do not know what happened.
                for w in pending.values():
                    self._free_client(self.ops[w.op_id].client, w.op_id)
                pending.clear()
            self.log(
                f"node {node.id} is {ss.role.value} (leader {ss.leader}, term {raft_term(node)})"
            )

    def _take_snapshot(self, node: SimNode) -> None:
        raft = node.raft
        assert raft is not None
        meta = SnapshotMeta(node.applied, node.applied_term, raft.conf_state)
        snapshot = Snapshot(meta, node.kv.snapshot())
        self.checks.on_snapshot(node.id, snapshot, False, node.applied)
        node.durable.save_snapshot(snapshot)
        raft.compact(snapshot, keep=self.knobs.snapshot_keep)
        node.snapshot_index = node.applied

    def _serve_reads(self, node: SimNode) -> None:
        pending = self.reads.get(node.id)
        if not pending:
            return
        for ctx, r in list(pending.items()):
            if r.index is not None and node.applied >= r.index:
                del pending[ctx]
                op = self.ops[r.op_id]
                op.output = node.kv.data.get(r.key, ())
                op.ret, op.done = self.tick_time(), True
                self._free_client(op.client, r.op_id)

    def _crash(self, node: SimNode, why: str) -> None:
        self.log(f"crash node {node.id} ({why})")
        self.crashes += 1
        node.crash()
        self._forget_node_requests(node.id)

    def _forget_node_requests(self, node_id: int) -> None:
        for w in self.writes.pop(node_id, {}).values():
            self._free_client(self.ops[w.op_id].client, w.op_id)
        for r in self.reads.pop(node_id, {}).values():
            self.ops[r.op_id].done = True  # a read that failed had no effect: not in history
            self._free_client(self.ops[r.op_id].client, r.op_id)

    def _restart(self, node: SimNode) -> None:
        if node.alive or node.removed:
            return
        raft = node.start(self.rng.randrange(1 << 30))
        self.log(f"restart node {node.id} at term {raft.term} commit {raft.commit}")
        self._schedule_tick(node)
        self._after_call(node)

    def _on_conf_change_applied(self, node: SimNode, cc: ConfChange) -> None:
        if cc.type is not ConfChangeType.REMOVE:
            return
        gone = self.nodes.get(cc.node_id)
        if gone is not None and not gone.removed:
            gone.removed = True  # never restarted; stopped a little later, like an operator
            self.log(f"node {cc.node_id} removed (applied on node {node.id})")
            self.at(self.rng.randint(0, 20 * TICK), lambda: self._stop_removed(gone))

    def _stop_removed(self, node: SimNode) -> None:
        if node.alive:
            self.log(f"stop removed node {node.id}")
            node.crash()
            self._forget_node_requests(node.id)

    # -- network -------------------------------------------------------------------------------

    def _send(self, m: Message) -> None:
        k = self.knobs
        copies = 2 if self.faults_on and self.rng.random() < k.p_dup else 1
        for _ in range(copies):
            if self.faults_on and self.rng.random() < k.p_drop:
                continue
            delay = self.rng.randint(1, 4)
            if self.faults_on and self.rng.random() < k.p_slow:
                delay = self.rng.randint(5, 8 * TICK)
            self.at(delay, lambda m=m: self._deliver(m))  # type: ignore[misc]

    def _deliver(self, m: Message) -> None:
        node = self.nodes.get(m.to)
        if node is None or node.raft is None or (m.frm, m.to) in self.blocked:
            return
        node.raft.step(m)
        self._after_call(node)

    # -- clients -------------------------------------------------------------------------------

    def _free_client(self, client_id: int, op_id: int) -> None:
        c = self.clients[client_id - 1]
        if c.busy == op_id:
            c.busy = None

    def _client_step(self, c: _Client) -> None:
        if not self.faults_on:
            return
        self.at(self.rng.randint(1, TICK), lambda: self._client_step(c))
        if c.busy is not None:
            if self.now - c.since < CLIENT_TIMEOUT:
                return
            self._abandon(c)
        alive = [n for n in self.nodes.values() if n.alive]
        if not alive:
            return
        guess = self.nodes.get(c.leader_guess)
        node = guess if guess is not None and guess.alive else self.rng.choice(alive)
        key = self.rng.choice(self.knobs.keys)
        if self.rng.random() < 0.5:
            self._client_write(c, node, key)
        else:
            if self.rng.random() < 0.3:
                node = self.rng.choice(alive)  # a follower read, now and then
            self._client_read(c, node, key)

    def _abandon(self, c: _Client) -> None:
        """The client gives up waiting: a read is forgotten, a write stays in doubt."""
        op_id = c.busy
        assert op_id is not None
        c.busy = None
        op = self.ops[op_id]
        if op.input.append is None:
            op.done = True
            for pending in self.reads.values():
                for ctx in [ctx for ctx, r in pending.items() if r.op_id == op_id]:
                    del pending[ctx]

    def _client_write(self, c: _Client, node: SimNode, key: str) -> None:
        raft = node.raft
        assert raft is not None
        value = f"{c.id}.{len(self.ops)}"
        data = encode_write(key, value)
        try:
            index = raft.propose(data)
        except ProposalDropped as e:
            c.leader_guess = e.leader or self.rng.choice(list(self.nodes))
            return
        op_id = len(self.ops)
        self.ops.append(_Op(c.id, KvInput(key, value), self.tick_time()))
        c.busy, c.since = op_id, self.now
        self.writes.setdefault(node.id, {})[index] = _Write(
            op_id, node.id, node.incarnation, index, raft.term, data
        )
        self._after_call(node)
        if self.rng.random() < self.knobs.p_crash_on_write:
            # The leader dies while its new entry is on its way to some followers only: the
            # material of Raft's figure 8 (old-term entries on a majority, overwritten later).
            inc = node.incarnation
            self.at(self.rng.randint(1, 6), lambda: self._crash_if(node, inc))

    def _client_read(self, c: _Client, node: SimNode, key: str) -> _Op | None:
        raft = node.raft
        assert raft is not None
        op_id = len(self.ops)
        ctx = f"read-{op_id}".encode()
        try:
            raft.read_index(ctx)
        except ProposalDropped as e:
            c.leader_guess = e.leader or self.rng.choice(list(self.nodes))
            return None
        op = _Op(c.id, KvInput(key, None), self.tick_time())
        self.ops.append(op)
        c.busy, c.since = op_id, self.now
        self.reads.setdefault(node.id, {})[ctx] = _Read(op_id, key, node.id, node.incarnation)
        self._after_call(node)
        return op

    # -- faults --------------------------------------------------------------------------------

    def leader(self) -> SimNode | None:
        best: SimNode | None = None
        for n in self.nodes.values():
            leads = n.raft is not None and n.raft.role is Role.LEADER
            if leads and (best is None or raft_term(n) > raft_term(best)):
                best = n
        return best

    def _fault_step(self) -> None:
        if not self.faults_on:
            return
        self.at(self.rng.randint(1, 2 * self.knobs.fault_ticks) * TICK, self._fault_step)
        faults: list[tuple[float, Callable[[], None]]] = [
            (3, self._crash_random),
            (2, self._crash_leader),
            (2, self._partition_random),
            (2, self._isolate_leader),
            (1, self._partition_one_way),
            (2, self._heal),
            (3, self._change_membership),
            (1, self._transfer_leader),
            (1, self._force_campaign),
        ]
        total = sum(w for w, _ in faults)
        pick = self.rng.random() * total
        for w, fn in faults:
            pick -= w
            if pick <= 0:
                fn()
                return

    def _members(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if not n.removed]

    def _crash_node(self, node: SimNode) -> None:
        if not node.alive:
            return
        self._crash(node, "fault")
        self.at(self.rng.randint(1, 30) * TICK, lambda: self._restart(node))

    def _crash_if(self, node: SimNode, inc: int) -> None:
        if node.incarnation == inc and self.faults_on:
            self._crash_node(node)

    def _crash_random(self) -> None:
        alive = [n for n in self._members() if n.alive]
        if alive:
            self._crash_node(self.rng.choice(alive))

    def _crash_leader(self) -> None:
        leader = self.leader()
        if leader is not None:
            self._crash_node(leader)

    def _set_partition(self, blocked: set[tuple[int, int]], what: str) -> None:
        self.blocked = blocked
        self.log(f"partition: {what}")
        self.at(self.rng.randint(5, 40) * TICK, self._heal)

    def _partition_random(self) -> None:
        ids = sorted(self.nodes)
        side = {i for i in ids if self.rng.random() < 0.5}
        cut = {(a, b) for a in ids for b in ids if (a in side) != (b in side)}
        self._set_partition(cut, f"{sorted(side)} | {sorted(set(ids) - side)}")

    def _isolate_leader(self) -> None:
        leader = self.leader()
        if leader is None:
            return
        others = [i for i in self.nodes if i != leader.id]
        cut = {(leader.id, o) for o in others} | {(o, leader.id) for o in others}
        self._set_partition(cut, f"leader {leader.id} isolated")

    def _partition_one_way(self) -> None:
        ids = sorted(self.nodes)
        cut = {(a, b) for a in ids for b in ids if a != b and self.rng.random() < 0.3}
        self._set_partition(cut, f"one-way links down: {sorted(cut)}")

    def _heal(self) -> None:
        if self.blocked:
            self.blocked = set()
            self.log("partition healed")

    def _transfer_leader(self) -> None:
        leader = self.leader()
        if leader is None or leader.raft is None:
            return
        voters = sorted(leader.raft.conf_state.voters - {leader.id})
        if voters:
            to = self.rng.choice(voters)
            self.log(f"transfer leadership {leader.id} -> {to}")
            leader.raft.transfer_leadership(to)
            self._after_call(leader)

    def _force_campaign(self) -> None:
        alive = [n for n in self._members() if n.alive]
        if alive:
            node = self.rng.choice(alive)
            assert node.raft is not None
            self.log(f"node {node.id} campaigns")
            node.raft.campaign()
            self._after_call(node)

    def _change_membership(self) -> None:
        leader = self.leader()
        if leader is None or leader.raft is None:
            return
        raft = leader.raft
        conf = raft.conf_state
        choices: list[ConfChange] = []
        if not conf.learners and self.next_id <= self.knobs.size + 4:
            choices.append(ConfChange(ConfChangeType.ADD_LEARNER, self.next_id))
        progress = raft.status().progress
        for learner in sorted(conf.learners):
            pr = progress.get(learner)
            if pr is not None and pr.match + 5 >= raft.commit:
                choices.append(ConfChange(ConfChangeType.ADD_VOTER, learner))
            choices.append(ConfChange(ConfChangeType.REMOVE, learner))
        if len(conf.voters) > 3:
            choices += [ConfChange(ConfChangeType.REMOVE, v) for v in sorted(conf.voters)]
        if not choices:
            return
        cc = self.rng.choice(choices)
        try:
            raft.propose_conf_change(cc)
        except (ProposalDropped, ConfChangeInProgress):
            return
        self.log(f"node {leader.id} proposes {cc.type.name} {cc.node_id}")
        if cc.type is ConfChangeType.ADD_LEARNER:
            self._spawn(self.next_id)
            self.next_id += 1
        self._after_call(leader)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> Outcome:
        k = self.knobs
        voters = frozenset(range(1, k.size + 1))
        self.log(f"knobs {k}")
        for i in sorted(voters):
            self._spawn(i, ConfState(voters=voters))
        for c in self.clients:
            self.at(self.rng.randint(1, TICK), lambda c=c: self._client_step(c))  # type: ignore[misc]
        self.at(k.fault_ticks * TICK, self._fault_step)
        self.run_until(k.run_ticks * TICK)
        self._settle()
        return Outcome(
            seed=self.seed,
            knobs=k,
            events=self.event_count,
            ops=len(self.ops),
            acked_writes=sum(1 for op in self.ops if op.input.append and op.ret is not None),
            reads=sum(1 for op in self.ops if op.input.append is None and op.ret is not None),
            terms=len(self.checks.leaders),
            max_index=self.checks.max_applied,
            crashes=self.crashes,
        )

    def _settle(self) -> None:
        """Faults stop: heal, restart every member, and the cluster must agree again."""
        self.faults_on = False
        self.blocked = set()
        self.log("faults stop: heal and restart everything")
        for c in self.clients:
            if c.busy is not None:
                self._abandon(c)
        for node in self._members():
            self._restart(node)
        if not self.run_until(self.now + 400 * TICK, self._stable):
            self._check_history()  # safety first: the history so far must be linearizable
            raise SafetyViolation(
                "liveness: no stable leader with every member caught up 400 ticks after the "
                f"faults stopped; {self._describe_nodes()}"
            )
        self._final_reads()
        if not self.run_until(self.now + 50 * TICK, self._stable):
            raise SafetyViolation(
                f"liveness: not stable after the final reads; {self._describe_nodes()}"
            )
        leader = self.leader()
        assert leader is not None
        self._check_final(leader)

    def _final_reads(self) -> None:
        """Read every key through the leader, again if leadership moves meanwhile."""
        done: dict[str, _Op] = {}
        for _ in range(10):
            asked: list[_Op] = []
            leader = self.leader()
            keys = [k for k in self.knobs.keys if k not in done] if leader is not None else []
            for key in keys:
                assert leader is not None
                c = _Client(len(self.clients) + 1)
                self.clients.append(c)
                op = self._client_read(c, leader, key)
                asked += [op] if op is not None else []
            wait = None if not asked else lambda ops=asked: all(op.done for op in ops)
            self.run_until(self.now + 5 * TICK, wait)
            done.update({op.input.key: op for op in asked if op.ret is not None})
            if len(done) == len(self.knobs.keys):
                return
        raise SafetyViolation(f"liveness: final reads not served; {self._describe_nodes()}")

    def _stable(self) -> bool:
        """One leader, which committed in its term; every member has all its log, applied."""
        leader = self.leader()
        if leader is None or leader.raft is None or leader.ready_scheduled:
            return False
        raft = leader.raft
        if leader.applied_term != raft.term or leader.applied != raft.commit:
            return False
        status = raft.status()
        if status.lead_transferee:
            return False  # a transfer asked for during the faults may still happen
        progress = status.progress
        conf = raft.conf_state
        for node_id in conf.voters | conf.learners:
            node = self.nodes.get(node_id)
            pr = progress.get(node_id)
            if node is None or node.raft is None or node.ready_scheduled or pr is None:
                return False
            if pr.match != raft.commit or node.applied != raft.commit:
                return False
        return True

    def _check_final(self, leader: SimNode) -> None:
        assert leader.raft is not None
        conf = leader.raft.conf_state
        state = leader.kv.data
        for node in self.nodes.values():
            if node.raft is not None and not node.ready_scheduled:  # all handed out
                self.checks.check_whole_log(node.raft)
        for node_id in sorted(conf.voters | conf.learners):
            other = self.nodes[node_id].kv.data
            if other != state:
                raise SafetyViolation(
                    f"after settling, node {node_id}'s state {other} differs from the leader "
                    f"{leader.id}'s {state}"
                )
        for op in self.ops:
            value = op.input.append
            if (
                value is not None
                and op.ret is not None
                and value not in state.get(op.input.key, ())
            ):
                raise SafetyViolation(
                    f"acknowledged write lost: {op.input.key}+={value} was acknowledged "
                    f"but is not in the final state {state.get(op.input.key)}"
                )
        self._check_history()

    def history(self) -> list[Operation[KvInput, KvOutput]]:
        """The client history; writes in doubt are resolved with what the cluster applied:
        one never applied had no effect (left out), one applied took effect at the latest when
        it was first applied anywhere."""
        out: list[Operation[KvInput, KvOutput]] = []
        for op in self.ops:
            ret = op.ret
            if op.input.append is not None and ret is None:
                index = self.checks.value_index.get(op.input.append)
                if index is None:
                    continue
                ret = self.checks.first_applied_at[index]
            elif op.input.append is None and ret is None:
                continue  # a read that never returned had no effect
            out.append(Operation(op.client, op.input, op.call, op.output, ret))
        return out

    def _check_history(self) -> None:
        result = check(KV_MODEL, self.history())
        if not result.ok:
            raise SafetyViolation(f"reads are not linearizable: {result.explanation}")

    def _describe_nodes(self) -> str:
        parts = []
        for n in sorted(self.nodes.values(), key=lambda n: n.id):
            if n.raft is None:
                parts.append(f"{n.id}: {'removed' if n.removed else 'down'}")
                continue
            s = n.raft.status()
            parts.append(
                f"{n.id}: {s.role.value} term {s.term} leader {s.leader} commit {s.commit} "
                f"applied {n.applied} voters {sorted(s.conf_state.voters)} learners "
                f"{sorted(s.conf_state.learners)}{' removed' if n.removed else ''}"
            )
        return "nodes " + "; ".join(parts)


def raft_term(node: SimNode) -> int:
    return node.raft.term if node.raft is not None else 0


def run_seed(seed: int, *, trace: bool | None = None) -> Outcome:
    """Run one seed; raises SafetyViolation with the seed and the end of the trace."""
    if trace is None:
        trace = os.environ.get("SHOAL_SIM_TRACE", "") not in ("", "0")
    sim = Simulation(seed, trace=trace)
    try:
        return sim.run()
    except Exception as e:
        tail = "\n".join(list(sim.trace)[-40:])
        raise SafetyViolation(
            f"seed {seed}: {type(e).__name__}: {e}\nknobs: {sim.knobs}\nlast events:\n{tail}"
        ) from e
