"""The nbgrader course: configuration, released notebooks in sync with solutions/, notebook structure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import checks
from autograder.grading.course import ASSIGNMENTS, EXERCISES, ROOT, SOLUTIONS, nbgrader_env

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_nbgrader_config_maps_source_and_release() -> None:
    namespace: dict = {"__file__": str(ROOT / "nbgrader_config.py")}

    class Config(dict):
        def __getattr__(self, name: str) -> Config:
            return self.setdefault(name, Config())

        def __setattr__(self, name: str, value: object) -> None:
            self[name] = value

    config = Config()
    namespace["get_config"] = lambda: config
    exec((ROOT / "nbgrader_config.py").read_text(), namespace)  # noqa: S102
    course = config["CourseDirectory"]
    assert course["source_directory"] == "solutions"
    assert course["release_directory"] == "exercises"
    assert course["root"] == str(ROOT)
    for key in ("submitted_directory", "autograded_directory", "feedback_directory"):
        assert course[key].startswith("instructor"), course[key]
    assert "instructor" in course["db_url"]
    assert "instructor/" in (ROOT / ".gitignore").read_text()


def test_exercises_are_in_sync_with_solutions() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--check"],
        cwd=ROOT,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_release_is_byte_stable(tmp_path: Path) -> None:
    for out in ("a", "b"):
        result = subprocess.run(
            [sys.executable, "-m", "autograder", "release", "masks", "--output", str(tmp_path / out)],
            cwd=ROOT,
            env=nbgrader_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "a/masks/masks.ipynb").read_bytes() == (tmp_path / "b/masks/masks.ipynb").read_bytes()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_hides_solutions_and_hidden_tests(assignment: str) -> None:
    text = (EXERCISES / assignment / f"{assignment}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "raise NotImplementedError()" in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_are_short_and_carry_most_points(assignment: str) -> None:
    hidden_points = visible_points = 0.0
    for cell in _cells(SOLUTIONS / assignment / f"{assignment}.ipynb"):
        meta = _meta(cell)
        if not meta.get("grade"):
            continue
        match = HIDDEN.search(cell.source)
        if match:
            hidden_points += meta["points"]
            calls = [line for line in match.group(1).splitlines() if line.strip()]
            assert 1 <= len(calls) <= 5
            assert all(line.startswith("checks.check_") for line in calls), calls
        else:
            visible_points += meta["points"]
    assert visible_points > 0
    assert hidden_points > 2 * visible_points, (assignment, hidden_points, visible_points)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_check_is_called_by_its_notebook(assignment: str) -> None:
    text = (SOLUTIONS / assignment / f"{assignment}.ipynb").read_text()
    called = set(re.findall(r"checks\.(check_\w+)\(", text))
    registered = {
        name.split(".", 1)[1] for name, info in checks.REGISTRY.items() if info.assignment == assignment
    }
    assert called == registered


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_setup_cell_imports_checks_first_and_is_locked(assignment: str) -> None:
    code = [c for c in _cells(SOLUTIONS / assignment / f"{assignment}.ipynb") if c.cell_type == "code"]
    assert _meta(code[0]).get("grade_id") == "setup" and _meta(code[0]).get("locked")
    assert f"from autograder.checks import {assignment} as checks" in code[0].source
