"""Synthetic classes of submissions, for testing and benchmarking the class grader.

A submission is the released notebook with its solution cells filled in: with the solution, with a
catalogue entry's wrong code (:mod:`autograder.grading.catalogue`), or with anything a test wants to try. The
course is a throwaway nbgrader course (:func:`autograder.grading.course.make_course`), so nothing touches the
instructor's workspace.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import nbformat

from .autograde import filled_notebook, submission_cells
from .catalogue import entries
from .course import generate, make_course


def make_graded_course(root: Path, assignments: tuple[str, ...]) -> Path:
    """A throwaway course in ``root`` with ``assignments`` generated (released and in the gradebook)."""
    make_course(root, assignments)
    generate(root, assignments)
    return root


def release_notebook(course: Path, assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_submission(
    course: Path, assignment: str, replace: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """The released notebook filled with the solution, with ``replace`` overriding cells by grade id."""
    cells = submission_cells(assignment, None)
    cells.update(replace or {})
    return filled_notebook(release_notebook(course, assignment), cells)


def submit(course: Path, student: str, assignment: str, notebook: nbformat.NotebookNode | str) -> Path:
    """Put a submission in place (a notebook, or raw text for a broken file); return its folder."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    if isinstance(notebook, str):
        path.write_text(notebook)
    else:
        nbformat.write(notebook, path)
    (folder / "timestamp.txt").write_text("2026-11-01 12:00:00.000000 UTC")
    return folder


def build_class(course: Path, assignment: str, students: int) -> dict[str, str]:
    """``students`` submissions cycling through the solution and every catalogue entry of ``assignment``.

    Returns student name -> what was submitted (``solution`` or the entry's name).
    """
    release = release_notebook(course, assignment)
    kinds = [None, *entries(assignment)]
    made = {}
    for index, entry in zip(range(students), itertools.cycle(kinds), strict=False):
        name = f"student{index:03d}"
        submit(course, name, assignment, filled_notebook(release, submission_cells(assignment, entry)))
        made[name] = "solution" if entry is None else entry.name
    return made
