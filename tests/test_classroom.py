"""Grading a whole class: broken submissions get clear results while the rest is graded, no grade is
lost, re-runs grade only what changed, and feedback never shows hidden tests.

One class is graded once for the module (about two minutes on two cores); the tests read its results.
Nothing here is random: the solutions and wrong answers are graded with fixed seeds by the checks.
"""

from __future__ import annotations

import csv
import html
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.classroom import ClassReport, format_report, grade_class, load_course
from autograder.grading.course import nbgrader_env
from autograder.grading.sandbox import Limits, isolation_available
from autograder.grading.synthetic_class import (
    make_graded_course,
    release_notebook,
    solution_submission,
    submit,
)

ASSIGNMENT = "masks"
# Generous enough for a loaded 2-core machine (the setup cell imports torch); the endless-loop
# submissions still meet both limits.
LIMITS = Limits(cell_timeout_s=25, notebook_timeout_s=150, memory_mb=4096)
ISOLATED, WHY_NOT_ISOLATED = isolation_available()
needs_isolation = pytest.mark.skipif(not ISOLATED, reason=WHY_NOT_ISOLATED)


_LOOP = "    while True:\n        pass"
_MEMORY_HOG = "import numpy\n_hog = []\nwhile True:\n    _hog.append(numpy.empty(2**30, dtype=numpy.uint8))"


def _prefix(code: str) -> dict[str, str]:
    """The solution's dropout_mask cell with ``code`` run first."""
    return {"dropout_mask": code + "\n" + submission_cells(ASSIGNMENT, None)["dropout_mask"]}


def _bad_submissions(course: Path) -> dict[str, nbformat.NotebookNode | str]:
    root = str(course)
    release = release_notebook(course, ASSIGNMENT)
    wrong = {entry.name: entry for entry in entries(ASSIGNMENT)}
    solution = solution_submission(course, ASSIGNMENT)

    deleted = nbformat.from_dict(json.loads(json.dumps(solution)))
    deleted.cells = [
        c
        for c in deleted.cells
        if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_forward")
    ]
    edited = nbformat.from_dict(json.loads(json.dumps(solution)))
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_"):
            cell.source = "pass  # the student emptied this test"
    top_level_loop = nbformat.from_dict(json.loads(json.dumps(solution)))
    top_level_loop.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    other = make_graded_course(course.parent / "other-course", ("autograd",))
    from_autograd = solution_submission(other, "autograd")

    return {
        "good": solution,
        "wrong_missing_rescale": filled_notebook(
            release, submission_cells(ASSIGNMENT, wrong["missing_rescale"])
        ),
        "loop_in_solution_cell": solution_submission(course, ASSIGNMENT, _prefix("while True:\n    pass")),
        "loop_at_top_level": top_level_loop,
        "loop_in_function": solution_submission(
            course,
            ASSIGNMENT,
            {"dropout_mask": "def dropout_mask(shape, p, generator=None, device=None):\n" + _LOOP},
        ),  # fmt: skip
        "exception": solution_submission(course, ASSIGNMENT, _prefix("raise ValueError('my bug')")),
        "syntax_error": solution_submission(
            course, ASSIGNMENT, {"dropout_forward": "def dropout_forward(x, p:\n"}
        ),
        "deleted_test_cells": deleted,
        "edited_test_cells": edited,
        "invalid_json": '{"cells": [ this is not json',
        "empty_notebook": nbformat.v4.new_notebook(),
        "other_assignment": from_autograd,
        "monkeypatch": filled_notebook(release, submission_cells(ASSIGNMENT, wrong["tamper_with_grader"])),
        "builtin_dropout": filled_notebook(release, submission_cells(ASSIGNMENT, wrong["builtin_dropout"])),
        "memory_hog": solution_submission(
            course, ASSIGNMENT, _prefix(_MEMORY_HOG)
        ),
        "huge_output": solution_submission(course, ASSIGNMENT, _prefix("print('x' * 8_000_000)")),
        "sys_exit": solution_submission(course, ASSIGNMENT, _prefix("import sys\nsys.exit(3)")),
        "os_exit": solution_submission(course, ASSIGNMENT, _prefix("import os\nos._exit(1)")),
        "reads_hidden_tests": solution_submission(
            course,
            ASSIGNMENT,
            _prefix(
                "import glob\n_found = []\n"
                f"for _pattern in [{root!r} + '/source/**/*.ipynb', {root!r} + '/gradebook.db',\n"
                f"                 {root!r} + '/submitted/*/masks/*.ipynb',\n"
                f"                 {root!r} + '/autograded/**/*.ipynb']:\n"
                "    for _path in glob.glob(_pattern, recursive=True):\n"
                "        try:\n"
                "            _found.append(open(_path, 'rb').read())\n"
                "        except OSError:\n"
                "            pass\n"
                "print('LEAKED', sum(b'BEGIN HIDDEN TESTS' in _c for _c in _found))"
            ),
        ),  # fmt: skip
        "writes_outside": solution_submission(
            course,
            ASSIGNMENT,
            _prefix(
                f"for _path in [{root!r} + '/pwned.txt', {root!r} + '/submitted/good/masks/pwned.txt']:\n"
                "    try:\n"
                "        open(_path, 'w').write('x')\n"
                "        print('WROTE', _path)\n"
                "    except OSError as _error:\n"
                "        print('BLOCKED', type(_error).__name__)"
            ),
        ),  # fmt: skip
    }


@pytest.fixture(scope="module")
def graded() -> Iterator[tuple[Path, ClassReport]]:
    base = Path(tempfile.mkdtemp(prefix="class-test-", dir="/var/tmp"))  # outside the kernels' private /tmp
    try:
        course = make_graded_course(base / "course", (ASSIGNMENT,))
        for student, notebook in _bad_submissions(course).items():
            submit(course, student, ASSIGNMENT, notebook)
        report = grade_class(ASSIGNMENT, course=load_course(course), jobs=2, limits=LIMITS, progress=False)
        print(format_report(report))
        yield course, report
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _result(report: ClassReport, student: str):
    return next(result for result in report.results if result.student == student)


def _autograded_text(course: Path, student: str) -> str:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(
        output.get("text", "") + output.get("evalue", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def test_every_submission_gets_a_result_and_none_is_lost(graded) -> None:
    course, report = graded
    students = {p.name for p in (course / "submitted").iterdir()}
    assert {r.student for r in report.results} == students
    with (course / "grades" / f"{ASSIGNMENT}.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == students
    for result in report.results:
        assert rows[result.student]["score"] == str(result.score)
        if result.score < result.max_score:
            assert result.message, f"{result.student} lost points without a message"


def test_correct_and_repaired_submissions_score_full_marks(graded) -> None:
    _, report = graded
    for student in ("good", "edited_test_cells", "deleted_test_cells", "huge_output"):
        result = _result(report, student)
        assert (result.status, result.score) == ("graded", result.max_score), (student, result.message)
    assert "restored deleted test cells" in _result(report, "deleted_test_cells").message


@pytest.mark.parametrize("student", ["reads_hidden_tests", "writes_outside"])
def test_refused_constructs_cost_only_the_part_whose_cell_uses_them(graded, student: str) -> None:
    # The attack code sits in the dropout_mask cell: ``open`` and ``import glob`` are refused by the
    # static from-scratch policy, so exactly the tests of dropout_mask score zero, with a message naming
    # the construct; dropout_forward and dropout_backward (which call dropout_mask) keep their points.
    course, report = graded
    result = _result(report, student)
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    mask_tests = {
        c.metadata["nbgrader"]["grade_id"]
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("grade") and "checks.check_mask" in c.source
    }
    assert mask_tests and set(result.failed_tests) == mask_tests, (result.failed_tests, result.message)
    assert "not written from scratch" in result.message and "[R" in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("invalid_json", "not a valid notebook"),
        ("empty_notebook", "none of the cells"),
        ("other_assignment", "another assignment"),
        ("loop_in_function", "time limit"),
    ],
)
def test_unscorable_submissions_fail_with_a_clear_reason(graded, student: str, words: str) -> None:
    result = _result(graded[1], student)
    assert result.status == "failed" and result.score == 0.0
    assert words in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("wrong_missing_rescale", "should be"),
        ("loop_in_solution_cell", "your cell dropout_mask raised"),
        ("exception", "my bug"),
        ("syntax_error", "your cell dropout_forward raised SyntaxError"),
        ("monkeypatch", "not written from scratch"),  # the static policy refuses the tampering
        ("builtin_dropout", "from scratch"),
        ("memory_hog", "MemoryError"),
        ("sys_exit", "SystemExit"),
        ("os_exit", "the kernel died"),
    ],
)
def test_broken_code_loses_points_with_a_message(graded, student: str, words: str) -> None:
    result = _result(graded[1], student)
    assert result.score < result.max_score, (student, result.score)
    assert words in result.message, result.message


def test_top_level_loop_costs_only_the_cell_that_loops(graded) -> None:
    result = _result(graded[1], "loop_at_top_level")
    assert result.status == "graded" and result.score == result.max_score, result.message
    assert "your cell #3 raised" in result.message, result.message


@needs_isolation
def test_students_cannot_read_hidden_tests_or_write_outside(graded) -> None:
    course, _ = graded
    # Without the sandbox the source notebook alone would count: it holds every hidden test.
    assert "LEAKED 0" in _autograded_text(course, "reads_hidden_tests")
    assert not (course / "pwned.txt").exists()
    assert not (course / "submitted" / "good" / ASSIGNMENT / "pwned.txt").exists()
    assert "WROTE" not in _autograded_text(course, "writes_outside")


def test_huge_output_is_cut(graded) -> None:
    course, _ = graded
    path = course / "autograded" / "huge_output" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 2_000_000


def test_rerun_grades_only_changed_submissions(graded) -> None:
    course, first = graded
    submit(course, "good", ASSIGNMENT, solution_submission(course, ASSIGNMENT, _prefix("# resubmitted")))
    report = grade_class(ASSIGNMENT, course=load_course(course), jobs=2, limits=LIMITS, progress=False)
    assert [r.student for r in report.results] == ["good"]
    assert len(report.skipped) == len(first.results) - 1
    assert _result(report, "good").score == _result(report, "good").max_score


def test_feedback_shows_scores_and_messages_but_never_hidden_tests(graded) -> None:
    course, report = graded
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
        cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    hidden_lines = set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == "### BEGIN HIDDEN TESTS":
                inside = True
            elif line.strip() == "### END HIDDEN TESTS":
                inside = False
            elif inside and line.strip():
                hidden_lines.add(line.strip())
    assert hidden_lines, "the assignment has hidden tests"
    wrong = course / "feedback" / "wrong_missing_rescale" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = html.unescape(wrong.read_text())
    for line in hidden_lines:
        assert line not in text, f"hidden test source leaked into feedback: {line}"
    assert "most recent call last" not in text and "Cell In[" not in text, "a traceback is shown"
    failed = _result(report, "wrong_missing_rescale")
    assert f"{failed.score:g}" in text or f"{failed.score}" in text
    assert "should be" in text, "the checks' messages are in the feedback"
    for page in (course / "feedback").rglob("*.html"):
        page_text = html.unescape(page.read_text())
        assert not any(line in page_text for line in hidden_lines), page
