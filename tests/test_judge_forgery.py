"""Forged grades, graded through the real pipeline (``grade_class``): the trusted judge decides every
test cell, so a student cell that rebinds ``checks``, installs an input transformer or a custom
exception handler, patches torch or the checks' namespace, or plants ``sys.modules`` above the setup
cell earns what the honest part of the answer earns: 0 for a blank notebook.

Forgeries built only from allowed constructs (rebinding ``checks``, patching torch) change nothing:
with the solution they keep full marks, with a blank or wrong answer they earn nothing. Forgeries that
need refused constructs (``get_ipython``, ``sys``, ``vars``) are also refused by the static policy,
which zeroes the parts it names (every part for a cell that defines no answer).

One class of 11 submissions, graded once for the module (about a minute and a half on two cores).
Nothing here is random: the checks use fixed seeds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.classroom import ClassReport, grade_class, load_course
from autograder.grading.sandbox import Limits
from autograder.grading.synthetic_class import (
    make_graded_course,
    release_notebook,
    solution_submission,
    submit,
)

ASSIGNMENT = "masks"
LIMITS = Limits(cell_timeout_s=20, notebook_timeout_s=150, memory_mb=4096)

REBIND_CHECKS = """class _Anything:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


checks = _Anything()
"""
INPUT_TRANSFORMER = "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
EXCEPTION_HANDLER = "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
PATCH_TORCH = """torch.equal = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
torch.count_nonzero = lambda t, *args, **kwargs: torch.tensor(t.numel())
torch.Tensor.__ne__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
"""
PATCH_VARS = """for _name in list(vars(checks)):
    if _name.startswith('check_'):
        vars(checks)[_name] = print
"""
PLANT_MODULES = """import sys, types
_fake = types.ModuleType('autograder.checks')
_fake.masks = types.SimpleNamespace(__getattr__=lambda name: (lambda *a, **k: None))
sys.modules['autograder.checks'] = _fake
sys.modules['autograder.checks.masks'] = _fake.masks
"""


def _with_cell(
    notebook: nbformat.NotebookNode, code: str, position: int | None = None
) -> nbformat.NotebookNode:
    """A copy with a free student cell holding ``code`` after the setup cell (or at ``position``)."""
    copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
    setup = next(
        i for i, c in enumerate(copy.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"
    )
    copy.cells.insert(setup + 1 if position is None else position, nbformat.v4.new_code_cell(code))
    return copy


def _submissions(course: Path) -> dict[str, nbformat.NotebookNode]:
    blank = release_notebook(course, ASSIGNMENT)
    solution = solution_submission(course, ASSIGNMENT)
    wrong = {entry.name: entry for entry in entries(ASSIGNMENT)}
    missing_rescale = filled_notebook(blank, submission_cells(ASSIGNMENT, wrong["missing_rescale"]))
    os_exit = {
        "dropout_forward": "import os\nos._exit(1)\n" + submission_cells(ASSIGNMENT, None)["dropout_forward"]
    }
    return {
        "solution": solution,
        "blank": blank,
        "blank_rebinds_checks": _with_cell(blank, REBIND_CHECKS),
        "solution_rebinds_checks": _with_cell(solution, REBIND_CHECKS),
        "blank_input_transformer": _with_cell(blank, INPUT_TRANSFORMER),
        "blank_exception_handler": _with_cell(blank, EXCEPTION_HANDLER),
        "blank_patches_torch": _with_cell(blank, PATCH_TORCH),
        "wrong_patches_torch": _with_cell(missing_rescale, PATCH_TORCH),
        "blank_patches_vars": _with_cell(blank, PATCH_VARS),
        "blank_plants_modules_above_setup": _with_cell(blank, PLANT_MODULES, position=0),
        "dies_in_second_answer": solution_submission(course, ASSIGNMENT, os_exit),
    }


@pytest.fixture(scope="module")
def graded() -> Iterator[tuple[Path, ClassReport]]:
    base = Path(tempfile.mkdtemp(prefix="forgery-test-", dir="/var/tmp"))
    try:
        course = make_graded_course(base / "course", (ASSIGNMENT,))
        for student, notebook in _submissions(course).items():
            submit(course, student, ASSIGNMENT, notebook)
        report = grade_class(ASSIGNMENT, course=load_course(course), jobs=2, limits=LIMITS, progress=False)
        yield course, report
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _scores(report: ClassReport) -> dict[str, tuple[float, float]]:
    return {r.student: (r.score, r.max_score) for r in report.results}


def test_the_solution_keeps_full_marks_and_a_blank_notebook_earns_nothing(graded) -> None:
    _, report = graded
    scores = _scores(report)
    assert scores["solution"][0] == scores["solution"][1] > 0, report.results
    assert scores["blank"][0] == 0.0


@pytest.mark.parametrize(
    "student",
    [
        "blank_rebinds_checks",
        "blank_input_transformer",
        "blank_exception_handler",
        "blank_patches_torch",
        "blank_patches_vars",
        "blank_plants_modules_above_setup",
    ],
)
def test_a_forgery_on_a_blank_notebook_earns_nothing(graded, student: str) -> None:
    _, report = graded
    assert _scores(report)[student][0] == 0.0, [r for r in report.results if r.student == student]


def test_rebinding_checks_changes_nothing_for_an_honest_answer(graded) -> None:
    _, report = graded
    score, total = _scores(report)["solution_rebinds_checks"]
    assert score == total > 0


def test_patching_torch_does_not_hide_a_missing_rescale(graded) -> None:
    _, report = graded
    scores = _scores(report)
    # the same wrong answer without the patches, graded by the checks in-process, loses these points too
    assert scores["wrong_patches_torch"][0] < scores["wrong_patches_torch"][1]
    result = next(r for r in report.results if r.student == "wrong_patches_torch")
    assert "test_forward_values" in result.failed_tests


def test_a_kernel_that_dies_keeps_the_points_judged_before(graded) -> None:
    course, report = graded
    result = next(r for r in report.results if r.student == "dies_in_second_answer")
    notebook = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    before = 0.0
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "dropout_forward":
            break
        if meta.get("grade") and not meta.get("solution"):
            before += float(meta.get("points", 0))
    assert before > 0
    assert result.score == before, result
    assert "died" in result.message
