"""What a Dask worker runs to grade one submission: the same :func:`grade_student` as local grading.

A worker is a trusted machine with the installed package and nothing of the course: every task
carries what it needs from the instructor's run (:class:`AssignmentBundle`: the assignment's source
files, hidden tests included, its released files and due date, the limits; :class:`SubmissionFiles`:
the submission's files as bytes). No shared folder is involved, so there is nothing a student could
reach.

On the worker, :func:`grade_task` builds, once per worker process and assignment (cached by the
bundle's content hash), a throwaway nbgrader course in a private ``0700`` temporary folder with its own
SQLite gradebook (``nbgrader generate_assignment`` on the carried source), puts the submission there and
calls :func:`~autograder.grading.run_submission.grade_student` with a
:class:`~autograder.grading.run_submission.GradingSetup` made exactly as local grading makes it (same
sandbox, same judge). It returns a :class:`TaskOutcome`: the
:class:`~autograder.grading.results.StudentResult`, the autograded folder's files and what nbgrader
recorded in the worker's gradebook (:class:`~autograder.grading.gradebook_writer.GradeRecord`), which the
instructor's side writes into the course's real gradebook once
(:mod:`~autograder.grading.gradebook_writer`).

Test-only fault injection: when the environment variable :data:`KILL_WORKER_ENV` is set on a worker to a
comma-separated list of student names, a task for one of them kills its worker process (``SIGKILL``)
before grading. It is read on the worker only and inert unless set; ``tests/test_cluster.py`` uses it
to make a submission that kills every worker it touches.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from .course import Course, generate, load_course, make_course
from .gradebook import assignment_cells, open_gradebook
from .gradebook_writer import GradeRecord, read_record
from .results import StudentResult
from .sandbox import Limits

#: Test-only: student names (comma-separated) whose task kills the worker process that runs it.
KILL_WORKER_ENV = "DROPOUT_GRADER_TEST_KILL_WORKER"


@dataclass(frozen=True)
class AssignmentBundle:
    """The instructor's assignment as a worker needs it: files as bytes, never a path to a share."""

    assignment: str
    source: dict[str, bytes]  # path relative to source/<assignment> -> bytes (hidden tests included)
    release: dict[str, bytes]  # path relative to release/<assignment> -> bytes
    duedate: str | None  # ISO date-time of the gradebook's due date (late penalties), or None
    limits: Limits
    isolate: bool
    # A fresh SQLite gradebook with only this assignment generated (built once by the instructor's run,
    # so that workers need not run nbgrader generate_assignment); empty: the worker generates it.
    gradebook: bytes = b""
    preload: bool = True  # each worker keeps a preloaded nbgrader process to fork runs from
    # The instructor's folders (workspace, submissions, gradebook, solutions, ...) as the instructor's
    # machine names them: hidden from kernels too, where a worker sees the same file systems (a worker
    # on the instructor's machine, a shared home or NFS); paths a worker does not have are skipped.
    hide: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """A hash of everything that shapes grading: the cache key of a worker's throwaway course."""
        hasher = hashlib.sha256()
        hasher.update(hashlib.sha256(self.gradebook).digest())
        for label, files in (("source", self.source), ("release", self.release)):
            for name in sorted(files):
                hasher.update(f"{label}\0{name}\0{len(files[name])}\0".encode())
                hasher.update(files[name])
        hasher.update(f"{self.assignment}\0{self.duedate}\0{self.limits}\0{self.isolate}\0{self.preload}".encode())
        hasher.update("\0".join(self.hide).encode())
        return hasher.hexdigest()


@dataclass(frozen=True)
class SubmissionFiles:
    """One submission: the student's name and the files of their submission folder."""

    student: str
    files: dict[str, bytes]  # path relative to submitted/<student>/<assignment> -> bytes
    directories: tuple[str, ...] = ()  # empty folders, relative paths


@dataclass
class TaskOutcome:
    """What a worker sends back for one submission."""

    result: StudentResult
    autograded: dict[str, bytes]  # the autograded folder's files, relative paths
    record: GradeRecord | None  # what nbgrader recorded in the worker's gradebook (None: nothing)
    worker: str = ""
    seconds: float = 0.0
    course_seconds: float = 0.0  # time spent building the worker's course (0 when cached)
    isolation: str = ""  # the worker's sandbox, in the words of the summary's isolation line
    grader_problem: bool = False  # the worker could not grade at all: the client grades it again later


class _WorkerCourse:
    """A throwaway course on this worker for one assignment bundle, and its grading setup."""

    def __init__(self, bundle: AssignmentBundle) -> None:
        from .classroom import grading_setup

        self.stack = ExitStack()
        self.folder = Path(tempfile.mkdtemp(prefix="dropout-worker-"))  # mkdtemp: mode 0700
        self.stack.callback(shutil.rmtree, self.folder, ignore_errors=True)
        root = make_course(self.folder / "course", ())
        for name, data in bundle.source.items():
            _write(root / "source" / bundle.assignment, name, data)
        if bundle.gradebook:
            (root / "gradebook.db").write_bytes(bundle.gradebook)
        else:
            generate(root, (bundle.assignment,))
        if bundle.release:  # the instructor's released files: preflight rebuilds notebooks on them
            release = root / "release" / bundle.assignment
            shutil.rmtree(release, ignore_errors=True)
            for name, data in bundle.release.items():
                _write(release, name, data)
        self.course: Course = load_course(root)
        if bundle.duedate and not bundle.gradebook:
            from datetime import datetime

            with open_gradebook(self.course.db_url) as gradebook:
                gradebook.update_or_create_assignment(
                    bundle.assignment, duedate=datetime.fromisoformat(bundle.duedate)
                )
        cells = assignment_cells(self.course, bundle.assignment)
        for folder in (self.course.submitted, self.course.autograded, self.course.feedback):
            folder.mkdir(parents=True, exist_ok=True)
        # The course folder goes with the worker however it ends: the run's preloaded process removes
        # it when this process dies without closing the course (SIGTERM, SIGKILL).
        self.setup = self.stack.enter_context(
            grading_setup(
                self.course, bundle.assignment, cells, bundle.limits, bundle.isolate, bundle.preload,
                owned=(self.folder,), also_hide=bundle.hide,
            )  # fmt: skip
        )

    def close(self) -> None:
        self.stack.close()


_courses: dict[str, _WorkerCourse] = {}
_courses_lock = threading.Lock()
_student_locks: dict[str, threading.Lock] = {}


def _close_courses() -> None:
    for course in list(_courses.values()):
        course.close()
    _courses.clear()


atexit.register(_close_courses)


def _write(folder: Path, relative: str, data: bytes) -> None:
    """Write ``data`` at ``folder/relative``; ``relative`` must stay inside ``folder``."""
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()) or Path(relative).is_absolute():
        raise ValueError(f"refusing to write outside {folder}: {relative!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _course_for(bundle: AssignmentBundle) -> tuple[_WorkerCourse, float]:
    digest = bundle.digest
    with _courses_lock:  # one build per worker process and bundle, even with several threads
        if digest in _courses:
            return _courses[digest], 0.0
        start = time.perf_counter()
        course = _WorkerCourse(bundle)
        _courses[digest] = course
        return course, time.perf_counter() - start


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (a folder the worker itself wrote), by relative path."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def _forget(course: Course, assignment: str, student: str) -> None:
    """Remove what an earlier task for ``student`` left in this worker's course (a retry)."""
    from nbgrader.api import MissingEntry

    for step in (course.coursedir.submitted_directory, course.coursedir.autograded_directory):
        shutil.rmtree(course.step_path(step, student, assignment), ignore_errors=True)
    with open_gradebook(course.db_url) as gradebook:
        try:
            gradebook.remove_submission(assignment, student)
        except MissingEntry:
            pass


def _maybe_kill_worker(student: str) -> None:
    """Test-only fault injection (see the module docstring); inert unless the variable is set."""
    targets = os.environ.get(KILL_WORKER_ENV, "")
    if targets and student in {name.strip() for name in targets.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)


def grade_task(bundle: AssignmentBundle, submission: SubmissionFiles) -> TaskOutcome:
    """Grade one submission on this worker (the function Dask runs); never raises for a student's sake."""
    from .run_submission import grade_student

    start = time.perf_counter()
    _maybe_kill_worker(submission.student)
    worker = _worker_name()
    try:
        course, built = _course_for(bundle)
    except Exception as error:  # noqa: BLE001 - the worker's problem: say so, grade nothing
        result = StudentResult(
            submission.student, "failed", 0.0, 0.0,
            f"the worker could not build its course (a grader problem): {type(error).__name__}: {error}",
        )  # fmt: skip
        return TaskOutcome(result, {}, None, worker, time.perf_counter() - start, grader_problem=True)
    assignment, student = bundle.assignment, submission.student
    with _courses_lock:
        lock = _student_locks.setdefault(student, threading.Lock())
    with lock:
        _forget(course.course, assignment, student)
        folder = course.course.step_path(course.course.coursedir.submitted_directory, student, assignment)
        folder.mkdir(parents=True)
        for name in submission.directories:
            (folder / name).mkdir(parents=True, exist_ok=True)
        for name, data in submission.files.items():
            _write(folder, name, data)
        try:
            result = grade_student(course.setup, student)
            autograded = read_folder(
                course.course.step_path(course.course.coursedir.autograded_directory, student, assignment)
            )
            record = read_record(course.course.db_url, assignment, student)
        finally:
            _forget(course.course, assignment, student)
    seconds = time.perf_counter() - start
    return TaskOutcome(result, autograded, record, worker, seconds, built, course.setup.isolation)


def bundle_value(bundle: AssignmentBundle) -> AssignmentBundle:
    """The bundle itself: submitted once as a task, so that Dask ships it to each worker once and
    recomputes it from its spec if the worker holding it dies (scattered data would be lost)."""
    return bundle


def _worker_name() -> str:
    try:
        from distributed import get_worker

        worker = get_worker()
        return str(worker.name)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
