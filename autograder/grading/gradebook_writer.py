"""Recording a worker's grades in the course's real gradebook, once, without ever losing one.

When a submission is graded on a cluster (:mod:`~autograder.grading.cluster`), nbgrader runs on the
worker against the worker's own throwaway SQLite gradebook. :func:`read_record` takes from it exactly
what ``nbgrader autograde`` wrote there (nbgrader's ``SaveAutoGrades`` and ``AssignLatePenalties``: each
cell's automatic score and comment, each notebook's late penalty; a notebook missing from the submission
is scored 0 by nbgrader itself). :func:`write_record` writes it into the course's gradebook (SQLite or
PostgreSQL, whatever its ``db_url``) through nbgrader's ``Gradebook`` API, the way ``nbgrader autograde``
would have: the student and the submission are created or updated (with the submission's timestamp),
and ``needs_manual_grade`` follows ``SaveAutoGrades``'s rule with the course's own manual scores.

A gradebook can be unreachable for a while (a PostgreSQL restart, a locked SQLite file).
:func:`write_with_retry` retries with exponential backoff; before it starts, the result waits in a
durable journal, ``grades/<assignment>.pending/<student>.json`` beside the course's other grade files
(:class:`PendingJournal`), and leaves it only once the gradebook has it. A run that ends with results
still there says so, and the next ``grade`` records them first, without grading them again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .course import Course
from .gradebook import open_gradebook
from .results import StudentResult


@dataclass
class GradeRecord:
    """What ``nbgrader autograde`` recorded for one submission, per notebook and cell."""

    student: str
    assignment: str
    # notebook name -> cell grade id -> automatic score (None: not scored automatically)
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # notebook name -> cell grade id -> automatic comment
    comments: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # notebook name -> late submission penalty
    late_penalties: dict[str, float | None] = field(default_factory=dict)


def read_record(db_url: str, assignment: str, student: str) -> GradeRecord | None:
    """What the gradebook at ``db_url`` holds for the submission, or None if it holds nothing."""
    from nbgrader.api import MissingEntry

    with open_gradebook(db_url) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return None
        record = GradeRecord(student, assignment)
        for notebook in submission.notebooks:
            record.scores[notebook.name] = {grade.name: grade.auto_score for grade in notebook.grades}
            record.comments[notebook.name] = {c.name: c.auto_comment for c in notebook.comments}
            record.late_penalties[notebook.name] = notebook.late_submission_penalty
        return record


def write_record(course: Course, record: GradeRecord, gradebook: Any = None) -> None:
    """Write ``record`` into the course's gradebook as ``nbgrader autograde`` would (one transaction).

    ``gradebook``: an open nbgrader ``Gradebook`` to use (:class:`GradebookWriter` keeps one for a
    run; opening one costs more than a write); without it, one is opened and closed.
    """
    if gradebook is None:
        with open_gradebook(course.db_url) as opened:
            write_record(course, record, opened)
        return
    import warnings

    with warnings.catch_warnings():
        # nbgrader's own autograde hits the same SQLAlchemy autoflush warnings when creating a submission
        warnings.filterwarnings("ignore", message=".*not in session.*")
        try:
            _write(course, record, gradebook)
        except BaseException:
            gradebook.db.rollback()
            raise


def _write(course: Course, record: GradeRecord, gradebook: Any) -> None:
    gradebook.update_or_create_student(record.student)
    submitted = course.step_path(course.coursedir.submitted_directory, record.student, record.assignment)
    timestamp = course.coursedir.get_existing_timestamp(str(submitted))
    if timestamp:
        gradebook.update_or_create_submission(record.assignment, record.student, timestamp=timestamp)
    else:
        gradebook.update_or_create_submission(record.assignment, record.student)
    submission = gradebook.find_submission(record.assignment, record.student)
    for notebook in submission.notebooks:
        scores = record.scores.get(notebook.name, {})
        comments = record.comments.get(notebook.name, {})
        for grade in notebook.grades:
            if grade.name in scores:
                grade.auto_score = scores[grade.name]
                # SaveAutoGrades: a manual grade, or no automatic score, needs a human look.
                grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for comment in notebook.comments:
            if comment.name in comments:
                comment.auto_comment = comments[comment.name]
        if notebook.name in record.late_penalties:
            notebook.late_submission_penalty = record.late_penalties[notebook.name]
    gradebook.db.commit()


class GradebookWriter:
    """One open connection to the course's gradebook for a whole run; reopened after any failure."""

    def __init__(self, course: Course) -> None:
        self.course = course
        self.gradebook: Any = None

    def write(self, record: GradeRecord) -> None:
        if self.gradebook is None:
            from nbgrader.api import Gradebook

            from autograder.interpreter_env import put_interpreter_on_path

            put_interpreter_on_path()
            self.gradebook = Gradebook(self.course.db_url)
        try:
            write_record(self.course, record, self.gradebook)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.gradebook is not None:
            try:
                self.gradebook.close()
            except Exception:  # noqa: BLE001, S110 - a broken connection is dropped either way
                pass
            self.gradebook = None


def write_with_retry(
    write: Callable[[], None],
    *,
    budget_s: float = 60.0,
    first_delay_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Exception | None:
    """Call ``write`` until it succeeds, backing off exponentially for up to ``budget_s`` seconds.

    Returns None on success, or the last error once the budget is spent (a budget of 0: one try).
    """
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    while True:
        try:
            write()
            return None
        except Exception as error:  # noqa: BLE001 - any failure to write is retried, then reported
            last = error
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        sleep(min(delay, remaining))
        delay = min(delay * 2, 8.0)


class PendingJournal:
    """Results whose gradebook write is not done yet: one JSON file per student, written durably."""

    def __init__(self, course: Course, assignment: str) -> None:
        self.folder = course.grades_dir() / f"{assignment}.pending"

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def add(self, result: StudentResult, record: GradeRecord | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entry = {"result": asdict(result), "record": asdict(record) if record else None}
        path = self.path(result.student)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            json.dump(entry, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def remove(self, student: str) -> None:
        self.path(student).unlink(missing_ok=True)

    def entries(self) -> list[tuple[StudentResult, GradeRecord | None]]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                entry: dict[str, Any] = json.loads(path.read_text())
                result = StudentResult(**entry["result"])
                record = GradeRecord(**entry["record"]) if entry["record"] else None
            except (OSError, ValueError, TypeError, KeyError):
                continue  # a torn file: its student is graded again (the state does not have it)
            found.append((result, record))
        return found

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0


def record_pending(
    course: Course, assignment: str, state: dict[str, dict[str, Any]], *, budget_s: float = 10.0
) -> tuple[list[str], list[str]]:
    """Put the journal's results into the gradebook and the state before a run grades anything.

    Returns (students recorded now, students still pending because the gradebook is unreachable).
    Nothing is graded again: the state already holds these results with their fingerprints.
    """
    from .state import save_result

    journal = PendingJournal(course, assignment)
    recorded: list[str] = []
    pending: list[str] = []
    writer = GradebookWriter(course)
    try:
        for result, record in journal.entries():
            save_result(course, assignment, state, result)
            error = None
            if record is not None:  # after one failure in this call: one try each
                budget = 0.0 if pending else budget_s
                error = write_with_retry(lambda record=record: writer.write(record), budget_s=budget)
            if error is None:
                journal.remove(result.student)
                recorded.append(result.student)
            else:
                pending.append(result.student)
    finally:
        writer.close()
    return recorded, pending
