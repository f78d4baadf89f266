"""Grading on a real Dask cluster on loopback: the same grades as local grading, and faults lose nothing.

Each cluster here is ``dask scheduler`` plus ``dask worker`` processes on 127.0.0.1
(:class:`~autograder.grading.cluster.LoopbackCluster`); workers are separate processes that get every
file they need through the tasks. Faults are real: a worker or the scheduler is killed with SIGKILL, a
submission kills each worker that runs it (the worker-side, test-only ``DROPOUT_GRADER_TEST_KILL_WORKER``
hook), the SQLite gradebook is held locked by another connection. Tests wait on events (a result
recorded, a journal file written), never on fixed sleeps.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import test_postgres_gradebook

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.classroom import grade_class, load_course
from autograder.grading.cluster import (
    LoopbackCluster,
    SchedulerLost,
    connect,
    grade_on_cluster,
    loopback_cluster,
)
from autograder.grading.course import make_course, nbgrader_env
from autograder.grading.gradebook_writer import GradebookWriter, PendingJournal, write_with_retry
from autograder.grading.results import ClassReport
from autograder.grading.sandbox import Limits
from autograder.grading.state import load_state
from autograder.grading.synthetic_class import make_graded_course, release_notebook, submit
from autograder.grading.worker_task import KILL_WORKER_ENV

pytest.importorskip("distributed")

#: A PostgreSQL server on loopback, started (or skipped, with the reason) as its own test does.
postgres_url = test_postgres_gradebook.postgres_url

ASSIGNMENT = "masks"
LIMITS = Limits(cell_timeout_s=60, notebook_timeout_s=300)


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """One generated course; each test grades a copy of it (generating takes several seconds)."""
    base = Path(tempfile.mkdtemp(prefix="cluster-template-", dir="/var/tmp"))
    try:
        yield make_graded_course(base / "course", (ASSIGNMENT,))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def new_course(template: Path) -> Iterator:
    made: list[Path] = []

    def copy(submissions: dict[str, str | nbformat.NotebookNode]) -> Path:
        base = Path(tempfile.mkdtemp(prefix="cluster-class-", dir="/var/tmp"))
        made.append(base)
        root = base / "course"
        shutil.copytree(template, root)
        make_course(root, ())  # its nbgrader_config.py, pointing at the copy
        for student, notebook in submissions.items():
            submit(root, student, ASSIGNMENT, notebook)
        return root

    yield copy
    for base in made:
        shutil.rmtree(base, ignore_errors=True)


def _wrong(template: Path, name: str) -> nbformat.NotebookNode:
    entry = next(e for e in entries(ASSIGNMENT) if e.name == name)
    return filled_notebook(release_notebook(template, ASSIGNMENT), submission_cells(ASSIGNMENT, entry))


def _solution(template: Path) -> nbformat.NotebookNode:
    return filled_notebook(release_notebook(template, ASSIGNMENT), submission_cells(ASSIGNMENT, None))


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[str]:
    """A two-worker loopback cluster for the tests that do not break it (its workers keep their
    course between tests: the assignment bundle is the same)."""
    with loopback_cluster(workers=2) as address:
        yield address


def _gradebook(course: Path) -> dict[str, dict]:
    """Per student: timestamp, score, and per cell (auto score, needs manual grade, auto comment)."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(load_course(course).db_url) as gradebook:
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            cells = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.auto_score, grade.needs_manual_grade)
                for comment in notebook.comments:
                    cells["comment:" + comment.name] = comment.auto_comment
                cells["late:" + notebook.name] = notebook.late_submission_penalty
            found[submission.student.id] = {
                "timestamp": submission.timestamp, "score": submission.score, "cells": cells,
            }  # fmt: skip
    return found


def _by_student(report: ClassReport) -> dict[str, tuple]:
    return {r.student: (r.status, r.score, r.max_score, r.message, r.failed_tests) for r in report.results}


def _autograded(course: Path) -> dict[str, list[str]]:
    """The test cells' scores and errors in each autograded notebook."""
    found = {}
    for path in sorted((course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        found[path.parts[-3]] = [
            (cell.metadata.get("nbgrader", {}).get("grade_id"),
             [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"])
            for cell in notebook.cells
        ]  # fmt: skip
    return found


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_cluster_gives_exactly_the_grades_of_local_grading(
    template: Path, new_course, shared_cluster: str
) -> None:
    submissions = {
        "good": _solution(template),
        "wrong": _wrong(template, "randn_mask"),
        "broken": '{"cells": [ not json',
    }
    local, remote = new_course(submissions), new_course(submissions)
    for course in (local, remote):  # refused before it leaves the instructor's machine
        folder = course / "submitted" / "linked" / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").symlink_to(f"../../../source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    here = grade_class(ASSIGNMENT, course=load_course(local), jobs=2, limits=LIMITS, progress=False)
    there = grade_class(
        ASSIGNMENT, course=load_course(remote), limits=LIMITS, progress=False, scheduler=shared_cluster
    )
    assert "Dask cluster" in there.isolation and "bubblewrap" in there.isolation
    assert set(_by_student(there)) == {"good", "wrong", "broken", "linked"}
    assert _by_student(there) == _by_student(here)
    assert _by_student(there)["good"][1] == _by_student(there)["good"][2] > _by_student(there)["wrong"][1]
    assert _gradebook(remote) == _gradebook(local)
    assert set(_gradebook(remote)) == {"good", "wrong"}  # nothing recorded for the two that failed
    assert _autograded(remote) == _autograded(local)
    assert (remote / "grades" / f"{ASSIGNMENT}.csv").read_text() == (
        local / "grades" / f"{ASSIGNMENT}.csv"
    ).read_text()
    assert there.retried == [] and there.pending == []
    # A rerun grades nothing: the state has every result.
    again = grade_class(
        ASSIGNMENT, course=load_course(remote), limits=LIMITS, progress=False, scheduler=shared_cluster
    )
    assert again.results == [] and sorted(again.skipped) == ["broken", "good", "linked", "wrong"]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_worker_killed_mid_batch_loses_nothing(template: Path, new_course) -> None:
    students = {f"s{index}": _solution(template) for index in range(3)}
    course = new_course(students)
    killed: list[str] = []
    doomed: set[str] = set()  # what the killed worker was grading or had queued
    with LoopbackCluster(workers=2) as cluster:
        watcher = connect(cluster.address)

        def kill_a_busy_worker(_result: object) -> None:
            if killed:
                return
            names = {a: w["name"] for a, w in watcher.scheduler_info()["workers"].items()}
            busy = [(address, keys) for address, keys in watcher.processing().items() if keys]
            assert busy, "after the first result, the other worker is still grading"
            killed.append(names[busy[0][0]])
            doomed.update(key.split("-")[2] for key in busy[0][1])  # grade-<assignment>-<student>-<run>
            cluster.kill_worker(names[busy[0][0]])

        try:
            report = grade_on_cluster(
                ASSIGNMENT, cluster.address, course=load_course(course), limits=LIMITS, progress=False,
                on_recorded=kill_a_busy_worker,
            )  # fmt: skip
        finally:
            watcher.close()
    assert killed
    assert [r.student for r in report.results] == sorted(students)  # each once
    wrong = [(r.student, r.status, r.score, r.message) for r in report.results if r.score != r.max_score]
    assert not wrong and all(r.status == "graded" for r in report.results), wrong
    assert report.retried and set(report.retried) <= doomed  # tried again elsewhere, recorded once
    assert set(_gradebook(course)) == set(students)
    assert set(load_state(load_course(course), ASSIGNMENT)) == set(students)
    assert len(PendingJournal(load_course(course), ASSIGNMENT)) == 0


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_losing_the_scheduler_stops_with_a_count_and_a_rerun_resumes(template: Path, new_course) -> None:
    students = {f"s{index}": _solution(template) for index in range(3)}
    course = new_course(students)
    with LoopbackCluster(workers=2) as cluster:
        with pytest.raises(SchedulerLost) as lost:
            grade_on_cluster(
                ASSIGNMENT, cluster.address, course=load_course(course), limits=LIMITS, progress=False,
                on_recorded=lambda _result: cluster.kill_scheduler(),
            )  # fmt: skip
    recorded = set(load_state(load_course(course), ASSIGNMENT))
    assert 1 <= lost.value.recorded == len(recorded) < 3
    assert f"{lost.value.recorded} of 3 submissions were graded and recorded" in str(lost.value)
    assert set(_gradebook(course)) == recorded
    with loopback_cluster(workers=2) as address:  # a new scheduler: the rest is graded, nothing twice
        report = grade_on_cluster(
            ASSIGNMENT, address, course=load_course(course), limits=LIMITS, progress=False
        )
    assert set(report.skipped) == recorded
    assert {r.student for r in report.results} == set(students) - recorded
    assert set(_gradebook(course)) == set(students)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_submission_that_kills_every_worker_is_given_up_after_bounded_tries(
    template: Path, new_course
) -> None:
    course = new_course({"good": _solution(template), "poison": _solution(template)})
    with LoopbackCluster(workers=2, env={KILL_WORKER_ENV: "poison"}, allowed_failures=1) as cluster:
        report = grade_on_cluster(
            ASSIGNMENT, cluster.address, course=load_course(course), limits=LIMITS, progress=False
        )
        by_student = {r.student: r for r in report.results}
        good = by_student["good"]
        assert good.status == "graded" and good.score == good.max_score
        assert by_student["poison"].status == "failed"
        assert "KilledWorker" in by_student["poison"].message and "2 tries" in by_student["poison"].message
        assert "poison" in report.retried
        # Not looping: a rerun does not try it again.
        again = grade_on_cluster(
            ASSIGNMENT, cluster.address, course=load_course(course), limits=LIMITS, progress=False
        )
        assert again.results == [] and sorted(again.skipped) == ["good", "poison"]
    assert set(_gradebook(course)) == {"good"}


def _lock(course: Path) -> sqlite3.Connection:
    """Another writer holding the SQLite gradebook: readers go on, every write waits and fails."""
    connection = sqlite3.connect(course / "gradebook.db", isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    return connection


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_gradebook_locked_for_a_while_gets_the_grades_once_it_is_back(
    template: Path, new_course, shared_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = new_course({"alice": _solution(template)})
    journal = PendingJournal(load_course(course), ASSIGNMENT)
    lock = _lock(course)
    failed_once, attempts = threading.Event(), []
    real_write = GradebookWriter.write

    def watched_write(self: GradebookWriter, record: object) -> None:
        attempts.append(journal.path("alice").exists())  # the result is journalled before any write
        try:
            real_write(self, record)
        except Exception:
            failed_once.set()
            raise

    monkeypatch.setattr(GradebookWriter, "write", watched_write)

    def release_after_a_failed_write() -> None:
        failed_once.wait(timeout=250)
        lock.rollback()
        lock.close()

    releaser = threading.Thread(target=release_after_a_failed_write)
    releaser.start()
    try:
        report = grade_on_cluster(
            ASSIGNMENT, shared_cluster, course=load_course(course), limits=LIMITS, progress=False,
            record_budget_s=120,
        )  # fmt: skip
    finally:
        failed_once.set()
        releaser.join()
    assert len(attempts) >= 2 and all(attempts)  # failed while locked, retried, then written
    assert report.pending == [] and len(journal) == 0
    assert _gradebook(course)["alice"]["score"] == report.results[0].score == report.results[0].max_score


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_gradebook_down_for_the_whole_run_loses_nothing_and_a_rerun_records_without_regrading(
    template: Path, new_course, shared_cluster: str
) -> None:
    course = new_course({"alice": _solution(template), "bob": _wrong(template, "randn_mask")})
    lock = _lock(course)
    try:
        report = grade_on_cluster(
            ASSIGNMENT, shared_cluster, course=load_course(course), limits=LIMITS, progress=False,
            record_budget_s=1,
        )  # fmt: skip
    finally:
        lock.rollback()
        lock.close()
    assert report.pending == ["alice", "bob"]
    assert len(PendingJournal(load_course(course), ASSIGNMENT)) == 2
    assert _gradebook(course) == {}
    csv_text = (course / "grades" / f"{ASSIGNMENT}.csv").read_text()
    assert "alice" in csv_text and "bob" in csv_text  # graded and kept, only the gradebook waits
    scores = {r.student: r.score for r in report.results}
    again = grade_on_cluster(
        ASSIGNMENT, shared_cluster, course=load_course(course), limits=LIMITS, progress=False
    )
    assert again.results == [] and sorted(again.skipped) == ["alice", "bob"]  # nothing graded again
    assert again.pending == [] and len(PendingJournal(load_course(course), ASSIGNMENT)) == 0
    assert {student: row["score"] for student, row in _gradebook(course).items()} == scores


def test_recording_retries_with_backoff_until_the_gradebook_answers() -> None:
    calls, sleeps = [], []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("connection refused")

    assert write_with_retry(flaky, budget_s=60, first_delay_s=0.5, sleep=sleeps.append) is None
    assert len(calls) == 3 and sleeps == [0.5, 1.0]
    error = write_with_retry(lambda: (_ for _ in ()).throw(OSError("down")), budget_s=0, sleep=sleeps.append)
    assert isinstance(error, OSError)


@pytest.mark.timeout(120)
def test_an_unreachable_scheduler_is_one_line_and_exit_code_2(template: Path, new_course) -> None:
    course = new_course({})
    env = {**nbgrader_env(), "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"}  # Dask's own variable
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course)],
        env=env, capture_output=True, text=True, timeout=100, cwd=os.getcwd(),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()
    ] and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_cluster_grades_into_postgresql(
    template: Path, new_course, shared_cluster: str, postgres_url: str
) -> None:
    """Grades reach a PostgreSQL gradebook (a real server on loopback; skips as its own test does)."""
    course = new_course({"alice": _solution(template), "bob": _wrong(template, "randn_mask")})
    loaded = load_course(course, postgres_url)  # a fresh database: the assignment is registered first
    report = grade_on_cluster(ASSIGNMENT, shared_cluster, course=loaded, limits=LIMITS, progress=False)
    scores = {r.student: r.score for r in report.results}
    assert scores["alice"] == report.results[0].max_score > scores["bob"]
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url) as gradebook:
        assert {s: gradebook.find_submission(ASSIGNMENT, s).score for s in scores} == scores
