"""What class grading remembers between runs: each student's last result and submission fingerprint.

``grades/<assignment>.state.json`` in the workspace maps a student to their last
:class:`~autograder.grading.results.StudentResult`; a submission whose fingerprint has not changed is not
graded again (unless ``--force``). It is rewritten after every graded submission, so an interrupted run
loses nothing it finished.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .course import Course
from .results import StudentResult, fingerprint


def state_path(course: Course, assignment: str) -> Path:
    return course.grades_dir() / f"{assignment}.state.json"


def load_state(course: Course, assignment: str) -> dict[str, dict[str, Any]]:
    path = state_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return {}


def students_with_submissions(course: Course, assignment: str) -> list[str]:
    if not course.submitted.is_dir():
        return []
    return sorted(entry.name for entry in course.submitted.iterdir() if (entry / assignment).is_dir())


def save_result(
    course: Course, assignment: str, state: dict[str, dict[str, Any]], result: StudentResult
) -> None:
    """Record ``result`` in ``state`` and write the state file at once."""
    state[result.student] = asdict(result)
    state_path(course, assignment).write_text(json.dumps(state, indent=1, sort_keys=True))


def split_by_change(
    course: Course, assignment: str, state: dict[str, dict[str, Any]], force: bool
) -> tuple[list[str], list[str], dict[str, str]]:
    """The students whose submission is new or changed since ``state`` (all of them with ``force``),
    those unchanged, and every submission's fingerprint."""
    todo: list[str] = []
    skipped: list[str] = []
    prints: dict[str, str] = {}
    for student in students_with_submissions(course, assignment):
        folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
        prints[student] = fingerprint(folder)
        previous = state.get(student)
        if not force and previous and previous.get("fingerprint") == prints[student]:
            skipped.append(student)
        else:
            todo.append(student)
    return todo, skipped, prints
