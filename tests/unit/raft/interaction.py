"""A small command language over in-memory RaftNodes, for golden-output tests.

Like etcd raft's `rafttest` interaction environment: each command drives the nodes (no I/O,
no clock) and describes what happened. A script interleaves commands with their expected
output (`run_script`):

    # a comment
    campaign 1
    ----
    INFO 1 became pre-candidate at term 1
    ...

Commands (ids are node ids; `(1,2)` is a list):

    add-nodes N [voters=(..)] [learners=(..)] [index=I] [join] [election=E] [prevote=false]
              [checkquorum=false] [inflight=K] [max-size=B]
                                     new nodes: bootstrapped with that configuration (default:
                                     the new nodes are voters), or starting from a snapshot at
                                     index I, or (join) empty, to be added by a conf change
    campaign ID / tick ID [N] / tick-election ID / tick-heartbeat ID
    propose ID DATA / propose-conf-change ID add-learner|add-voter|remove N
    transfer-leader FROM TO / read-index ID CTX / compact ID INDEX [keep=K]
    process-ready ID... / deliver-msgs [ID...] [drop=(..)] [type=MsgApp] / drop-msgs [ID...]
    stabilize [ID...]       process Readies and deliver messages until nothing moves
    partition (..) (..)...  / heal
    restart ID              rebuild from what was persisted: hard state, entries, snapshot
    status ID / raft-log ID   always print
    log-level none|info     none: print nothing else but errors (for quiet set-ups)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from manager.raft.core import Config, RaftNode
from manager.raft.errors import RaftError
from manager.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Ready,
    Role,
    Snapshot,
    SnapshotMeta,
)

# -- describing ------------------------------------------------------------------------------

MESSAGE_NAMES = {
    MessageType.APP: "MsgApp",
    MessageType.APP_RESP: "MsgAppResp",
    MessageType.VOTE: "MsgVote",
    MessageType.VOTE_RESP: "MsgVoteResp",
    MessageType.PRE_VOTE: "MsgPreVote",
    MessageType.PRE_VOTE_RESP: "MsgPreVoteResp",
    MessageType.HEARTBEAT: "MsgHeartbeat",
    MessageType.HEARTBEAT_RESP: "MsgHeartbeatResp",
    MessageType.SNAP: "MsgSnap",
    MessageType.TIMEOUT_NOW: "MsgTimeoutNow",
    MessageType.READ_INDEX: "MsgReadIndex",
    MessageType.READ_INDEX_RESP: "MsgReadIndexResp",
}
_MESSAGE_TYPES = {name: kind for kind, name in MESSAGE_NAMES.items()}
_CC_PREFIX = {
    ConfChangeType.ADD_VOTER: "v",
    ConfChangeType.ADD_LEARNER: "l",
    ConfChangeType.REMOVE: "r",
}
_CC_NAMES = {"add-voter": ConfChangeType.ADD_VOTER, "add-learner": ConfChangeType.ADD_LEARNER}
_CC_NAMES["remove"] = ConfChangeType.REMOVE


def describe_ids(ids: Iterable[int]) -> str:
    return "[" + " ".join(str(i) for i in sorted(ids)) + "]"


def describe_conf(conf: ConfState) -> str:
    return f"Voters:{describe_ids(conf.voters)} Learners:{describe_ids(conf.learners)}"


def describe_entry(e: Entry) -> str:
    if e.type is EntryType.CONF_CHANGE:
        cc = ConfChange.decode(e.data)
        return f"{e.term}/{e.index} EntryConfChange {_CC_PREFIX[cc.type]}{cc.node_id}"
    return f"{e.term}/{e.index} EntryNormal {_quote(e.data)}"


def describe_snapshot(s: Snapshot) -> str:
    meta = s.meta
    return f"Index:{meta.index} Term:{meta.term} {describe_conf(meta.conf_state)}"


def describe_message(m: Message) -> str:
    out = f"{m.frm}->{m.to} {MESSAGE_NAMES[m.type]} Term:{m.term} Log:{m.log_term}/{m.index}"
    if m.reject:
        out += f" Rejected (Hint: {m.reject_hint})"
    if m.commit:
        out += f" Commit:{m.commit}"
    if m.entries:
        out += " Entries:[" + ", ".join(describe_entry(e) for e in m.entries) + "]"
    if m.snapshot is not None:
        out += " Snapshot: " + describe_snapshot(m.snapshot)
    if m.context:
        out += f" Context:{_quote(m.context)}"
    return out


def describe_ready(rd: Ready) -> list[str]:
    out = ["Ready:"]
    if rd.soft_state is not None:
        out.append(f"Lead:{rd.soft_state.leader} State:{rd.soft_state.role.value}")
    if rd.hard_state is not None:
        hs = rd.hard_state
        out.append(f"HardState Term:{hs.term} Vote:{hs.vote} Commit:{hs.commit}")
    if rd.snapshot is not None:
        out.append("Snapshot " + describe_snapshot(rd.snapshot))
    sections: list[tuple[str, Sequence[str]]] = [
        ("Entries:", [describe_entry(e) for e in rd.entries]),
        ("CommittedEntries:", [describe_entry(e) for e in rd.committed_entries]),
        ("Messages:", [describe_message(m) for m in rd.messages]),
        ("ReadStates:", [f"Index:{r.index} Context:{_quote(r.context)}" for r in rd.read_states]),
    ]
    for title, lines in sections:
        if lines:
            out.append(title)
            out.extend(lines)
    return out


def _quote(data: bytes) -> str:
    return '"' + data.decode("utf-8", "backslashreplace") + '"'


# -- the environment -------------------------------------------------------------------------


@dataclass
class Disk:
    """What a node persisted (the part of each Ready it was asked to save)."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)  # after the snapshot

    def save(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.save_snapshot(rd.snapshot)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state
        if rd.entries:
            first = rd.entries[0].index
            self.entries = [e for e in self.entries if e.index < first] + list(rd.entries)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.meta.index]


@dataclass
class StateMachine:
    """The applied NORMAL entries' data, with their indexes; a snapshot is their list."""

    applied: list[tuple[int, bytes]] = field(default_factory=list)

    def apply(self, entries: Iterable[Entry]) -> None:
        self.applied += [
            (e.index, e.data) for e in entries if e.type is EntryType.NORMAL and e.data
        ]

    def snapshot(self, index: int) -> bytes:
        return b",".join(b"%d:%s" % (i, d) for i, d in self.applied if i <= index)

    def restore(self, data: bytes) -> None:
        pairs = [item.split(b":", 1) for item in data.split(b",") if item]
        self.applied = [(int(i), d) for i, d in pairs]


@dataclass
class Node:
    config: Config
    raft: RaftNode
    disk: Disk = field(default_factory=Disk)
    sm: StateMachine = field(default_factory=StateMachine)


class CommandError(Exception):
    """A script asked for something the environment cannot do."""


@dataclass
class Args:
    positional: list[str]
    keywords: dict[str, str]

    def ints(self, key: str) -> list[int]:
        value = self.keywords.get(key)
        return [] if value is None else parse_ids(value)

    def int(self, key: str, default: int) -> int:
        return int(self.keywords.get(key, default))

    def flag(self, key: str, default: bool) -> bool:
        value = self.keywords.get(key)
        return default if value is None else value.lower() in ("true", "1", "yes")


def parse_ids(text: str) -> list[int]:
    return [int(x) for x in re.split(r"[,\s]+", text.strip("()")) if x]


def parse_args(words: Sequence[str]) -> Args:
    positional, keywords = [], {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            keywords[key] = value
        else:
            positional.append(word)
    return Args(positional, keywords)


class Env:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.mailbox: dict[int, list[Message]] = {}
        self.groups: list[set[int]] = []  # partition; empty: everyone talks to everyone
        self.verbose = True
        self.out: list[str] = []
        self._commands: dict[str, Callable[[Args], None]] = {
            "add-nodes": self.add_nodes,
            "campaign": self.campaign,
            "propose": self.propose,
            "propose-conf-change": self.propose_conf_change,
            "tick": self.tick,
            "tick-election": self.tick_election,
            "tick-heartbeat": self.tick_heartbeat,
            "transfer-leader": self.transfer_leader,
            "read-index": self.read_index,
            "compact": self.compact,
            "process-ready": self.process_ready,
            "deliver-msgs": self.deliver_msgs,
            "drop-msgs": self.drop_msgs,
            "stabilize": self.stabilize,
            "partition": self.partition,
            "heal": self.heal,
            "restart": self.restart,
            "status": self.status,
            "raft-log": self.raft_log,
            "log-level": self.log_level,
        }

    # -- running ---------------------------------------------------------------------------------

    def run(self, line: str) -> str:
        words = line.split()
        command = self._commands.get(words[0])
        if command is None:
            raise CommandError(f"unknown command {words[0]!r}")
        self.out = []
        command(parse_args(words[1:]))
        return "\n".join(self.out) if self.out else "ok"

    def _print(self, line: str, indent: int = 0, *, always: bool = False) -> None:
        """Output; `log-level none` silences all but errors and explicit inspections."""
        if self.verbose or always:
            self.out.append(" " * indent + line)

    def _info(self, line: str, indent: int = 0) -> None:
        self._print("INFO " + line, indent)

    def _node(self, text: str) -> Node:
        node = self.nodes.get(int(text))
        if node is None:
            raise CommandError(f"no node {text}")
        return node

    def _watch(self, node: Node, action: Callable[[], None], indent: int = 0) -> None:
        """Run `action` on `node`, then describe how its role, term, leader and
        configuration changed."""
        raft = node.raft
        before = (raft.role, raft.term, raft.leader, raft.conf_state)
        try:
            action()
        except RaftError as e:
            self._print(f"{type(e).__name__}: {e}", indent, always=True)
        role, term, leader, conf = raft.role, raft.term, raft.leader, raft.conf_state
        if (role, term) != before[:2]:
            line = f"{raft.id} became {role.value} at term {term}"
            if role is Role.FOLLOWER:
                line += f" (leader {leader})" if leader else " (no leader)"
            self._info(line, indent)
        elif leader != before[2]:
            self._info(f"{raft.id} follows leader {leader} at term {term}", indent)
        if conf != before[3]:
            self._info(f"{raft.id} switched to configuration {describe_conf(conf)}", indent)

    # -- nodes -----------------------------------------------------------------------------------

    def add_nodes(self, args: Args) -> None:
        count = int(args.positional[0])
        first = max(self.nodes, default=0) + 1
        ids = list(range(first, first + count))
        voters, learners = args.ints("voters"), args.ints("learners")
        if not voters and not learners:
            voters = ids
        conf = ConfState(voters=frozenset(voters), learners=frozenset(learners))
        index = args.int("index", 0)
        for node_id in ids:
            config = Config(
                id=node_id,
                election_tick=args.int("election", 10),
                heartbeat_tick=args.int("heartbeat", 1),
                max_inflight=args.int("inflight", 256),
                max_size_per_msg=args.int("max-size", 1 << 20),
                pre_vote=args.flag("prevote", True),
                check_quorum=args.flag("checkquorum", True),
            )
            if "join" in args.positional:
                node = Node(config, RaftNode(config))
            elif index:
                meta = SnapshotMeta(index=index, term=1, conf_state=conf)
                node = Node(config, RaftNode(config))
                node.disk = Disk(HardState(term=1, commit=index), Snapshot(meta), [])
                self._boot_from_disk(node)
            else:
                node = Node(config, RaftNode(config, bootstrap=conf))
            self.nodes[node_id] = node
            self.mailbox.setdefault(node_id, [])
            self._describe_start(node)

    def _boot_from_disk(self, node: Node) -> None:
        disk = node.disk
        node.raft = RaftNode(
            node.config, hard_state=disk.hard_state, snapshot=disk.snapshot, entries=disk.entries
        )
        node.sm = StateMachine()
        if disk.snapshot is not None:
            node.sm.restore(disk.snapshot.data)

    def _describe_start(self, node: Node) -> None:
        st = node.raft.status()
        self._info(
            f"{st.id} starts at term {st.term} vote {st.vote} commit {st.commit} "
            f"applied {st.applied} with {describe_conf(st.conf_state)}"
        )

    def restart(self, args: Args) -> None:
        node = self._node(args.positional[0])
        self._boot_from_disk(node)
        self._describe_start(node)

    # -- driving ---------------------------------------------------------------------------------

    def campaign(self, args: Args) -> None:
        node = self._node(args.positional[0])
        self._watch(node, node.raft.campaign)

    def propose(self, args: Args) -> None:
        node = self._node(args.positional[0])
        data = args.positional[1].encode()
        self._watch(node, lambda: self._discard(node.raft.propose(data)))

    def propose_conf_change(self, args: Args) -> None:
        node = self._node(args.positional[0])
        kind, target = _CC_NAMES[args.positional[1]], int(args.positional[2])
        cc = ConfChange(kind, target)
        self._watch(node, lambda: self._discard(node.raft.propose_conf_change(cc)))

    @staticmethod
    def _discard(_: int) -> None:
        pass

    def tick(self, args: Args) -> None:
        node = self._node(args.positional[0])
        count = int(args.positional[1]) if len(args.positional) > 1 else 1
        for _ in range(count):
            self._watch(node, node.raft.tick)

    def tick_heartbeat(self, args: Args) -> None:
        node = self._node(args.positional[0])
        for _ in range(node.config.heartbeat_tick):
            self._watch(node, node.raft.tick)

    def tick_election(self, args: Args) -> None:
        """A leader: election_tick ticks. Anyone else: tick until its randomized election
        timeout fires (it campaigns; at most 2 * election_tick ticks)."""
        node = self._node(args.positional[0])
        raft = node.raft
        if raft.role is Role.LEADER:
            for _ in range(node.config.election_tick):
                self._watch(node, raft.tick)
            return
        start, quiet = (raft.role, raft.term), not raft.has_ready()
        for _ in range(2 * node.config.election_tick):
            self._watch(node, raft.tick)
            if (raft.role, raft.term) != start or (quiet and raft.has_ready()):
                break

    def transfer_leader(self, args: Args) -> None:
        node = self._node(args.positional[0])
        to = int(args.positional[1])
        self._watch(node, lambda: node.raft.transfer_leadership(to))

    def read_index(self, args: Args) -> None:
        node = self._node(args.positional[0])
        context = args.positional[1].encode()
        self._watch(node, lambda: node.raft.read_index(context))

    def compact(self, args: Args) -> None:
        """Snapshot the state machine at INDEX (<= applied) and compact the log."""
        node = self._node(args.positional[0])
        index = int(args.positional[1])
        raft = node.raft
        if index > raft.applied:
            raise CommandError(f"node {raft.id} applied {raft.applied}, cannot snapshot {index}")
        term = self._persisted_term(node, index)
        meta = SnapshotMeta(index=index, term=term, conf_state=raft.conf_state)
        snapshot = Snapshot(meta, node.sm.snapshot(index))
        node.disk.save_snapshot(snapshot)
        raft.compact(snapshot, keep=args.int("keep", 0))
        self._print(f"{raft.id} compacted: snapshot {describe_snapshot(snapshot)}", always=True)

    @staticmethod
    def _persisted_term(node: Node, index: int) -> int:
        snapshot = node.disk.snapshot
        if snapshot is not None and snapshot.meta.index == index:
            return snapshot.meta.term
        for e in node.disk.entries:
            if e.index == index:
                return e.term
        raise CommandError(f"node {node.raft.id} has no persisted entry {index}")

    # -- Ready and messages ----------------------------------------------------------------------

    def process_ready(self, args: Args) -> None:
        for text in args.positional:
            self._handle_ready(self._node(text))

    def _handle_ready(self, node: Node) -> bool:
        raft = node.raft
        if not raft.has_ready():
            return False
        rd = raft.ready()
        self._print(f"> {raft.id} handling Ready")
        for line in describe_ready(rd):
            self._print(line, 2)
        node.disk.save(rd)
        for m in rd.messages:
            self.mailbox.setdefault(m.to, []).append(m)
        if rd.snapshot is not None:
            node.sm.restore(rd.snapshot.data)
        node.sm.apply(rd.committed_entries)
        self._watch(node, lambda: raft.advance(rd), indent=2)
        return True

    def _blocked(self, m: Message) -> bool:
        if not self.groups:
            return False
        return not any(m.frm in g and m.to in g for g in self.groups)

    def _deliver(self, node_id: int, kind: MessageType | None = None) -> bool:
        queue = self.mailbox.get(node_id, [])
        picked = [m for m in queue if kind is None or m.type is kind]
        if not picked:
            return False
        self.mailbox[node_id] = [m for m in queue if m not in picked]
        node = self.nodes[node_id]
        self._print(f"> {node_id} receiving messages")
        for m in picked:
            if self._blocked(m):
                self._print(f"dropped (partition): {describe_message(m)}", 2)
                continue
            self._print(describe_message(m), 2)
            self._watch(node, partial(node.raft.step, m), indent=2)
        return True

    def _targets(self, args: Args) -> list[int]:
        return [int(x) for x in args.positional] or sorted(self.nodes)

    def deliver_msgs(self, args: Args) -> None:
        for node_id in args.ints("drop"):
            self._drop(node_id)
        kind = _MESSAGE_TYPES[args.keywords["type"]] if "type" in args.keywords else None
        if args.positional or "drop" not in args.keywords:
            for node_id in self._targets(args):
                self._deliver(node_id, kind)

    def drop_msgs(self, args: Args) -> None:
        for node_id in self._targets(args):
            self._drop(node_id)

    def _drop(self, node_id: int) -> None:
        for m in self.mailbox.get(node_id, []):
            self._print(f"dropped: {describe_message(m)}")
        self.mailbox[node_id] = []

    def stabilize(self, args: Args) -> None:
        ids = self._targets(args)
        moved = True
        while moved:
            moved = False
            for node_id in ids:
                moved |= self._handle_ready(self.nodes[node_id])
            for node_id in ids:
                moved |= self._deliver(node_id)

    def partition(self, args: Args) -> None:
        self.groups = [set(parse_ids(group)) for group in args.positional]
        self._print("partitioned: " + " ".join(describe_ids(g) for g in self.groups))

    def heal(self, args: Args) -> None:
        self.groups = []

    # -- inspecting ------------------------------------------------------------------------------

    def status(self, args: Args) -> None:
        st = self._node(args.positional[0]).raft.status()
        self._print(
            f"{st.id}: {st.role.value} term={st.term} vote={st.vote} commit={st.commit} "
            f"applied={st.applied} leader={st.leader} {describe_conf(st.conf_state)}"
        )
        if st.lead_transferee:
            self._print(f"transferring leadership to {st.lead_transferee}", 2, always=True)
        for peer, pr in st.progress.items():
            learner = " learner" if pr.learner else ""
            self._print(
                f"{peer}: {pr.state.value} match={pr.match} next={pr.next}{learner}", 2, always=True
            )

    def raft_log(self, args: Args) -> None:
        node = self._node(args.positional[0])
        if node.disk.snapshot is not None:
            self._print("snapshot " + describe_snapshot(node.disk.snapshot), always=True)
        for e in node.disk.entries:
            self._print(describe_entry(e), always=True)
        applied = ", ".join(f"{i}:{d.decode()}" for i, d in node.sm.applied)
        self._print(f"applied: [{applied}]", always=True)

    def log_level(self, args: Args) -> None:
        self.verbose = args.positional[0] != "none"


# -- scripts ---------------------------------------------------------------------------------


def run_script(text: str) -> str:
    """Run every command of a script; returns the script with the actual outputs in it."""
    env = Env()
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        if i >= len(lines) or lines[i] != "----":
            raise CommandError(f"line {i}: expected ---- after the command {line!r}")
        i += 1
        while i < len(lines) and lines[i].strip():
            i += 1  # the old output
        out += [line, "----", env.run(line)]
    return "\n".join(out) + "\n"
