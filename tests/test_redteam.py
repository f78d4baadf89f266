"""The red-team suite: one class of attacks (tests/redteam/) graded through the real class grader.

Each attack is a submission a student who wants the points would hand in: verdict forgeries,
from-scratch bypasses, sandbox escapes, leaks of hidden tests, notebook structure tampering, scripts in
the feedback, resource exhaustion. The class (every attack plus one control per honest base answer)
is graded once for the module with ``grade_class`` (2 jobs), feedback is generated with nbgrader, and
each attack is one test parameter that passes when the grader held (see ``tests/redteam/__init__.py``
for what "held" means). Nothing is random: the checks seed themselves and every attack is deterministic.

Cost: about 80 submissions graded with 2 jobs, then one feedback page per student: about 12 minutes
of wall time on 2 cores (counting the attacks that wait out time limits). With ``REDTEAM_REPORT=path``
set, the fixture also writes the table of results there (how ``tests/redteam/BEFORE.md``, the grader
before the judge, and ``tests/redteam/AFTER.md`` were made); ``REDTEAM_KEEP=1`` keeps the graded
course for inspection; ``-k NAME`` grades only the named attacks and the controls.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from redteam import KINDS, Context, all_attacks
from redteam.harness import (
    CONTROLS,
    SECRET,
    RedTeamRun,
    attack_notebook,
    checks_lines,
    clean,
    hidden_test_lines,
    report_path_from_env,
    run_class,
    write_report,
)

from autograder.grading.course import EXERCISES, SOLUTIONS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ATTACKS = all_attacks()
REPORT_COMMAND = "REDTEAM_REPORT=tests/redteam/AFTER.md .venv/bin/pytest tests/test_redteam.py"


def _selected(request: pytest.FixtureRequest) -> list:
    """The attacks whose test_grader_holds is selected (``-k NAME`` grades only those and the
    controls); all of them when none is selected."""
    names = {
        item.callspec.params["attack"].name
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_grader_holds" and hasattr(item, "callspec")
    }
    return [attack for attack in ATTACKS if attack.name in names] or ATTACKS


@pytest.fixture(scope="module")
def red_team(request: pytest.FixtureRequest) -> Iterator[RedTeamRun]:
    base = Path(tempfile.mkdtemp(prefix="redteam-", dir="/var/tmp"))  # outside the kernels' private /tmp
    run = None
    try:
        run = run_class(base, _selected(request))
        report = report_path_from_env()
        if report is not None:
            write_report(run, report, REPORT_COMMAND)
        yield run
    finally:
        clean(base, run)


def test_the_suite_covers_every_kind_with_forty_attacks() -> None:
    assert len(ATTACKS) >= 40, len(ATTACKS)
    assert {attack.kind for attack in ATTACKS} == set(KINDS)
    assert not set(CONTROLS) & {attack.name for attack in ATTACKS}


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_valid_and_quotes_no_secret(attack) -> None:
    """Every attack's code compiles, and no attack writes a hidden-test or checks line itself (the
    feedback checks would otherwise blame the grader for the student's own text)."""
    source = SOLUTIONS / "masks" / "masks.ipynb"
    release = EXERCISES / "masks" / "masks.ipynb"
    secret_lines = hidden_test_lines(source, release) | checks_lines(source, release)
    context = Context(Path("/course"), Path("/repo"), Path("/site"), "0000", 1, 4096)
    notebook = attack_notebook(attack, nbformat.read(release, as_version=4), context)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            compile(cell.source, f"<{attack.name} cell {index}>", "exec")
        quoted = [line for line in secret_lines if line in cell.source]
        quoted += [SECRET] if SECRET in cell.source else []
        assert not quoted, f"{attack.name} quotes {quoted[:2]} itself: its feedback would blame the grader"


def test_controls_grade_as_expected(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["controls"], red_team.global_problems["controls"]


def test_every_submission_has_a_result_in_the_report_and_csv(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["results"], red_team.global_problems["results"]


def test_gradebook_matches_the_report(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["gradebook"], red_team.global_problems["gradebook"]


def test_no_file_outside_the_private_copies_changed(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["canaries"], red_team.global_problems["canaries"][:20]


def test_no_kernel_reached_the_host_network(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["network"], red_team.global_problems["network"]


def test_feedback_is_generated(red_team: RedTeamRun) -> None:
    assert not red_team.global_problems["feedback"], red_team.global_problems["feedback"]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_grader_holds(red_team: RedTeamRun, attack) -> None:
    problems = red_team.problems[attack.name]
    assert not problems, f"{attack.name} ({attack.kind}: {attack.summary}) broke the grader: " + "; ".join(
        problems
    )
