"""Where the course's notebooks live, and how the package runs nbgrader on them.

The instructor's own nbgrader runs read ``nbgrader_config.py`` at the repository root (source
``solutions/``, release ``exercises/``, an ignored ``instructor/`` workspace). The package's commands
(``release``, ``selfcheck``) instead build a throwaway course in a temporary folder with nbgrader's
default layout, so they never touch the instructor's gradebook and always produce the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The assignments, in course order (one folder and one notebook of the same name each).
ASSIGNMENTS: tuple[str, ...] = ("masks", "autograd", "weights", "practice")

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

_TEMP_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "dropout-course"
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.Execute.timeout = {timeout}
c.ExecutePreprocessor.timeout = {timeout}
from autograder.nbgrader_plugins import configure
configure(c)
"""


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs: this interpreter's bin first on PATH (it calls ``alembic``)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONHASHSEED", "0")
    # Grading kernels do small tensor work; one thread avoids oversubscribing a shared CI machine.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def run_nbgrader(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in ``cwd`` (the course root); raise with its output if it fails."""
    command = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(command, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed with exit code {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def make_course(root: Path, assignments: tuple[str, ...] = ASSIGNMENTS, *, timeout: int = 120) -> Path:
    """A throwaway nbgrader course in ``root`` with the assignments' source notebooks copied in."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        _TEMP_CONFIG.format(root=str(root), db=str(root / "gradebook.db"), timeout=timeout)
    )
    for assignment in assignments:
        target = root / "source" / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(SOLUTIONS / assignment, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def generate(root: Path, assignments: tuple[str, ...] = ASSIGNMENTS) -> None:
    """``nbgrader generate_assignment`` for each assignment (fills release/ and the gradebook)."""
    for assignment in assignments:
        run_nbgrader(["generate_assignment", assignment, "--force"], root)
