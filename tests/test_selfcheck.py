"""The self-check end to end: the real nbgrader pipeline on the solutions and every catalogue entry,
check coverage, and 10,000 seeds of every statistical check on the reference.

False-failure rate of this test: each of the 51 binomial intervals of the 19 statistical checks fails a
correct answer with probability <= 1e-10, so 10,000 seeds fail by chance with probability
<= 10,000 x 51 x 1e-10 = 5.1e-5 (the command prints the exact expectation).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.catalogue import CATALOGUE
from autograder.grading.course import ASSIGNMENTS, ROOT, nbgrader_env


@pytest.mark.slow
def test_selfcheck_passes(tmp_path: Path) -> None:
    report_path = tmp_path / "selfcheck.json"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "selfcheck", "--no-progress", "--json", str(report_path)],
        cwd=ROOT,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    pipeline, matrix, statistics = report["pipeline"], report["matrix"], report["statistics"]
    # 1. Every entry of the catalogue loses points; every solution scores full marks.
    assert set(pipeline["entries_lost"]) == {entry.name for entry in CATALOGUE}
    assert all(lost > 0 for lost in pipeline["entries_lost"].values()), pipeline["entries_lost"]
    assert pipeline["solutions_lost"] == {a: 0 for a in ASSIGNMENTS}
    # 2. Every check catches some entry on its merits; no check fails a solution.
    assert matrix["catches"] and all(matrix["catches"].values()), matrix["catches"]
    assert matrix["solution_failures"] == {}
    assert all(bound < 1e-6 for bound in matrix["false_failure_bounds"].values())
    # 3. Zero false failures in at least 10,000 seeds of every statistical check.
    assert statistics["runs"] >= 10_000 * len(statistics["failures"])
    assert sum(statistics["failures"].values()) == 0, statistics["failures"]
    assert "selfcheck: PASSED" in output
