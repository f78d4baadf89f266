"""The grader's faults told apart from the students' (fast, no grading): the paths of a course whose
workspace lies anywhere, the grader error a wrongly built path becomes, and when a run stops early."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder.grading.course import ROOT, load_course
from autograder.grading.faults import GraderFault
from autograder.grading.results import (
    FAILED,
    GRADED,
    STOP_AFTER_SAME_FAULT,
    FaultWatch,
    StudentResult,
    grader_error,
)
from autograder.grading.submission_files import UnsafeSubmission, check_real_directory


def _course_with_workspace(tmp_path: Path, workspace: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's course files (its nbgrader_config.py) using ``workspace``."""
    course = tmp_path / "repo"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    monkeypatch.setenv("DROPOUT_COURSE_WORKSPACE", workspace)
    return course


@pytest.mark.parametrize("where", ["outside", "relative", "link", "spaces and ü", "inside"])
def test_every_submission_path_lies_inside_the_resolved_submitted_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "srv" / "course ws"
    real.mkdir(parents=True)
    workspace = {
        "outside": str(real),
        "relative": os.path.relpath(real, tmp_path),
        "spaces and ü": str(tmp_path / "a b ü" / "ws"),
        "inside": str(tmp_path / "repo" / "instructor"),
    }.get(where)
    if where == "link":
        (tmp_path / "my link").symlink_to(real, target_is_directory=True)
        workspace = str(tmp_path / "my link")
    assert workspace is not None
    course = load_course(_course_with_workspace(tmp_path, workspace, monkeypatch))
    submitted = course.step_path(course.coursedir.submitted_directory, "alice", "masks")
    autograded = course.step_path(course.coursedir.autograded_directory, "alice", "masks")
    assert submitted == course.submitted / "alice" / "masks"
    assert autograded == course.autograded / "alice" / "masks"
    submitted.mkdir(parents=True)
    check_real_directory(submitted, course.submitted)  # no refusal: the workspace is the instructor's
    assert submitted.resolve() == Path(workspace).resolve() / "submitted" / "alice" / "masks"
    # nbgrader's own path (joined onto the root) reaches the same folder.
    nbgrader_path = Path(course.coursedir.format_path(course.coursedir.submitted_directory, "alice", "masks"))
    assert nbgrader_path.resolve() == submitted.resolve()
    # A relative workspace is fixed once, for every process this one starts.
    assert os.path.isabs(os.environ["DROPOUT_COURSE_WORKSPACE"])


def test_a_link_inside_a_submission_is_still_the_students_problem(tmp_path: Path) -> None:
    submitted = tmp_path / "submitted"
    (tmp_path / "elsewhere").mkdir()
    (submitted / "mallory").mkdir(parents=True)
    (submitted / "mallory" / "masks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeSubmission, match="link"):
        check_real_directory(submitted / "mallory" / "masks", submitted)


def test_a_path_outside_the_submitted_folder_is_the_graders_fault(tmp_path: Path) -> None:
    with pytest.raises(GraderFault) as raised:
        check_real_directory(tmp_path / "x" / "alice", tmp_path / "submitted")
    assert raised.value.kind == "paths"
    assert not isinstance(raised.value, UnsafeSubmission)


def _graded(name: str) -> StudentResult:
    return StudentResult(name, GRADED, 1.0, 1.0)


def _fault(name: str, kind: str = "kernel") -> StudentResult:
    return grader_error(name, 1.0, "grader error: the grading kernel did not start", kind)


def test_a_run_stops_when_the_same_grader_fault_keeps_coming() -> None:
    watch = FaultWatch()
    verdicts = [watch.add(_fault(f"s{i}")) for i in range(STOP_AFTER_SAME_FAULT)]
    assert verdicts == [False] * (STOP_AFTER_SAME_FAULT - 1) + [True]
    assert "doctor" in watch.reason() and "the grading kernel did not start" in watch.reason()


def test_a_few_faults_in_a_large_class_or_of_different_kinds_do_not_stop_it() -> None:
    watch = FaultWatch()
    for index in range(2 * STOP_AFTER_SAME_FAULT):
        assert not watch.add(_graded(f"g{index}"))
    assert not any(watch.add(_fault(f"s{i}")) for i in range(STOP_AFTER_SAME_FAULT))
    mixed = FaultWatch()
    assert not any(mixed.add(_fault(f"k{i}", kind=f"kind {i}")) for i in range(5))
    assert not mixed.add(StudentResult("x", FAILED, 0.0, 1.0, "invalid JSON"))
    assert mixed.reason() == ""
