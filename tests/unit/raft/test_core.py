"""Edge cases of the Raft core that the golden scripts do not show well."""

from __future__ import annotations

import pytest

from manager.raft.core import Config, RaftNode
from manager.raft.errors import ConfChangeInProgress, ProposalDropped
from manager.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Role,
    Snapshot,
    SnapshotMeta,
)
from tests.unit.raft.interaction import Env

VOTERS_123 = ConfState(voters=frozenset({1, 2, 3}))


def cluster(*commands: str) -> Env:
    """Three voters with 1 elected, then `commands`, all through the interaction language."""
    env = Env()
    for line in ("log-level none", "add-nodes 3", "campaign 1", "stabilize", *commands):
        env.run(line)
    return env


def drain(node: RaftNode) -> None:
    while node.has_ready():
        node.advance(node.ready())


def cc_entry(term: int, index: int, kind: ConfChangeType, node_id: int) -> Entry:
    return Entry(term, index, EntryType.CONF_CHANGE, ConfChange(kind, node_id).encode())


def test_proposal_on_a_follower_is_dropped_with_the_leader_as_hint() -> None:
    env = cluster()
    with pytest.raises(ProposalDropped) as excinfo:
        env.nodes[2].raft.propose(b"x")
    assert excinfo.value.leader == 1
    assert "retry on node 1" in str(excinfo.value)


def test_proposal_without_any_leader_says_so() -> None:
    node = RaftNode(Config(1), bootstrap=VOTERS_123)
    with pytest.raises(ProposalDropped) as excinfo:
        node.propose(b"x")
    assert excinfo.value.leader == 0
    with pytest.raises(ProposalDropped):
        node.read_index(b"ctx")
    with pytest.raises(ProposalDropped):
        node.transfer_leadership(2)


def test_second_conf_change_waits_until_the_first_is_applied() -> None:
    env = cluster()
    leader = env.nodes[1].raft
    index = leader.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    with pytest.raises(ConfChangeInProgress) as excinfo:
        leader.propose_conf_change(ConfChange(ConfChangeType.ADD_VOTER, 4))
    assert excinfo.value.pending_index == index
    env.run("stabilize")
    assert leader.conf_state.learners == {4}
    leader.propose_conf_change(ConfChange(ConfChangeType.ADD_VOTER, 4))  # now accepted


def test_a_new_leader_takes_conf_changes_once_it_applied_its_whole_log() -> None:
    # Its log may hold a conf change from the last term that it has not applied yet.
    log = [cc_entry(1, i, ConfChangeType.ADD_VOTER, i) for i in (1, 2, 3)] + [Entry(2, 4)]
    node = RaftNode(Config(1, pre_vote=False), hard_state=HardState(term=2, commit=3), entries=log)
    node.campaign()
    node.step(Message(MessageType.VOTE_RESP, to=1, frm=2, term=3))
    assert node.role is Role.LEADER
    with pytest.raises(ConfChangeInProgress):
        node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    node.step(Message(MessageType.APP_RESP, to=1, frm=2, term=3, index=5))
    drain(node)
    assert node.applied == 5
    assert node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4)) == 6


def test_restart_rebuilds_the_configuration_from_snapshot_and_committed_changes() -> None:
    snapshot = Snapshot(SnapshotMeta(index=10, term=2, conf_state=VOTERS_123))
    entries = [
        cc_entry(2, 11, ConfChangeType.ADD_LEARNER, 4),
        cc_entry(2, 12, ConfChangeType.REMOVE, 3),
        cc_entry(2, 13, ConfChangeType.ADD_VOTER, 4),  # not committed: not in effect
    ]
    node = RaftNode(
        Config(1),
        hard_state=HardState(term=2, vote=1, commit=12),
        snapshot=snapshot,
        entries=entries,
    )
    assert node.conf_state == ConfState(voters=frozenset({1, 2}), learners=frozenset({4}))
    assert (node.commit, node.applied, node.term) == (12, 10, 2)
    # The committed entries are handed out again for the state machine; their conf changes
    # are not applied a second time (which would undo later ones).
    rd = node.ready()
    assert [e.index for e in rd.committed_entries] == [11, 12]
    assert rd.hard_state is None  # nothing changed: nothing to persist
    node.advance(rd)
    assert node.conf_state == ConfState(voters=frozenset({1, 2}), learners=frozenset({4}))
    assert node.applied == 12


def test_restart_refuses_a_commit_index_beyond_the_log() -> None:
    with pytest.raises(ValueError, match="beyond the last log entry"):
        RaftNode(Config(1), hard_state=HardState(term=1, commit=5), entries=[Entry(1, 1)])


def test_stale_unknown_and_malformed_messages_are_ignored() -> None:
    env = cluster()
    follower = env.nodes[2].raft
    drain(follower)
    before = follower.status()
    garbage = [
        Message(MessageType.APP, to=2, frm=1, term=1, index=4, log_term=2),  # stale term
        Message(MessageType.APP, to=3, frm=1, term=2),  # not for us
        Message(MessageType.APP, to=2, frm=0, term=2),  # no sender
        Message(MessageType.APP, to=2, frm=1, term=2, index=4, entries=(Entry(2, 9),)),  # hole
        Message(MessageType.SNAP, to=2, frm=1, term=2, snapshot=None),
        Message(MessageType.VOTE_RESP, to=2, frm=3, term=2),  # not a candidate
        Message(MessageType.HEARTBEAT_RESP, to=2, frm=1, term=2),  # not a leader
        Message(MessageType.HEARTBEAT, to=2, frm=1, term=0),  # no term
    ]
    for m in garbage:
        follower.step(m)
    assert follower.status() == before
    leader = env.nodes[1].raft
    drain(leader)
    leader.step(Message(MessageType.APP_RESP, to=1, frm=9, term=2, index=100))  # unknown peer
    assert leader.commit == before.commit
    # Only the stale APP gets an answer (so that a stale leader learns the newer term).
    rd = follower.ready()
    assert [(m.type, m.to, m.term) for m in rd.messages] == [(MessageType.APP_RESP, 1, 2)]


def test_entries_of_an_earlier_term_commit_only_with_one_of_the_current_term() -> None:
    # 1 and 2 hold entry 4 of term 2, never committed. 1 becomes leader in term 3 and
    # appends 5. 2 acknowledging 4 is a quorum for 4, but 4 is not of term 3: no commit.
    log = [cc_entry(1, i, ConfChangeType.ADD_VOTER, i) for i in (1, 2, 3)] + [Entry(2, 4)]
    node = RaftNode(Config(1, pre_vote=False), hard_state=HardState(term=2, commit=3), entries=log)
    node.campaign()
    node.step(Message(MessageType.VOTE_RESP, to=1, frm=2, term=3))
    assert node.role is Role.LEADER
    drain(node)
    node.step(Message(MessageType.APP_RESP, to=1, frm=2, term=3, index=4))
    assert node.commit == 3
    node.step(Message(MessageType.APP_RESP, to=1, frm=2, term=3, index=5))
    assert node.commit == 5


def test_ready_carries_hard_and_soft_state_only_when_they_change() -> None:
    env = cluster()
    leader = env.nodes[1].raft
    drain(leader)
    leader.propose(b"x")
    rd = leader.ready()
    assert rd.hard_state is None and rd.soft_state is None
    assert [e.data for e in rd.entries] == [b"x"]
    # Handed out once: a second ready() before advance() does not repeat it.
    assert leader.ready().entries == ()
    leader.advance(rd)


def test_single_voter_commits_and_reads_alone() -> None:
    node = RaftNode(Config(1), bootstrap=ConfState(voters=frozenset({1})))
    node.campaign()
    assert node.role is Role.LEADER
    index = node.propose(b"x")
    node.read_index(b"r")
    rd = node.ready()
    assert node.commit == index
    assert [e.data for e in rd.committed_entries][-1] == b"x"
    assert [(r.index, r.context) for r in rd.read_states] == [(index, b"r")]


def test_election_timeouts_are_random_but_deterministic() -> None:
    def ticks_to_campaign(config: Config) -> int:
        node = RaftNode(config, bootstrap=VOTERS_123)
        for tick in range(1, 100):
            node.tick()
            if node.role is not Role.FOLLOWER:
                return tick
        raise AssertionError("never campaigned")

    timeouts = [ticks_to_campaign(Config(i, seed=7)) for i in (1, 2, 3)]
    assert timeouts == [ticks_to_campaign(Config(i, seed=7)) for i in (1, 2, 3)]
    assert all(10 <= t < 20 for t in timeouts)
    many = {ticks_to_campaign(Config(1, seed=s)) for s in range(20)}
    assert len(many) > 1


def test_compacting_beyond_the_applied_index_is_refused() -> None:
    env = cluster()
    node = env.nodes[1].raft
    snapshot = Snapshot(SnapshotMeta(index=node.applied + 1, term=2, conf_state=VOTERS_123))
    with pytest.raises(ValueError, match="applied"):
        node.compact(snapshot)


def test_transfer_to_a_non_voter_or_to_itself_is_ignored() -> None:
    env = cluster()
    leader = env.nodes[1].raft
    drain(leader)
    leader.transfer_leadership(1)
    leader.transfer_leadership(9)
    assert leader.status().lead_transferee == 0
    assert not leader.has_ready()


def test_a_joining_member_waits_to_learn_its_configuration() -> None:
    node = RaftNode(Config(4))
    for _ in range(50):
        node.tick()
    assert node.role is Role.FOLLOWER and not node.has_ready()


def lose_the_snapshot_to_3() -> Env:
    """3 was away while the leader compacted: run until the leader sends it its snapshot,
    and lose that message."""
    env = cluster("partition (1,2) (3)", "propose 1 a", "stabilize", "compact 1 5", "heal")
    env.run("tick-heartbeat 1")
    for _ in range(10):
        env.run("process-ready 1 2 3")
        if any(m.type is MessageType.SNAP for m in env.mailbox[3]):
            break
        env.run("deliver-msgs")
    assert [m.type for m in env.mailbox[3]] == [MessageType.SNAP]
    env.run("drop-msgs 3")
    assert env.nodes[1].raft.status().progress[3].state.value == "snapshot"
    return env


def test_a_lost_snapshot_is_sent_again_after_an_election_timeout() -> None:
    env = lose_the_snapshot_to_3()
    leader = env.nodes[1].raft
    env.run("stabilize")
    assert leader.status().progress[3].state.value == "snapshot"  # still waiting
    for _ in range(10):
        leader.tick()
    env.run("stabilize")
    assert leader.status().progress[3].match == leader.commit
    assert env.nodes[3].raft.applied == leader.commit


def test_report_snapshot_failure_makes_the_leader_probe_again() -> None:
    env = lose_the_snapshot_to_3()
    leader = env.nodes[1].raft
    leader.report_snapshot(3, success=False)
    assert leader.status().progress[3].state.value == "probe"
    env.run("tick-heartbeat 1")
    env.run("stabilize")
    assert env.nodes[3].raft.applied == leader.commit
