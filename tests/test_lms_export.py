"""``python -m autograder export``: Canvas's gradebook CSV, from a real nbgrader gradebook."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.course import make_course, nbgrader_env
from autograder.grading.gradebook import open_gradebook
from autograder.grading.lms_export import IDENTITY_COLUMNS, POINTS_POSSIBLE, spreadsheet_safe

# Canvas's gradebook import: the identity columns, in this order, then one column per assignment.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _gradebook(root: Path) -> None:
    """Two assignments; alice submitted both, bob only masks (late), mallory has a formula for a name."""
    with open_gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for name, points in (("masks", 23.0), ("autograd", 17.0)):
            gradebook.add_assignment(name)
            gradebook.add_notebook(name, name)
            gradebook.add_grade_cell("test", name, name, max_score=points, cell_type="code")
        gradebook.add_student("alice", first_name="Alice", last_name="Liddell, Jr.")
        gradebook.add_student("bob")
        gradebook.add_student("mallory", first_name="=HYPERLINK(\"http://x\")", last_name="@SUM(A1)")
        scores = {("alice", "masks"): 20.0, ("alice", "autograd"): 17.0, ("bob", "masks"): 11.5,
                  ("mallory", "masks"): 1.0}  # fmt: skip
        for (student, assignment), score in scores.items():
            gradebook.add_submission(assignment, student)
            grade = gradebook.find_grade("test", assignment, assignment, student)
            grade.auto_score = score
        gradebook.db.commit()
        late = gradebook.find_submission("masks", "bob")
        late.notebooks[0].late_submission_penalty = 1.5
        gradebook.db.commit()


def _export(root: Path, *extra: str) -> list[list[str]]:
    target = root / "out.csv"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "export", "--course", str(root), "--to", str(target), *extra],
        cwd=root, env=nbgrader_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with target.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_course(tmp_path_factory.mktemp("lms"), assignments=())
    _gradebook(root)
    return root


@pytest.fixture(scope="module")
def rows(course: Path) -> list[list[str]]:
    return _export(course)


def _columns(header: list[str], row: list[str]) -> dict[str, str]:
    return dict(zip(header, row, strict=True))


def test_canvas_csv_has_canvas_columns_points_and_scores(rows: list[list[str]]) -> None:
    assert tuple(CANVAS_COLUMNS) == IDENTITY_COLUMNS
    header = rows[0]
    assert header[:5] == CANVAS_COLUMNS and sorted(header[5:]) == ["autograd", "masks"]
    points = _columns(header, rows[1])
    assert (points["Student"], points["masks"], points["autograd"]) == (POINTS_POSSIBLE, "23", "17")
    by_login = {row[3]: _columns(header, row) for row in rows[2:]}
    assert set(by_login) == {"alice", "bob", "mallory"}
    alice = by_login["alice"]
    assert (alice["Student"], alice["ID"], alice["SIS User ID"], alice["Section"]) == (
        "Liddell, Jr., Alice", "", "", ""
    )
    assert (alice["masks"], alice["autograd"]) == ("20", "17")
    # bob: the late penalty is taken off; no submission counts 0
    assert (by_login["bob"]["masks"], by_login["bob"]["autograd"]) == ("10", "0")


def test_a_formula_in_a_name_is_written_as_text(rows: list[list[str]]) -> None:
    mallory = next(row for row in rows if row[3] == "mallory")
    assert mallory[0].startswith("'@SUM")
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    assert spreadsheet_safe("-1") == "'-1" and spreadsheet_safe("1.5") == "1.5"


def test_id_column_and_assignment_filter(course: Path) -> None:
    rows = _export(course, "--id-column", "SIS User ID", "--assignment", "autograd")
    assert rows[0] == [*CANVAS_COLUMNS, "autograd"]
    alice = next(row for row in rows[2:] if row[2] == "alice")
    assert alice[3] == "" and alice[5:] == ["17"]


def test_a_missing_course_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "export", "--course", str(tmp_path)],
        env=nbgrader_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "error" in result.stderr.lower() and "Traceback" not in result.stderr
