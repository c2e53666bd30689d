"""Golden-output interaction tests of the orchestrators: tests/testdata/orchestrator/*.txt.

Run with --rewrite-golden to rewrite the files from the current behaviour, then review the
diff: the output must be what Swarm would do, not merely what the code printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.orchestrator.interaction import run_script

TESTDATA = Path(__file__).resolve().parents[2] / "testdata" / "orchestrator"
SCRIPTS = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 6, f"expected the interaction scripts in {TESTDATA}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_interaction(path: Path, rewrite_golden: bool) -> None:
    expected = path.read_text()
    actual = run_script(expected)
    if rewrite_golden:
        path.write_text(actual)
        return
    assert actual == expected, f"{path.name} differs; rerun with --rewrite-golden and review"
