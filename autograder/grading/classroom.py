"""``python -m autograder grade ASSIGNMENT``: autograde a whole class through nbgrader, in parallel.

nbgrader grades one submission after another and trusts student code. This command runs one
``nbgrader autograde ASSIGNMENT --student S`` per submission (:mod:`~autograder.grading.run_submission`),
several at once, each one

* checked first (:mod:`~autograder.grading.preflight`): a missing or invalid notebook, an empty one or
  one from another assignment gets a clear result without running anything; deleted test cells are put
  back, so the tests still run and count;
* run under limits: a time limit per cell (nbgrader's) and per notebook, and a kernel started through
  :mod:`autograder.grading.sandbox` (bubblewrap: a private copy of the submission folder, hidden tests
  and other students' work out of sight, no network; memory and process limits on its whole tree);
* recorded whatever happens: every submission ends with a score (0 when nothing could be graded) and
  a reason, in ``grades/<assignment>.csv`` beside the autograded folder, in the summary table and,
  when nbgrader graded it, in the gradebook (exported with ``nbgrader export``); see
  :mod:`~autograder.grading.report`.

Re-running grades only new or changed submissions (:mod:`~autograder.grading.state`) unless
``--force`` is given.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from .course import ROOT, Course, instructor_paths, load_course, nbgrader_env, uses_tcp
from .doctor import check_before_grading
from .gradebook import AssignmentCells, registered_cells
from .gradebook_writer import record_pending
from .report import export_gradebook, format_report, write_csv
from .results import ClassReport, FaultWatch, StudentResult, fingerprint, grader_error
from .run_submission import GradingSetup, grade_student
from .sandbox import (
    Limits,
    isolation_available,
    network_isolation_available,
    offline_command,
    write_kernelspec,
)  # fmt: skip
from .sandbox.cgroups import cgroup_available
from .sandbox.kernel_zygote import KernelZygote, KernelZygoteError
from .state import load_state, save_result, split_by_change
from .zygote import Zygote, ZygoteError


def start_zygote(env: dict[str, str], offline: bool) -> Zygote | None:
    """The preloaded nbgrader process the class's runs fork from (:mod:`.zygote`); ``None`` (each run
    then starts its own process) when it cannot start, with the reason on standard error."""
    try:
        return Zygote.start(env, prefix=offline_command([]) if offline else ())
    except ZygoteError as error:
        print(f"note: grading without the preloaded nbgrader process: {error}", file=sys.stderr)
        return None


def start_kernel_zygote(env: dict[str, str]) -> KernelZygote | None:
    """The preloaded kernel process each sandbox's kernel is forked from
    (:mod:`~autograder.grading.sandbox.kernel_zygote`); ``None`` (each kernel then starts as a new
    program) when it cannot start, with the reason on standard error."""
    try:
        return KernelZygote.start(env)
    except KernelZygoteError as error:
        print(f"note: kernels start as new programs: {error}", file=sys.stderr)
        return None


def grader_paths() -> list[Path]:
    """What of the course's own code a kernel must not see: the checks and the grading pipeline (the
    kernel needs only :mod:`autograder.probe`, the reference and the lab) and, in a source checkout,
    the ``solutions/`` notebooks with every hidden test."""
    package = ROOT / "autograder"
    return [path for path in (package / "checks", package / "grading", ROOT / "solutions") if path.exists()]


def _needed_by_kernels(path: Path, course: Course) -> bool:
    """Whether hiding ``path`` would hide what kernels run: the course root itself, or a folder that
    holds this package or the interpreter (a workspace set to the repository or one of its parents)."""
    needed = [ROOT / "autograder", Path(sys.prefix), Path(sys.executable).resolve().parent]
    return path == course.root or any(item == path or path in item.parents for item in needed)


@contextmanager
def grading_setup(
    course: Course, assignment: str, cells: AssignmentCells, limits: Limits, isolate: bool,
    preload: bool = True, owned: tuple[Path, ...] = (), also_hide: tuple[str, ...] = (),
) -> Iterator[GradingSetup]:  # fmt: skip
    """The :class:`GradingSetup` every submission of a run shares: the sandboxed kernelspec (hiding the
    course's instructor data, gradebook and grader code), nbgrader's environment and, with ``preload``,
    the preloaded nbgrader process runs fork from. Local grading and each cluster worker
    (:mod:`~autograder.grading.worker_task`) make it the same way.

    Nothing outlives the run: the run's private folder (the kernelspec, and nbgrader's ``TMPDIR``, where
    jupyter writes connection files) and the preloaded processes go when it ends. When this process
    dies instead (SIGKILL), the preloaded processes end by themselves, and the nbgrader zygote (else the
    kernel zygote) removes the run's folder and ``owned`` (the caller's folders: a worker's throwaway
    course). SIGTERM, in the main thread where nothing handles it already, ends the runs in flight,
    removes the folders and then ends this process as SIGTERM does
    (:func:`~autograder.grading.zygote.end_runs_now`).

    ``also_hide``: more folders the kernels must not see (a cluster worker's: the instructor's folders
    as the instructor's machine names them, where the worker shares its file systems)."""
    import signal
    import threading

    import psutil  # noqa: F401 - imported now, not in the signal handler (end_runs_now uses it)

    from .zygote import end_runs_now

    kernels = Path(tempfile.mkdtemp(prefix="dropout-grader-"))
    scratch = kernels / "tmp"  # nbgrader's TMPDIR: what a killed run leaves there goes with the run
    scratch.mkdir(mode=0o700)
    zygote: Zygote | None = None
    kernel_zygote: KernelZygote | None = None

    def end_on_sigterm(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        end_runs_now([kernels, *owned])
        os.kill(os.getpid(), signal.SIGTERM)  # the default action now: this process ends here

    handled = threading.current_thread() is threading.main_thread()
    handled = handled and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if handled:
        signal.signal(signal.SIGTERM, end_on_sigterm)
    try:
        isolated, isolation = isolation_available(limits) if isolate else (False, "isolation turned off")
        offline = False
        if isolate:
            if uses_tcp(course.db_url):  # kernels still have none: they talk to nbgrader over Unix sockets
                isolation += "; nbgrader itself keeps the network (the gradebook is reached over TCP)"
            else:
                offline, why = network_isolation_available()
                if not offline:
                    isolation += f"; {why}"
        hide = [*instructor_paths(course), *grader_paths(), scratch, *(Path(path) for path in also_hide)]
        env = nbgrader_env()
        forkable = preload and isolated and cgroup_available()[0]  # forks go into a cgroup, or none
        kernel_zygote = start_kernel_zygote(env) if forkable else None
        if kernel_zygote is not None:
            hide.append(kernel_zygote.folder)
            isolation += "; kernels forked from a preloaded kernel process into each sandbox"
        elif isolated:
            isolation += "; kernels start as new programs"
        hide = [p for p in dict.fromkeys(hide) if p.exists() and not _needed_by_kernels(p, course)]
        write_kernelspec(kernels, hide=hide, limits=limits, isolate=isolated)
        env["JUPYTER_PATH"] = str(kernels) + os.pathsep + env.get("JUPYTER_PATH", "")
        env["TMPDIR"] = str(scratch)
        zygote = start_zygote(env, offline) if preload else None
        owner = zygote or kernel_zygote  # the zygote, if any: it first kills the runs that write there
        for folder in [kernels, *owned] if owner is not None else []:
            owner.own(folder)
        if kernel_zygote is not None:  # for the launcher only: it removes them before the sandbox starts
            env.update(kernel_zygote.env())
        yield GradingSetup(course, assignment, cells, limits, env, offline, isolation, zygote)
    finally:
        if zygote is not None:
            zygote.close()
        if kernel_zygote is not None:
            kernel_zygote.close()
        shutil.rmtree(kernels, ignore_errors=True)
        if handled:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def grade_class(
    assignment: str,
    *,
    course: Course | None = None,
    jobs: int | None = None,
    force: bool = False,
    limits: Limits | None = None,
    isolate: bool = True,
    progress: bool = True,
    preload: bool = True,
    scheduler: str | None = None,
) -> ClassReport:
    """Grade every submission of ``assignment``; see the module docstring.

    With ``scheduler`` (a Dask scheduler address), each submission is graded as a task on that cluster
    instead (:func:`autograder.grading.cluster.grade_on_cluster`); ``jobs`` is then unused."""
    from tqdm.auto import tqdm

    course = course or load_course()
    limits = limits or Limits()
    check_before_grading(course, assignment)  # a broken set-up stops here, before any submission
    if scheduler:
        from .cluster import grade_on_cluster

        return grade_on_cluster(
            assignment, scheduler, course=course, force=force, limits=limits, isolate=isolate,
            progress=progress, preload=preload,
        )  # fmt: skip
    start = time.perf_counter()
    cells = registered_cells(course, assignment)
    workers = max(1, jobs or os.cpu_count() or 1)
    state = load_state(course, assignment)
    record_pending(course, assignment, state)  # results a cluster run could not yet put in the gradebook

    todo, skipped, prints = split_by_change(course, assignment, state, force)

    for folder in (course.submitted, course.autograded, course.feedback):
        folder.mkdir(parents=True, exist_ok=True)  # exist now, so that kernels can be kept out of them
    stop = FaultWatch()
    with grading_setup(course, assignment, cells, limits, isolate, preload=preload and bool(todo)) as setup:
        results: list[StudentResult] = []
        with (
            ThreadPoolExecutor(max_workers=workers) as pool,
            tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress) as bar,
        ):
            # At most ``workers`` submissions in flight, so that a run that must stop stops at once.
            waiting = iter(todo)
            futures = {pool.submit(grade_student, setup, s): s for s in itertools.islice(waiting, workers)}
            running = set(futures)
            while running:
                future = next(as_completed(running))
                running.discard(future)
                student = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - grade_student never raises; belt and braces
                    message = f"grader error: {type(error).__name__}: {error}"
                    result = grader_error(student, cells.max_score, message, f"crash {type(error).__name__}")
                if not result.grader_error:
                    # A repaired submission (restored test cells) counts as unchanged next time; a grader
                    # error keeps no fingerprint, so the next run grades it again.
                    submitted = course.step_path(course.coursedir.submitted_directory, student, assignment)
                    result.fingerprint = fingerprint(submitted) if submitted.is_dir() else prints[student]
                results.append(result)
                save_result(course, assignment, state, result)
                bar.update()
                stop.add(result)  # once stopped, the running ones finish and are recorded; the rest wait
                if not stop.stopped:
                    for following in itertools.islice(waiting, 1):
                        submitted_now = pool.submit(grade_student, setup, following)
                        futures[submitted_now] = following
                        running.add(submitted_now)

    csv_path = write_csv(course, assignment, state)
    export_path = export_gradebook(course)
    results.sort(key=lambda result: result.student)
    return ClassReport(
        assignment, results, skipped, time.perf_counter() - start, workers, setup.isolation, csv_path,
        export_path, stopped=stop.reason(),
        not_graded=sorted(set(todo) - set(futures.values())),
    )  # fmt: skip


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
    parser.add_argument(
        "--no-preload",
        action="store_true",
        help="start a new nbgrader process and a new kernel program per submission instead of forking "
        "preloaded ones (slower)",
    )
    # Grading on a Dask cluster (autograder.grading.cluster): the flag, else DASK_SCHEDULER_ADDRESS,
    # else c.ClusterGrading.scheduler in the course's nbgrader_config.py; none of them: local.
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="grade on the Dask cluster at ADDRESS, e.g. tcp://host:8786"
    )
    parser.add_argument("--local", action="store_true", help="grade here even if a scheduler is configured")


def run(args: argparse.Namespace) -> int:
    limits = Limits(
        cell_timeout_s=args.cell_timeout, notebook_timeout_s=args.notebook_timeout, memory_mb=args.memory_mb
    )
    from .cluster import ClusterError, SchedulerLost, resolve_scheduler

    try:
        course = load_course(args.course, args.db_url)
        report = grade_class(
            args.assignment,
            course=course,
            jobs=args.jobs,
            force=args.force,
            limits=limits,
            isolate=not args.no_isolation,
            preload=not args.no_preload,
            scheduler=resolve_scheduler(args.scheduler, course, local=args.local),
        )
    except SchedulerLost as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (LookupError, FileNotFoundError, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    if report.stopped or report.grader_errors:
        why = report.stopped or "some submissions were not graded: grader errors (listed above)"
        print(f"error: {why}", file=sys.stderr)
        return 4
    return 1 if report.pending or report.not_graded else 0
