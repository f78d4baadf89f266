"""The instructor's cycle exactly as documented (book/instructors.md), with the repository's
nbgrader_config.py: generate, zip_collect, autograde, generate_feedback, export, in a temporary
workspace (DROPOUT_COURSE_WORKSPACE) so the real instructor/ folder and exercises/ are untouched.
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


def _nbgrader(*args: str, env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
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
    _nbgrader("autograde", "masks", "--create", env=env)
    _nbgrader("generate_feedback", "masks", env=env)
    assert (workspace / "feedback/bob/masks/masks.html").exists()
    _nbgrader("export", "--to", str(workspace / "grades.csv"), env=env)

    with open(workspace / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) > 0
    assert float(rows["bob"]["score"]) < float(rows["bob"]["max_score"])
