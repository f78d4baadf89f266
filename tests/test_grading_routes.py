"""Every way into grading gives the course's grade or refuses (:mod:`autograder.grading.grading_route`).

An instructor can reach nbgrader's autograder in the repository's course in three ways: ``python -m
autograder grade`` (preflight, sandbox, judge; the cluster's workers run the same ``grade_student``),
plain ``nbgrader autograde``, and the formgrader's "autograde" button (``NbGraderAPI.autograde`` in the
notebook server). The last two must refuse with a message naming the command to use, before any
student code runs and before anything is written: the submission's first answer cell writes a marker
file outside the course, and the gradebook, the autograded folder and the marker are checked after.

Each test works on its own copy of one generated workspace (``DROPOUT_COURSE_WORKSPACE`` in a temporary
folder), so the real ``instructor/`` folder and ``exercises/`` are untouched.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.converters import NbGraderException
from traitlets.config import Config

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.course import EXERCISES, ROOT, nbgrader_env
from autograder.grading.grading_route import EXPORTER, AutogradeRoute, refusal

ASSIGNMENT = "masks"
COMMAND = f"python -m autograder grade {ASSIGNMENT}"

# What the formgrader's AutogradeHandler does on "autograde" (nbgrader/server_extensions/formgrader):
# the extension loads the course's config, and the handler calls NbGraderAPI.autograde with it.
_FORMGRADER = """
import json, sys
from nbgrader.apps.api import NbGraderAPI
from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

formgrader = FormgradeExtension()
formgrader.root_dir = sys.argv[1]
formgrader.initialize([])
formgrader.load_config_file()  # BaseHandler.api
api = NbGraderAPI(formgrader.coursedir, formgrader.authenticator, parent=formgrader)
print(json.dumps(api.autograde(sys.argv[2], sys.argv[3])))
"""


def _env(workspace: Path) -> dict[str, str]:
    env = nbgrader_env()
    env["DROPOUT_COURSE_WORKSPACE"] = str(workspace)
    return env


def _run(command: list[str], workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=_env(workspace), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose gradebook knows the assignment (``nbgrader generate_assignment``), made once."""
    base = tmp_path_factory.mktemp("generated")
    workspace = base / "instructor"
    release = os.path.relpath(base / "release", ROOT)  # keep the committed exercises/ untouched
    result = _run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force",
         f"--CourseDirectory.release_directory={release}"],
        workspace,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workspace


def _workspace(generated: Path, tmp_path: Path, student: str, marker: Path) -> Path:
    """A copy of the generated workspace with one submission whose first answer writes ``marker``."""
    workspace = tmp_path / "instructor"
    shutil.copytree(generated, workspace)
    released = nbformat.read(EXERCISES / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    cells = submission_cells(ASSIGNMENT, None)
    first = next(
        cell.metadata["nbgrader"]["grade_id"]
        for cell in released.cells
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    cells[first] = f"open({str(marker)!r}, 'w').write('student code ran')\n" + cells[first]
    folder = workspace / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(filled_notebook(released, cells), folder / f"{ASSIGNMENT}.ipynb")
    return workspace


def _gradebook(workspace: Path) -> list[str]:
    """Everything the SQLite gradebook holds, as SQL statements."""
    with sqlite3.connect(workspace / "gradebook.db") as connection:
        return list(connection.iterdump())


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_nothing_happened(workspace: Path, student: str, marker: Path, before: list[str]) -> None:
    assert not marker.exists(), "student code ran"
    after = _gradebook(workspace)
    assert after == before, "the gradebook changed"
    assert not any(student in line for line in after), "the student was recorded"
    assert not (workspace / "autograded").exists()


@pytest.mark.slow
def test_plain_nbgrader_autograde_is_refused(generated: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    workspace = _workspace(generated, tmp_path, "plain", marker)
    before, submitted = _gradebook(workspace), _files(workspace / "submitted")

    command = ["autograde", ASSIGNMENT, "--student", "plain", "--force", "--create"]
    result = _run([sys.executable, "-m", "nbgrader", *command], workspace)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert refusal(ASSIGNMENT) in output
    assert f"`{COMMAND}`" in output
    _assert_nothing_happened(workspace, "plain", marker, before)
    assert _files(workspace / "submitted") == submitted


@pytest.mark.slow
def test_the_formgrader_autograde_button_is_refused(generated: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    workspace = _workspace(generated, tmp_path, "button", marker)
    before, submitted = _gradebook(workspace), _files(workspace / "submitted")

    result = _run([sys.executable, "-c", _FORMGRADER, str(ROOT), ASSIGNMENT, "button"], workspace)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])  # what the handler sends the page
    assert answer["success"] is False
    assert refusal(ASSIGNMENT) in answer["log"]
    assert f"`{COMMAND}`" in answer["error"]
    _assert_nothing_happened(workspace, "button", marker, before)
    assert _files(workspace / "submitted") == submitted


@pytest.mark.slow
def test_the_grade_command_grades_the_same_submission(generated: Path, tmp_path: Path) -> None:
    """The route that passes the guard: preflight, then the student's code in the sandbox (the marker's
    folder is hidden from it), and a grade in the gradebook and the CSV."""
    marker = tmp_path / "marker"
    workspace = _workspace(generated, tmp_path, "graded", marker)

    result = _run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--jobs", "1"], workspace)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    with open(workspace / "grades" / f"{ASSIGNMENT}.csv") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["graded"]["status"] == "graded", rows
    assert float(rows["graded"]["score"]) > 0
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}", "dropout-course") as gradebook:
        recorded = gradebook.find_submission(ASSIGNMENT, "graded").score
    assert recorded == pytest.approx(float(rows["graded"]["score"]))
    assert (workspace / "autograded" / "graded" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert not marker.exists(), "the sandbox let student code write outside its copy"


def test_the_course_installs_the_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The repository's nbgrader_config.py makes every Autograde run use the guarding exporter."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("DROPOUT_COURSE_WORKSPACE", str(tmp_path / "instructor"))
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.Autograde.exporter_class == EXPORTER


def test_the_guard_passes_only_a_preflighted_run() -> None:
    with pytest.raises(NbGraderException, match="python -m autograder grade ASSIGNMENT"):
        AutogradeRoute()
    passed = Config()
    passed.AutogradeRoute.preflighted = True
    assert AutogradeRoute(config=passed).preflighted
