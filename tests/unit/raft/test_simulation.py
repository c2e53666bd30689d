"""Randomized simulation of Raft clusters under faults (see sim.py for what is simulated).

Environment knobs:
    SHOAL_SIM_SEEDS   how many seeds (default: about 10 s of seeds, about a minute with CI=true)
    SHOAL_SIM_SEED    the first seed (default: random; always printed)
    SHOAL_SIM_TRACE=1 print every event of every seed (for replaying one seed)

Replay a failure exactly:
    SHOAL_SIM_SEED=1234 SHOAL_SIM_SEEDS=1 .venv/bin/pytest tests/unit/raft/test_simulation.py
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from manager.raft.core import RaftNode
from manager.raft.log import RaftLog
from manager.raft.types import Entry, HardState, Message
from tests.unit.raft.sim import run_seed
from tests.unit.raft.sim_node import Durable

# About 30 ms per seed on the 2-core CI machine (measured): 300 seeds ~ 10 s, 1800 ~ 1 min.
LOCAL_SEEDS = 300
CI_SEEDS = 1800


def _seeds() -> tuple[int, int]:
    count = os.environ.get("SHOAL_SIM_SEEDS")
    if count is not None:
        n = int(count)
    else:
        n = CI_SEEDS if os.environ.get("CI", "").lower() in ("1", "true", "yes") else LOCAL_SEEDS
    first = os.environ.get("SHOAL_SIM_SEED")
    start = int(first) if first is not None else random.SystemRandom().randrange(1 << 31)
    return start, n


def _replay(seed: int) -> str:
    return (
        f"SHOAL_SIM_SEED={seed} SHOAL_SIM_SEEDS=1 SHOAL_SIM_TRACE=1 "
        ".venv/bin/pytest -s tests/unit/raft/test_simulation.py"
    )


def test_simulated_clusters_stay_safe_under_faults(capsys: pytest.CaptureFixture[str]) -> None:
    start, n = _seeds()
    with capsys.disabled():
        print(f"\nraft simulation: seeds {start}..{start + n - 1} ({n})")
        print(f"raft simulation: replay one with {_replay(start)}")
    began = time.monotonic()
    for seed in range(start, start + n):
        try:
            run_seed(seed)
        except AssertionError as e:
            raise AssertionError(f"{e}\n\nreplay: {_replay(seed)}") from e
    with capsys.disabled():
        print(f"raft simulation: {n} seeds in {time.monotonic() - began:.1f}s, all safe")


def test_a_seed_replays_identically() -> None:
    # Determinism is what makes a failing seed useful: same seed, same run.
    a, b = run_seed(7), run_seed(7)
    assert a == b
    assert a.ops > 0 and a.terms > 0


def _grant_any_vote(monkeypatch: pytest.MonkeyPatch) -> None:
    # Voters stop comparing logs: a stale node can win and overwrite committed entries.
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)


def _read_without_quorum(monkeypatch: pytest.MonkeyPatch) -> None:
    # A leader answers ReadIndex at once: a deposed leader serves stale reads.
    def answer_now(self: RaftNode, m: Message) -> None:
        self._respond_read(m.frm, self._log.committed, m.context)

    monkeypatch.setattr(RaftNode, "_leader_read_index", answer_now)


def _forget_vote(monkeypatch: pytest.MonkeyPatch) -> None:
    # The vote is not persisted: after a crash a node may vote twice in one term.
    save = Durable.save

    def without_vote(
        self: Durable, node_id: int, hs: HardState | None, entries: tuple[Entry, ...]
    ) -> None:
        save(self, node_id, None if hs is None else replace(hs, vote=0), entries)

    monkeypatch.setattr(Durable, "save", without_vote)


@pytest.mark.parametrize(
    ("breakage", "caught_by"),
    [
        (_grant_any_vote, r"leader completeness|state machine safety|log matching"),
        (_read_without_quorum, r"not linearizable"),
        (_forget_vote, r"voted for \d+ then for|two leaders"),
    ],
)
def test_the_simulation_catches_a_broken_raft(
    breakage: Callable[[pytest.MonkeyPatch], None],
    caught_by: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A checker that never fails proves nothing: break Raft on purpose, expect the right alarm.
    breakage(monkeypatch)
    for seed in range(1, 400):
        try:
            run_seed(seed)
        except AssertionError as e:
            assert re.search(caught_by, str(e)), str(e)[:2000]
            return
    pytest.fail(f"{breakage.__name__}: 400 seeds ran and no check failed")
