"""The self-check end to end: the real nbgrader pipeline on the solutions and every catalogue entry,
check coverage, and 10,000 seeds of every statistical check on the reference.

False-failure rate of this test: each of the 22 binomial intervals of the 15 statistical checks fails a
correct answer with probability <= 1e-10, so 10,000 seeds fail by chance with probability
<= 10,000 x 22 x 1e-10 = 2.2e-5 (the command prints the exact expectation).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from autograder.grading.catalogue import CATALOGUE
from autograder.grading.course import ROOT, nbgrader_env


@pytest.mark.slow
def test_selfcheck_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "selfcheck", "--no-progress"],
        cwd=ROOT,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert (
        f"{len(CATALOGUE)} of {len(CATALOGUE)} entries lose points; solutions at full marks: True" in output
    )
    failures = re.search(r"(\d+) failures in ([\d,]+) runs", output)
    assert failures and failures.group(1) == "0", output[-3000:]
    assert int(failures.group(2).replace(",", "")) >= 10_000
    assert "selfcheck: PASSED" in output
