"""What class grading reads from and writes to nbgrader's gradebook (SQLite or PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from autograder.interpreter_env import put_interpreter_on_path

from .course import Course, last_error_line, nbgrader_env


@dataclass(frozen=True)
class AssignmentCells:
    """What the gradebook knows of an assignment: its notebooks and their cells' grade ids."""

    notebooks: dict[str, set[str]]  # notebook name -> grade ids of all its graded/solution cells
    tests: dict[str, list[str]]  # notebook name -> grade ids of its autograded test cells
    max_score: float


@contextmanager
def open_gradebook(db_url: str) -> Iterator[Any]:
    """nbgrader's ``Gradebook`` at ``db_url`` (it runs ``alembic`` from PATH when creating a database)."""
    from nbgrader.api import Gradebook

    put_interpreter_on_path()
    with Gradebook(db_url) as gradebook:
        yield gradebook


def assignment_cells(course: Course, assignment: str) -> AssignmentCells:
    from nbgrader.api import MissingEntry

    with open_gradebook(course.db_url) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise LookupError(f"the gradebook has no assignment {assignment!r}") from None
        notebooks, tests = {}, {}
        for notebook in record.notebooks:
            notebooks[notebook.name] = {c.name for c in notebook.grade_cells} | {
                c.name for c in notebook.solution_cells
            }
            tests[notebook.name] = [c.name for c in notebook.grade_cells if c.cell_type == "code"]
        return AssignmentCells(notebooks, tests, float(record.max_score))


def register_assignment(course: Course, assignment: str) -> None:
    """Put ``assignment`` in the gradebook (``nbgrader generate_assignment``, as an instructor would).

    A fresh gradebook, such as a new PostgreSQL database, knows no assignment yet. Generating rewrites
    the release folder with the same bytes (generation is deterministic).
    """
    if not (course.source / assignment).is_dir():
        raise LookupError(f"no assignment {assignment!r}: {course.source / assignment} does not exist")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
         f"--CourseDirectory.db_url={course.db_url}"],
        cwd=course.root, env=nbgrader_env(), capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        reason = last_error_line(result.stdout + result.stderr)
        raise LookupError(f"could not register {assignment!r} in the gradebook: {reason}")


def read_score(course: Course, assignment: str, student: str) -> tuple[float, float, list[str]] | None:
    """(score, max score, names of test cells that lost points), or None if nothing was recorded."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course.db_url) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None
        failed = [
            grade.name
            for notebook in submission.notebooks
            for grade in notebook.grades
            if grade.max_score and (grade.score or 0.0) < grade.max_score
        ]
        return float(submission.score), float(submission.max_score), failed


def forget_grade(course: Course, assignment: str, student: str) -> None:
    """Remove what nbgrader recorded for ``student``'s ``assignment`` (a run the grader failed: its
    zeros or partial scores are not the student's grade); nothing when nothing was recorded."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course.db_url) as gradebook:
        try:
            gradebook.remove_submission(assignment, student)
        except MissingEntry:
            pass


def registered_cells(course: Course, assignment: str) -> AssignmentCells:
    """:func:`assignment_cells`, registering the assignment first when the gradebook lacks it."""
    try:
        return assignment_cells(course, assignment)
    except LookupError:
        register_assignment(course, assignment)
        return assignment_cells(course, assignment)
