"""``python -m autograder grade ASSIGNMENT``: autograde a whole class through nbgrader, in parallel.

nbgrader grades one submission after another and trusts student code. This command runs one
``nbgrader autograde ASSIGNMENT --student S`` per submission, several at once, each one

* checked first (:func:`preflight`): a missing or invalid notebook, an empty one or one from another
  assignment gets a clear result without running anything; deleted test cells are put back, so the
  tests still run and count;
* run under limits: a time limit per cell (nbgrader's) and per notebook (this module kills the run),
  and a kernel started through :mod:`autograder.sandbox` (memory and file-size limits, a private copy
  of the submission folder, hidden tests and other students' work out of sight, no network);
* recorded whatever happens: every submission ends with a score (0 when nothing could be graded) and
  a reason, in ``grades/<assignment>.csv`` beside the autograded folder, in the summary table and,
  when nbgrader graded it, in the gradebook (exported with ``nbgrader export``).

Re-running grades only new or changed submissions (a fingerprint of each submission folder is kept in
``grades/<assignment>.state.json``) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import nbformat

from .course import ROOT, nbgrader_env
from .sandbox import (
    Limits,
    isolation_available,
    network_isolation_available,
    offline_command,
    write_kernelspec,
)


# --------------------------------------------------------------------------------------------------
# The course, as nbgrader's configuration describes it
# --------------------------------------------------------------------------------------------------
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
        return Path(self.coursedir.format_path(step, student, assignment))


def load_course(root: Path = ROOT, db_url: str | None = None) -> Course:
    """Read ``root/nbgrader_config.py`` as nbgrader does; ``db_url`` overrides its gradebook."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    # nbgrader's Gradebook runs ``alembic`` from PATH, here in this process too.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
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


def _sqlite_path(db_url: str) -> Path | None:
    return Path(db_url[len("sqlite:///") :].split("?", 1)[0]) if db_url.startswith("sqlite:///") else None


def _with_sqlite_busy_timeout(db_url: str, seconds: int = 120) -> str:
    """Parallel graders share one SQLite file: let each wait for the write lock instead of failing."""
    if not db_url.startswith("sqlite:///") or "timeout=" in db_url:
        return db_url
    return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"


def _socket_dirs(db_url: str) -> list[Path]:
    """Unix-socket folders a server database URL names (hidden from kernels too)."""
    parsed = urlparse(db_url)
    hosts = parse_qs(parsed.query).get("host", [])
    return [Path(host) for host in hosts if host.startswith("/")]


def _uses_tcp(db_url: str) -> bool:
    parsed = urlparse(db_url)
    return not db_url.startswith("sqlite") and not _socket_dirs(db_url) and bool(parsed.hostname)


@dataclass(frozen=True)
class AssignmentCells:
    """What the gradebook knows of an assignment: its notebooks and their cells' grade ids."""

    notebooks: dict[str, set[str]]  # notebook name -> grade ids of all its graded/solution cells
    tests: dict[str, list[str]]  # notebook name -> grade ids of its autograded test cells
    max_score: float


def assignment_cells(course: Course, assignment: str) -> AssignmentCells:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise LookupError(f"the gradebook has no assignment {assignment!r}") from None
        notebooks, tests = {}, {}
        for notebook in record.notebooks:
            notebooks[notebook.name] = {c.name for c in notebook.grade_cells} | {
                c.name for c in notebook.solution_cells
            }
            tests[notebook.name] = [c.name for c in notebook.grade_cells if c.cell_type == "code"]
        return AssignmentCells(notebooks, tests, float(record.max_score))


def register_assignment(course: Course, assignment: str) -> None:
    """Put ``assignment`` in the gradebook (``nbgrader generate_assignment``, as an instructor would).

    A fresh gradebook, such as a new PostgreSQL database, knows no assignment yet. Generating rewrites
    the release folder with the same bytes (generation is deterministic).
    """
    if not (course.source / assignment).is_dir():
        raise LookupError(f"no assignment {assignment!r}: {course.source / assignment} does not exist")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
         f"--CourseDirectory.db_url={course.db_url}"],
        cwd=course.root, env=nbgrader_env(), capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        reason = _last_error_line(result.stdout + result.stderr)
        raise LookupError(f"could not register {assignment!r} in the gradebook: {reason}")


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass
class StudentResult:
    """One student's outcome. ``status`` is ``graded`` (nbgrader scored it) or ``failed``."""

    student: str
    status: str
    score: float
    max_score: float
    message: str = ""
    failed_tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fingerprint: str = ""


def fingerprint(folder: Path) -> str:
    """A hash of every file's relative path and bytes: changes whenever the submission does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Before running anything
# --------------------------------------------------------------------------------------------------
def _grade_id(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def preflight(course: Course, assignment: str, student: str, cells: AssignmentCells) -> str | None:
    """Check (and where possible repair) a submission before nbgrader sees it.

    Returns None when it can be graded as it is, ``"repaired: ..."`` after restoring deleted test
    cells (the original is kept as ``<name>.ipynb.submitted``), or a reason it cannot be graded.
    """
    folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
    notes = []
    for name, grade_ids in cells.notebooks.items():
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            found = sorted(p.name for p in folder.glob("*.ipynb"))
            return f"no {name}.ipynb in the submission (found: {', '.join(found) or 'no notebook'})"
        try:
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as error:  # noqa: BLE001 - any parse failure is the student's broken file
            reason = " ".join(str(error).split())[:200]
            return f"{name}.ipynb is not a valid notebook ({type(error).__name__}: {reason})"
        present = {_grade_id(cell) for cell in notebook.cells} - {None}
        if not present & grade_ids:
            return (
                f"{name}.ipynb has none of the cells of assignment {assignment!r}: "
                f"it is empty or belongs to another assignment"
            )
        missing_tests = [grade_id for grade_id in cells.tests[name] if grade_id not in present]
        if missing_tests:
            release = nbformat.read(course.release / assignment / f"{name}.ipynb", as_version=4)
            originals = {_grade_id(cell): cell for cell in release.cells}
            restorable = [g for g in missing_tests if g in originals]
            if restorable:
                shutil.copy2(path, path.with_name(path.name + ".submitted"))
                for grade_id in restorable:  # appended: they run after every solution cell
                    notebook.cells.append(originals[grade_id])
                nbformat.write(notebook, path)
                notes.append(f"restored deleted test cells {', '.join(restorable)}")
    return "repaired: " + "; ".join(notes) if notes else None


# --------------------------------------------------------------------------------------------------
# Running nbgrader for one student
# --------------------------------------------------------------------------------------------------
def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    processes = parent.children(recursive=True) + [parent]
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


@dataclass(frozen=True)
class GradingSetup:
    """Everything the per-student runs share."""

    course: Course
    assignment: str
    cells: AssignmentCells
    limits: Limits
    env: dict[str, str]
    offline: bool
    isolation: str


def _error_text(output: Any) -> str:
    text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
    return " ".join(text.split())[:300]


def _notebook_messages(
    course: Course, assignment: str, student: str, failed: set[str]
) -> tuple[dict[str, str], list[str]]:
    """From the autograded notebook: each failed test's error message, and the errors of the student's
    own cells (a cell that raised, timed out or hit the memory limit explains the failures after it)."""
    folder = course.step_path(course.coursedir.autograded_directory, student, assignment)
    tests: dict[str, str] = {}
    own: list[str] = []
    for path in folder.glob("*.ipynb"):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001, S112 - an unreadable copy only costs the messages
            continue
        test_ids = course_tests(notebook)
        for index, cell in enumerate(notebook.cells, start=1):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not errors:
                continue
            grade_id = _grade_id(cell)
            if grade_id in failed:
                tests[grade_id] = _error_text(errors[-1])
            elif grade_id not in test_ids:
                own.append(f"your cell {grade_id or f'#{index}'} raised {_error_text(errors[-1])}")
    return tests, own


def course_tests(notebook: Any) -> set[str]:
    """Grade ids of a notebook's autograded test cells."""
    return {
        _grade_id(cell)
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
        and not cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


_KERNEL_DIED = ("DeadKernelError", "Kernel died", "kernel died")
_KERNEL_DID_NOT_START = ("Kernel didn't respond", "sandbox: ")


def _read_score(setup: GradingSetup, student: str) -> tuple[float, float, list[str]] | None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(setup.course.db_url) as gradebook:
        try:
            submission = gradebook.find_submission(setup.assignment, student)
        except MissingEntry:
            return None
        failed = [
            grade.name
            for notebook in submission.notebooks
            for grade in notebook.grades
            if grade.max_score and (grade.score or 0.0) < grade.max_score
        ]
        return float(submission.score), float(submission.max_score), failed


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    interesting = [line for line in lines if "Error" in line or "error" in line or "died" in line]
    return (interesting or lines or ["no output"])[-1][:300]


def grade_student(setup: GradingSetup, student: str) -> StudentResult:
    """Preflight, then ``nbgrader autograde`` for one student under the limits; never raises."""
    start = time.perf_counter()
    max_score = setup.cells.max_score

    def failed(message: str) -> StudentResult:
        return StudentResult(student, "failed", 0.0, max_score, message, seconds=time.perf_counter() - start)

    try:
        problem = preflight(setup.course, setup.assignment, student, setup.cells)
    except Exception as error:  # noqa: BLE001 - a crash here must not stop the class
        return failed(f"could not read the submission ({type(error).__name__}: {error})")
    note = ""
    if problem is not None and not problem.startswith("repaired: "):
        return failed(problem)
    if problem is not None:
        note = problem.removeprefix("repaired: ")
    command = [
        sys.executable, "-m", "nbgrader", "autograde", setup.assignment,
        "--student", student, "--force", "--create",
        f"--Execute.timeout={setup.limits.cell_timeout_s}",
        "--Execute.kernel_name=" + KERNEL_NAME_FOR_GRADING,
        "--Execute.interrupt_on_timeout=True",
        f"--CourseDirectory.db_url={_with_sqlite_busy_timeout(setup.course.db_url)}",
    ]  # fmt: skip
    if setup.offline:
        command = offline_command(command)
    process = subprocess.Popen(
        command,
        cwd=setup.course.root,
        env=setup.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=setup.limits.notebook_timeout_s)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        return failed(
            f"stopped after the notebook time limit of {setup.limits.notebook_timeout_s} s "
            f"(an endless loop?); nothing could be scored"
        )
    if any(marker in output for marker in _KERNEL_DID_NOT_START):
        # The grader's fault, not the student's: say so, and leave no misleading zero in the gradebook.
        return failed(f"the grading kernel did not start, so nothing ran (a grader problem): "
                      f"{_last_error_line(output)}")  # fmt: skip
    score = _read_score(setup, student)
    if any(marker in output for marker in _KERNEL_DIED):
        problem = (
            "the kernel died while running the notebook (os._exit, a crash, or the memory limit); "
            "the cells after that point could not run"
        )
    elif process.returncode != 0:
        problem = f"nbgrader reported: {_last_error_line(output)}"
    else:
        problem = ""
    if score is None:
        return failed(problem or "nbgrader recorded no grade for it")
    points, total, failed_tests = score
    messages, own_errors = _notebook_messages(setup.course, setup.assignment, student, set(failed_tests))
    details = [f"{test}: {messages.get(test, 'no points')}" for test in failed_tests]
    message = "; ".join(part for part in [note, problem, *own_errors, *details] if part)
    return StudentResult(student, "graded", points, total, message, failed_tests, time.perf_counter() - start)


KERNEL_NAME_FOR_GRADING = "dropout-sandbox"


# --------------------------------------------------------------------------------------------------
# The whole class
# --------------------------------------------------------------------------------------------------
@dataclass
class ClassReport:
    assignment: str
    results: list[StudentResult]
    skipped: list[str]  # unchanged since the last run
    seconds: float
    workers: int
    isolation: str
    csv_path: Path
    export_path: Path | None


def _state_path(course: Course, assignment: str) -> Path:
    return course.grades_dir() / f"{assignment}.state.json"


def _load_state(course: Course, assignment: str) -> dict[str, dict[str, Any]]:
    path = _state_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return {}


def students_with_submissions(course: Course, assignment: str) -> list[str]:
    if not course.submitted.is_dir():
        return []
    return sorted(entry.name for entry in course.submitted.iterdir() if (entry / assignment).is_dir())


def grade_class(
    assignment: str,
    *,
    course: Course | None = None,
    jobs: int | None = None,
    force: bool = False,
    limits: Limits | None = None,
    isolate: bool = True,
    progress: bool = True,
) -> ClassReport:
    """Grade every submission of ``assignment``; see the module docstring."""
    from tqdm.auto import tqdm

    course = course or load_course()
    limits = limits or Limits()
    start = time.perf_counter()
    try:
        cells = assignment_cells(course, assignment)
    except LookupError:
        register_assignment(course, assignment)
        cells = assignment_cells(course, assignment)
    workers = max(1, jobs or os.cpu_count() or 1)
    state = _load_state(course, assignment)

    students = students_with_submissions(course, assignment)
    todo, skipped = [], []
    prints = {}
    for student in students:
        folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
        prints[student] = fingerprint(folder)
        previous = state.get(student)
        if not force and previous and previous.get("fingerprint") == prints[student]:
            skipped.append(student)
        else:
            todo.append(student)

    for folder in (course.submitted, course.autograded, course.feedback):
        folder.mkdir(parents=True, exist_ok=True)  # exist now, so that kernels can be kept out of them
    kernels = Path(tempfile.mkdtemp(prefix="dropout-grader-"))
    try:
        isolated, isolation = isolation_available() if isolate else (False, "isolation turned off")
        offline = False
        if isolate:
            if _uses_tcp(course.db_url):
                isolation += "; network NOT isolated (the gradebook is reached over TCP)"
            else:
                offline, why = network_isolation_available()
                if not offline:
                    isolation += f"; {why}"
        hide = [course.source, course.submitted, course.autograded, course.feedback, course.workspace]
        hide += [course.root / ".git", *_socket_dirs(course.db_url)]
        sqlite = _sqlite_path(course.db_url)
        if sqlite is not None:
            hide.append(sqlite.parent if sqlite.parent != course.root else sqlite)
        hide = [path for path in dict.fromkeys(hide) if path.exists() and path != course.root]
        write_kernelspec(kernels, hide=hide, limits=limits, isolate=isolated)
        env = nbgrader_env()
        env["JUPYTER_PATH"] = str(kernels) + os.pathsep + env.get("JUPYTER_PATH", "")
        setup = GradingSetup(course, assignment, cells, limits, env, offline, isolation)

        results: list[StudentResult] = []
        with (
            ThreadPoolExecutor(max_workers=workers) as pool,
            tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress) as bar,
        ):
            futures = {pool.submit(grade_student, setup, student): student for student in todo}
            for future in as_completed(futures):
                student = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - grade_student never raises; belt and braces
                    result = StudentResult(student, "failed", 0.0, cells.max_score, f"grader error: {error}")
                # After grading: a repaired submission (restored test cells) counts as unchanged next time.
                submitted = course.step_path(course.coursedir.submitted_directory, student, assignment)
                result.fingerprint = fingerprint(submitted) if submitted.is_dir() else prints[student]
                results.append(result)
                state[student] = asdict(result)
                _state_path(course, assignment).write_text(json.dumps(state, indent=1, sort_keys=True))
                bar.update()
    finally:
        shutil.rmtree(kernels, ignore_errors=True)

    csv_path = _write_csv(course, assignment, state)
    export_path = _export(course)
    results.sort(key=lambda result: result.student)
    return ClassReport(
        assignment, results, skipped, time.perf_counter() - start, workers, isolation, csv_path, export_path
    )


def _write_csv(course: Course, assignment: str, state: dict[str, dict[str, Any]]) -> Path:
    path = course.grades_dir() / f"{assignment}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", "message"])
        for student in sorted(state):
            row = state[student]
            writer.writerow([student, row["score"], row["max_score"], row["status"], row["message"]])
    return path


def _export(course: Course) -> Path | None:
    """nbgrader's own CSV export of the whole gradebook (None if nbgrader could not export)."""
    target = course.grades_dir() / "nbgrader-export.csv"
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "export", "--to", str(target),
         f"--CourseDirectory.db_url={course.db_url}"],
        cwd=course.root, env=nbgrader_env(), capture_output=True, text=True,
    )  # fmt: skip
    return target if result.returncode == 0 and target.is_file() else None


def format_report(report: ClassReport) -> str:
    """The summary table: who was graded, score statistics and distribution, failures and reasons."""
    lines = [
        f"assignment {report.assignment}: {len(report.results)} graded now, "
        f"{len(report.skipped)} unchanged since the last run (use --force to regrade), "
        f"{report.seconds:.1f} s with {report.workers} worker(s)",
        f"isolation: {report.isolation}",
    ]
    if report.results:
        scores = [r.score for r in report.results]
        total = report.results[0].max_score or 1.0
        lines.append(
            f"score: mean {statistics.mean(scores):.2f} / {total:g}, median {statistics.median(scores):.2f}, "
            f"min {min(scores):.2f}, max {max(scores):.2f}"
        )
        lines.append("distribution (share of the maximum):")
        bins = [0] * 5
        for score in scores:
            bins[min(4, int(5 * score / total))] += 1
        for index, count in enumerate(bins):
            low, high = 20 * index, 20 * (index + 1)
            closing = "]" if index == 4 else ")"
            lines.append(f"  [{low:>3}%, {high:>3}%{closing} {'#' * count} {count}")
        lines.append("")
        lines.append(f"{'student':<24}{'score':>8}{'max':>6}  {'status':<8} message")
        for result in report.results:
            message = result.message if len(result.message) <= 160 else result.message[:157] + "..."
            score = f"{result.score:>8.2f}{result.max_score:>6g}"
            lines.append(f"{result.student:<24}{score}  {result.status:<8} {message}")
    failures = [r for r in report.results if r.status == "failed"]
    lines.append("")
    lines.append(f"failures: {len(failures)}" + ("" if failures else " (every submission was scored)"))
    for result in failures:
        lines.append(f"  {result.student}: {result.message}")
    lines.append(f"grades: {report.csv_path}")
    if report.export_path:
        lines.append(f"nbgrader export: {report.export_path}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the assignment to grade, e.g. masks")
    parser.add_argument("--jobs", "-j", type=int, help="parallel graders (default: all cores)")
    parser.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    parser.add_argument("--course", type=Path, default=ROOT, help="course root (holds nbgrader_config.py)")
    parser.add_argument("--db-url", help="gradebook URL (default: the course's, SQLite)")
    parser.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout_s, help="seconds per cell")
    parser.add_argument(
        "--notebook-timeout", type=int, default=Limits.notebook_timeout_s, help="seconds per notebook"
    )
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="kernel memory limit")
    parser.add_argument("--no-isolation", action="store_true", help="run kernels with limits only")


def run(args: argparse.Namespace) -> int:
    limits = Limits(
        cell_timeout_s=args.cell_timeout, notebook_timeout_s=args.notebook_timeout, memory_mb=args.memory_mb
    )
    try:
        course = load_course(args.course, args.db_url)
        report = grade_class(
            args.assignment,
            course=course,
            jobs=args.jobs,
            force=args.force,
            limits=limits,
            isolate=not args.no_isolation,
        )
    except (LookupError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


__all__ = [
    "ClassReport",
    "Course",
    "StudentResult",
    "format_report",
    "grade_class",
    "load_course",
    "preflight",
]
