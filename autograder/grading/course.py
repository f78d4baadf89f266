"""The course's configuration: where its notebooks live, its gradebook, and how nbgrader is run on it.

The instructor's own nbgrader runs read ``nbgrader_config.py`` at the repository root (source
``solutions/``, release ``exercises/``, an ignored ``instructor/`` workspace). The package's commands
(``release``, ``selfcheck``) instead build a throwaway course in a temporary folder with nbgrader's
default layout, so they never touch the instructor's gradebook and always produce the same bytes.

:class:`Course` is a course as its ``nbgrader_config.py`` describes it (what class grading reads);
the database-URL helpers say what a gradebook URL implies for the sandbox (a file to hide, socket
folders to hide, or TCP, which keeps the network open).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from autograder.interpreter_env import child_env

#: The assignments, in course order (one folder and one notebook of the same name each).
ASSIGNMENTS: tuple[str, ...] = ("masks", "autograd", "weights", "practice")

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

_TEMP_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "dropout-course"
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.Execute.timeout = {timeout}
c.ExecutePreprocessor.timeout = {timeout}
from autograder.grading.nbgrader_plugins import configure
configure(c)
"""


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs: this interpreter's bin first on PATH (it calls ``alembic``)."""
    env = child_env()
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


@dataclass(frozen=True)
class Course:
    """Paths and gradebook of an nbgrader course, read from its ``nbgrader_config.py``."""

    root: Path
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    coursedir: Any = field(repr=False, compare=False)

    @property
    def workspace(self) -> Path:
        """Where grading results go: the folder that holds the autograded folder."""
        return self.autograded.parent

    def grades_dir(self) -> Path:
        path = self.workspace / "grades"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def step_path(self, step: str, student: str, assignment: str) -> Path:
        """The folder of ``student``'s ``assignment`` in nbgrader step ``step`` (a ``*_directory`` value).

        Built on the step's folder as :func:`load_course` resolved it, once, so that every path of a
        run compares equal to :attr:`submitted` and the others wherever the workspace lies (outside the
        repository, through the instructor's link, given relatively); the student's and assignment's
        parts are joined, never resolved: a link inside a submission is not followed here."""
        resolved = {
            self.coursedir.source_directory: self.source,
            self.coursedir.release_directory: self.release,
            self.coursedir.submitted_directory: self.submitted,
            self.coursedir.autograded_directory: self.autograded,
            self.coursedir.feedback_directory: self.feedback,
        }
        structure = self.coursedir.directory_structure
        if step in resolved and structure.startswith("{nbgrader_step}"):
            rest = structure[len("{nbgrader_step}") :].lstrip("/\\")
            return resolved[step] / rest.format(student_id=student, assignment_id=assignment)
        return Path(self.coursedir.format_path(step, student, assignment))


def load_course(root: Path = ROOT, db_url: str | None = None) -> Course:
    """Read ``root/nbgrader_config.py`` as nbgrader does; ``db_url`` overrides its gradebook."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    if not (root / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{root} is not a course: it has no nbgrader_config.py")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if db_url:
        config.CourseDirectory.db_url = db_url
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(root)

    def folder(name: str) -> Path:
        return (root / getattr(coursedir, name)).resolve()

    return Course(
        root=root.resolve(),
        source=folder("source_directory"),
        release=folder("release_directory"),
        submitted=folder("submitted_directory"),
        autograded=folder("autograded_directory"),
        feedback=folder("feedback_directory"),
        db_url=coursedir.db_url,
        coursedir=coursedir,
    )


def instructor_paths(course: Course) -> list[Path]:
    """What of ``course`` no kernel may see: its source notebooks (hidden tests), every student's
    submission, autograded copy and feedback, the workspace, the gradebook (its file's folder, or its
    server's socket folders) and the repository's ``.git``; existing or not (callers filter)."""
    hide = [course.source, course.submitted, course.autograded, course.feedback, course.workspace]
    hide += [course.root / ".git", *socket_dirs(course.db_url)]
    sqlite = sqlite_path(course.db_url)
    if sqlite is not None:
        hide.append(sqlite.parent if sqlite.parent != course.root else sqlite)
    return list(dict.fromkeys(hide))


def sqlite_path(db_url: str) -> Path | None:
    return Path(db_url[len("sqlite:///") :].split("?", 1)[0]) if db_url.startswith("sqlite:///") else None


def with_sqlite_busy_timeout(db_url: str, seconds: int = 120) -> str:
    """Parallel graders share one SQLite file: let each wait for the write lock instead of failing."""
    if not db_url.startswith("sqlite:///") or "timeout=" in db_url:
        return db_url
    return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"


def socket_dirs(db_url: str) -> list[Path]:
    """Unix-socket folders a server database URL names (hidden from kernels too)."""
    parsed = urlparse(db_url)
    hosts = parse_qs(parsed.query).get("host", [])
    return [Path(host) for host in hosts if host.startswith("/")]


def uses_tcp(db_url: str) -> bool:
    parsed = urlparse(db_url)
    return not db_url.startswith("sqlite") and not socket_dirs(db_url) and bool(parsed.hostname)


def last_error_line(text: str) -> str:
    """The line of a command's output that best says why it failed (for one-line messages)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    interesting = [line for line in lines if "Error" in line or "error" in line or "died" in line]
    return (interesting or lines or ["no output"])[-1][:300]
