"""The instructor's cycle exactly as documented (book/instructors.md), with the repository's
nbgrader_config.py: generate, zip_collect, ``python -m autograder grade``, generate_feedback, export, in
a temporary workspace (DROPOUT_COURSE_WORKSPACE) so the real instructor/ folder and exercises/ are
untouched. Plain ``nbgrader autograde``, which the course refuses, is tried on the way and changes
nothing (tests/test_grading_routes.py tries each route on its own).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.course import EXERCISES, ROOT, nbgrader_env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _nbgrader(*args: str, env: dict[str, str]) -> str:
    result = _run([sys.executable, "-m", "nbgrader", *args], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
def test_documented_cycle_on_the_masks_assignment(tmp_path: Path) -> None:
    workspace = tmp_path / "instructor"
    env = nbgrader_env()
    env["DROPOUT_COURSE_WORKSPACE"] = str(workspace)
    release = os.path.relpath(tmp_path / "release", ROOT)  # keep the committed exercises/ untouched

    _nbgrader(
        "generate_assignment", "masks", "--force", f"--CourseDirectory.release_directory={release}", env=env
    )
    generated = (tmp_path / "release/masks/masks.ipynb").read_bytes()
    assert generated == (EXERCISES / "masks/masks.ipynb").read_bytes()

    archive = workspace / "downloaded/masks/archive"
    archive.mkdir(parents=True)
    released = nbformat.read(EXERCISES / "masks/masks.ipynb", as_version=4)
    randn = next(e for e in entries("masks") if e.name == "randn_mask")
    nbformat.write(filled_notebook(released, submission_cells("masks", None)), archive / "alice__masks.ipynb")
    nbformat.write(filled_notebook(released, submission_cells("masks", randn)), archive / "bob__masks.ipynb")

    _nbgrader("zip_collect", "masks", env=env)
    assert (workspace / "submitted/alice/masks/masks.ipynb").exists()
    gradebook = (workspace / "gradebook.db").read_bytes()

    refused = _run([sys.executable, "-m", "nbgrader", "autograde", "masks", "--create"], env)
    assert refused.returncode != 0
    assert "`python -m autograder grade masks`" in refused.stdout + refused.stderr
    assert (workspace / "gradebook.db").read_bytes() == gradebook
    assert not (workspace / "autograded").exists()

    graded = _run([sys.executable, "-m", "autograder", "grade", "masks"], env)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    _nbgrader("generate_feedback", "masks", env=env)
    assert (workspace / "feedback/bob/masks/masks.html").exists()
    _nbgrader("export", "--to", str(workspace / "grades.csv"), env=env)

    with open(workspace / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0
    assert float(rows["bob"]["score"]) < float(rows["bob"]["max_score"])
