"""Grading one submission: preflight, then ``nbgrader autograde`` under limits, then a result that says why.

:func:`grade_student` never raises: a submission that cannot be read, runs past the notebook time
limit, kills its kernel or makes nbgrader fail still ends with a
:class:`~autograder.grading.results.StudentResult` (score 0 when nothing could be scored) and a
message naming the reason; the failed tests' messages come from the autograded notebook.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from . import phases
from .cells import grade_id, test_ids
from .course import Course, last_error_line, with_sqlite_busy_timeout
from .faults import GRADER_ENAME, GraderFault
from .gradebook import AssignmentCells, forget_grade, read_score
from .preflight import preflight
from .results import FAILED, GRADED, StudentResult, grader_error
from .sandbox import KERNEL_NAME, Limits, kernel_folder, offline_command, read_status
from .zygote import Zygote, ZygoteError


def kill_tree(pid: int) -> None:
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
    zygote: Zygote | None = None  # a preloaded nbgrader process to fork (:mod:`.zygote`), if any


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
        tests_here = test_ids(notebook.cells)
        for index, cell in enumerate(notebook.cells, start=1):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not errors:
                continue
            name = grade_id(cell)
            if name in failed:
                tests[name] = _error_text(errors[-1])
            elif name not in tests_here:
                own.append(f"your cell {name or f'#{index}'} raised {_error_text(errors[-1])}")
    return tests, own


_KERNEL_DIED = ("DeadKernelError", "Kernel died", "kernel died")


def _not_started(statuses: list[dict], output: str) -> str | None:
    """Why the grading kernel did not start (a grader problem), from the launcher's status file.

    No status line at all means the launcher never ran, so nothing of the student's did either, and
    jupyter's own message is the reason."""
    for status in statuses:
        if status.get("kernel") != "started":
            return str(status.get("error", "unknown error"))
    if not statuses and "Kernel didn't respond" in output:
        return last_error_line(output)
    return None


@functools.cache
def _setpriv_pdeathsig() -> str | None:
    """util-linux's ``setpriv`` when it can set the parent-death signal, else None."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    try:
        usage = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return setpriv if "--pdeathsig" in usage else None


def dies_with_grader(command: list[str]) -> list[str]:
    """``command`` made to get SIGKILL when the grading thread that starts it dies, however it dies
    (the kernel's parent-death signal, kept across ``exec``): a run started as a new program (no
    zygote) never outlives a ``grade`` that was killed. Unchanged where ``setpriv`` cannot do it."""
    setpriv = _setpriv_pdeathsig()
    return [setpriv, "--pdeathsig", "KILL", "--", *command] if setpriv else command


def _run_nbgrader(
    setup: GradingSetup, command: list[str], env: dict[str, str], folder: Path
) -> tuple[int, str, bool]:
    """Run ``nbgrader autograde`` for one submission: forked from the zygote when there is one, else a
    new process. Returns its exit status, its output and whether it was stopped at the notebook limit."""
    limit = setup.limits.notebook_timeout_s
    if setup.zygote is not None and setup.zygote.alive():
        output_path = folder / "nbgrader.log"
        try:
            forked = setup.zygote.spawn(command[3:], cwd=setup.course.root, env=env, output=output_path)
        except ZygoteError:
            pass  # fall back to a new process below
        else:
            try:
                returncode = forked.wait(limit)
                timed_out = False
            except subprocess.TimeoutExpired:
                kill_tree(forked.pid)
                forked.close()
                returncode, timed_out = -9, True
            try:
                output = output_path.read_text(errors="replace")
            except OSError:
                output = ""
            return returncode, output, timed_out
    if setup.offline:
        command = offline_command(command)
    command = dies_with_grader(command)
    process = subprocess.Popen(
        command,
        cwd=setup.course.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.communicate()
        return -9, "", True
    return process.returncode, output, False


def grade_student(setup: GradingSetup, student: str) -> StudentResult:
    """Preflight, then ``nbgrader autograde`` for one student under the limits; never raises."""
    start = time.perf_counter()
    started = time.time()
    max_score = setup.cells.max_score

    def failed(message: str) -> StudentResult:
        return StudentResult(student, FAILED, 0.0, max_score, message, seconds=time.perf_counter() - start)

    def fault(message: str, kind: str, *, ran: bool = True) -> StudentResult:
        """The grader's fault: no grade of this run stays in the gradebook (nbgrader may have written
        one when it ``ran``; before it ran, an earlier run's grade is left as it was)."""
        if ran:
            forget_grade(setup.course, setup.assignment, student)
        return grader_error(student, max_score, message, kind, time.perf_counter() - start)

    try:
        checked = preflight(setup.course, setup.assignment, student, setup.cells)
    except GraderFault as error:
        return fault(f"grader error before grading (not the student's doing): {error}", error.kind, ran=False)
    except Exception as error:  # noqa: BLE001 - a crash of the grader's own code must not stop the class
        return fault(
            f"grader error: preflight crashed on this submission ({type(error).__name__}: {error})",
            f"preflight {type(error).__name__}",
            ran=False,
        )
    if checked.problem is not None:
        return failed(checked.problem)
    note = "; ".join(checked.repairs)
    command = [
        sys.executable, "-m", "nbgrader", "autograde", setup.assignment,
        "--student", student, "--force", "--create",
        f"--Execute.timeout={setup.limits.cell_timeout_s}",
        "--Execute.kernel_name=" + KERNEL_NAME,
        "--Execute.interrupt_on_timeout=True",
        f"--CourseDirectory.db_url={with_sqlite_busy_timeout(setup.course.db_url)}",
        "--AutogradeRoute.preflighted=True",  # the course refuses other autograde runs (.grading_route)
    ]  # fmt: skip
    kernels, kernel_env, kernel_options = kernel_folder()  # sockets and the launcher's status file
    command += kernel_options
    marks = kernels / "phases.jsonl"
    phases.mark("start", path=marks, at=started)
    env = {**setup.env, **kernel_env, phases.ENV: str(marks)}
    try:
        phases.mark("spawn", path=marks)
        returncode, output, timed_out = _run_nbgrader(setup, command, env, kernels)
        exited = time.time()
        phases.mark("exited", path=marks, at=exited)
        if timed_out:
            return failed(
                f"stopped after the notebook time limit of {setup.limits.notebook_timeout_s} s "
                f"(an endless loop?); nothing could be scored"
            )
        statuses = read_status(kernels)
    finally:
        timings = phases.durations(marks)
        shutil.rmtree(kernels, ignore_errors=True)
    why_not = _not_started(statuses, output)
    if why_not is not None:
        # The grader's fault, not the student's: say so, and leave no misleading zero in the gradebook.
        return fault(f"grader error: the grading kernel did not start, so nothing ran: {why_not}", "kernel")
    refused = sorted({item for status in statuses for item in status.get("refused", [])})
    if refused:
        left_out = "left out of the kernel's copy: " + ", ".join(refused)
        note = "; ".join(part for part in [note, left_out] if part)
    score = read_score(setup.course, setup.assignment, student)
    if any(marker in output for marker in _KERNEL_DIED):
        problem = (
            "the kernel died while running the notebook (os._exit, a crash, or the memory limit); "
            "the cells after that point could not run"
        )
    elif returncode != 0:
        problem = f"nbgrader reported: {last_error_line(output)}"
    else:
        problem = ""
    if score is None:  # preflight accepted the notebook, so nbgrader itself failed on it
        return fault(f"grader error: nbgrader recorded no grade ({problem or 'no reason given'})", "nbgrader")
    points, total, failed_tests = score
    messages, own_errors = _notebook_messages(setup.course, setup.assignment, student, set(failed_tests))
    judge_faults = [messages[t] for t in failed_tests if messages.get(t, "").startswith(GRADER_ENAME)]
    if judge_faults:
        return fault(f"grader error: the judge could not grade it: {judge_faults[0]}", "judge")
    details = [f"{test}: {messages.get(test, 'no points')}" for test in failed_tests]
    message = "; ".join(part for part in [note, problem, *own_errors, *details] if part)
    seconds = time.perf_counter() - start
    timings["results"] = time.time() - exited
    return StudentResult(student, GRADED, points, total, message, failed_tests, seconds, phases=timings)
