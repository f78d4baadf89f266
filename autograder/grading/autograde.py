"""Grading machinery behind the self-check: submissions from catalogue entries, nbgrader, the gradebook.

Two ways to grade a catalogue entry:

* :func:`autograde` runs the real pipeline: a throwaway nbgrader course, ``generate_assignment``,
  one submission per entry (the released notebook with its solution cells filled in), one
  ``nbgrader autograde`` call per assignment, and the per-test-cell scores read from the gradebook.
* :func:`check_matrix` runs every check of an assignment in-process on an entry's code (fast, and
  names the *check* that caught it, not only the test cell). It should run in a child process
  (:func:`check_matrix_in_subprocess`): entries marked ``tampers`` monkeypatch torch.
"""

from __future__ import annotations

import inspect
import json
import linecache
import subprocess
import sys
import types
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .catalogue import CATALOGUE, WrongAnswer
from .cells import nbgrader_meta
from .course import ASSIGNMENTS, SOLUTIONS, generate, make_course, nbgrader_env, run_nbgrader
from .gradebook import open_gradebook

SOLUTION_STUDENT = "solution"
_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)


def solution_code(assignment: str) -> dict[str, str]:
    """Each solution cell's code with nbgrader's solution markers removed, by grade id."""
    code = {}
    for cell in source_notebook(assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in (_BEGIN, _END)]
            code[meta["grade_id"]] = "\n".join(lines) + "\n"
    return code


def filled_notebook(release: nbformat.NotebookNode, cells: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the released notebook whose solution cells hold ``cells`` (by grade id)."""
    notebook = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution") and meta["grade_id"] in cells:
            cell.source = cells[meta["grade_id"]]
    return notebook


def submission_cells(assignment: str, entry: WrongAnswer | None) -> dict[str, str]:
    """The solution's cells with the entry's replacements (all solution cells when ``entry`` is None)."""
    cells = solution_code(assignment)
    if entry is not None:
        unknown = set(entry.cells) - set(cells)
        if unknown:
            raise KeyError(
                f"catalogue entry {entry.name} names no solution cell {sorted(unknown)} in {assignment}"
            )
        cells.update(entry.cells)
    return cells


# ---------------------------------------------------------------------------------------------------
# The real pipeline
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradedSubmission:
    """One student's result from the gradebook: score and the test cells that lost points."""

    student: str
    assignment: str
    score: float
    max_score: float
    failed_tests: tuple[str, ...]

    @property
    def lost(self) -> float:
        return self.max_score - self.score


def autograde(
    work: Path,
    entries: Iterable[WrongAnswer] = CATALOGUE,
    assignments: tuple[str, ...] = ASSIGNMENTS,
    *,
    jobs: int = 2,
    progress: Any = None,
) -> dict[tuple[str, str], GradedSubmission]:
    """Generate, submit the solution and every entry, autograde; results by (assignment, student).

    Each assignment gets a course of its own (``work/<assignment>``, with its own gradebook), so up to
    ``jobs`` assignments are autograded at once without sharing a SQLite database.
    """
    entries = list(entries)

    def one(assignment: str) -> dict[tuple[str, str], GradedSubmission]:
        course = work / assignment
        make_course(course, (assignment,))
        generate(course, (assignment,))
        release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
        students: dict[str, WrongAnswer | None] = {SOLUTION_STUDENT: None}
        students.update({e.name: e for e in entries if e.assignment == assignment})
        for student, entry in students.items():
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            notebook = filled_notebook(release, submission_cells(assignment, entry))
            nbformat.write(notebook, folder / f"{assignment}.ipynb")
            (folder / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
        run_nbgrader(["autograde", assignment, "--force", "--create"], course)
        graded = read_gradebook(course, assignment, list(students))
        if progress is not None:
            progress.update(len(students))
        return graded

    results: dict[tuple[str, str], GradedSubmission] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for graded in pool.map(one, assignments):
            results.update(graded)
    return results


def read_gradebook(
    work: Path, assignment: str, students: list[str]
) -> dict[tuple[str, str], GradedSubmission]:
    results = {}
    with open_gradebook(f"sqlite:///{work / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission_notebook(assignment, assignment, student)
            failed = tuple(g.name for g in submission.grades if (g.score or 0.0) < g.max_score)
            results[(assignment, student)] = GradedSubmission(
                student, assignment, float(submission.score), float(submission.max_score), failed
            )
    return results


# ---------------------------------------------------------------------------------------------------
# In-process: which checks catch which entry
# ---------------------------------------------------------------------------------------------------
def _exec_cell(code: str, namespace: dict[str, Any], filename: str) -> None:
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 - the point: run a notebook's cells


def answer_namespace(assignment: str, entry: WrongAnswer | None) -> dict[str, Any]:
    """Run the notebook's setup cell and its (possibly replaced) solution cells; return the namespace."""
    # A module registered under its name, as a kernel's ``__main__`` is: ``@dataclass`` (a cache in
    # another form) looks its class's module up in ``sys.modules``.
    module = types.ModuleType("__submission__")
    sys.modules[module.__name__] = module
    namespace: dict[str, Any] = module.__dict__
    cells = submission_cells(assignment, entry)
    label = entry.name if entry is not None else SOLUTION_STUDENT
    for cell in source_notebook(assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("grade_id") == "setup":
            _exec_cell(cell.source, namespace, f"<{label}:{assignment}:setup>")
        elif meta.get("solution"):
            grade_id = meta["grade_id"]
            _exec_cell(cells[grade_id], namespace, f"<{label}:{assignment}:{grade_id}>")
    return namespace


def check_matrix(assignment: str, entry: WrongAnswer | None) -> dict[str, str | None]:
    """Every check of the assignment on the entry's answer: check name -> failure message or None."""
    from autograder import checks

    namespace = answer_namespace(assignment, entry)
    module = checks.ASSIGNMENT_MODULES[assignment]
    verdicts: dict[str, str | None] = {}
    for name, info in checks.REGISTRY.items():
        if info.assignment != assignment:
            continue
        function = getattr(module, name.split(".", 1)[1])
        params = [p for p in inspect.signature(function).parameters if p != "seed"]
        try:
            function(*[namespace[p] for p in params])
            verdicts[name] = None
        except AssertionError as error:
            verdicts[name] = str(error)
    return verdicts


def _matrix_main() -> None:
    """Child-process entry: print the full matrix (solutions and every entry) as JSON."""
    ordered = sorted(CATALOGUE, key=lambda e: e.tampers)  # tampering entries last: they pollute torch
    matrix = {f"{a}:{SOLUTION_STUDENT}": check_matrix(a, None) for a in ASSIGNMENTS}
    for entry in ordered:
        matrix[f"{entry.assignment}:{entry.name}"] = check_matrix(entry.assignment, entry)
    print(json.dumps(matrix))


def check_matrix_in_subprocess() -> dict[str, dict[str, str | None]]:
    """:func:`check_matrix` for the solutions and every entry, in a child process (keys 'assignment:name')."""
    result = subprocess.run(
        [sys.executable, "-c", "from autograder.grading.autograde import _matrix_main; _matrix_main()"],
        capture_output=True,
        text=True,
        env=nbgrader_env(),
        cwd=str(SOLUTIONS.parent),
    )
    if result.returncode != 0:
        raise RuntimeError(f"the check matrix failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def caught_by(matrix: dict[str, dict[str, str | None]]) -> dict[str, tuple[str, ...]]:
    """Per entry, the checks that catch it on their merits (sorted), or ``("from-scratch verdict",)``.

    The format of :data:`autograder.grading.catalogue.CAUGHT_BY`; the tests compare the two.
    """
    from autograder.checks.scratch import is_verdict

    from .catalogue import FROM_SCRATCH_VERDICT

    result: dict[str, tuple[str, ...]] = {}
    for entry in CATALOGUE:
        verdicts = matrix[f"{entry.assignment}:{entry.name}"]
        merits = tuple(
            sorted(name for name, message in verdicts.items() if message and not is_verdict(message))
        )
        verdict_only = any(message and is_verdict(message) for message in verdicts.values())
        result[entry.name] = FROM_SCRATCH_VERDICT if verdict_only and not merits else merits
    return result


if __name__ == "__main__":  # record CAUGHT_BY as the checks decide it now
    from .catalogue import write_caught_by

    print(f"wrote {write_caught_by(caught_by(check_matrix_in_subprocess()))}")
