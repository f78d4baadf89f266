"""Grading a class on a Dask distributed cluster, and a real cluster on loopback to test it with.

``python -m autograder grade A --scheduler tcp://host:8786`` (or Dask's own ``DASK_SCHEDULER_ADDRESS``,
or ``c.ClusterGrading.scheduler`` in the course's ``nbgrader_config.py``) runs each submission as a
task on the cluster (:func:`grade_on_cluster`). Workers are trusted machines with the installed package
only: each task carries the assignment (source with hidden tests, released files, limits) and the
submission as bytes (:mod:`~autograder.grading.worker_task`), and the worker grades it with the same
:func:`~autograder.grading.run_submission.grade_student`, sandbox and judge as local grading.

The instructor's side records each result once, in the main thread: the autograded files into the
course's ``autograded/`` folder, the per-cell grades into the course's gradebook
(:mod:`~autograder.grading.gradebook_writer`, retried with backoff, journalled until written), the state
and the CSV as local grading does. Faults lose nothing:

* a worker that dies mid-batch: Dask reruns its tasks elsewhere; the client records each result once;
* a submission that kills every worker it touches: after Dask's ``allowed-failures`` it ends as
  ``KilledWorker``, and the submission is recorded as failed with that reason (not retried next run);
* the scheduler lost mid-batch: :class:`SchedulerLost` says how many results were recorded; a rerun
  skips them (the state has them) and grades the rest;
* the gradebook unreachable: the results wait in ``grades/<assignment>.pending/`` and the state; the
  next run records them without grading them again.

:class:`LoopbackCluster` (and :func:`loopback_cluster`) starts ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1 for tests and the benchmark; :func:`measure_overheads` measures the scheduler's
overhead per task and gradebook writes per second.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from .course import Course, generate, instructor_paths, load_course, make_course
from .faults import GraderFault
from .gradebook import assignment_cells, open_gradebook, register_assignment, registered_cells
from .gradebook_writer import GradebookWriter, PendingJournal, record_pending, write_with_retry
from .report import export_gradebook, write_csv
from .results import FAILED, ClassReport, StudentResult, grader_error
from .sandbox import Limits
from .state import load_state, save_result, split_by_change
from .submission_files import (
    FolderLimits,
    UnsafeSubmission,
    check_folder,
    check_real_directory,
    read_regular_file,
)
from .worker_task import AssignmentBundle, SubmissionFiles, TaskOutcome, bundle_value, grade_task

#: The course-config key: ``c.ClusterGrading.scheduler = "tcp://host:8786"`` in ``nbgrader_config.py``.
CONFIG_SECTION, CONFIG_KEY = "ClusterGrading", "scheduler"
#: Dask's own environment variable for the scheduler address (Dask's config key ``scheduler-address``).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


class ClusterError(Exception):
    """The cluster could not be used (unreachable scheduler, no workers); the message says why."""


class SchedulerLost(ClusterError):
    """The scheduler went away mid-batch; what was recorded stays recorded, a rerun grades the rest."""

    def __init__(self, address: str, recorded: int, total: int) -> None:
        self.recorded, self.total = recorded, total
        super().__init__(
            f"lost the scheduler at {address} in the middle of the batch: {recorded} of {total} "
            f"submissions were graded and recorded; run grade again (with a running scheduler) to grade "
            f"the other {total - recorded} (recorded ones are skipped)"
        )


def resolve_scheduler(flag: str | None, course: Course, *, local: bool = False) -> str | None:
    """The scheduler address to grade on, or None for local grading.

    In order: ``--local`` (None), the ``--scheduler`` flag, Dask's ``DASK_SCHEDULER_ADDRESS`` (or
    ``scheduler-address`` in Dask's own config files, as Dask users expect), the course config's
    ``c.ClusterGrading.scheduler``; without any of these, None.
    """
    if local:
        return None
    if flag:
        return flag
    if os.environ.get(SCHEDULER_ENV):
        return os.environ[SCHEDULER_ENV]
    try:
        import dask.config

        configured = dask.config.get("scheduler-address", default=None)
    except ImportError:
        configured = None
    if configured:
        return str(configured)
    section = course.coursedir.config.get(CONFIG_SECTION, {})
    value = section.get(CONFIG_KEY) if hasattr(section, "get") else None
    return str(value) if value else None


def connect(address: str, timeout_s: float = 10.0) -> Any:
    """A ``distributed.Client`` on ``address``; :class:`ClusterError` with one line if it cannot connect."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(
            "grading on a cluster needs Dask's distributed package: pip install 'dropout-course[grading]'"
        ) from None
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}") from None


def _read_tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".ipynb_checkpoints" not in path.parts
    }


def assignment_bundle(
    course: Course, assignment: str, limits: Limits, isolate: bool, preload: bool = True
) -> AssignmentBundle:
    """What every task of ``assignment`` carries from the instructor's course (bytes, not paths)."""
    from nbgrader.api import MissingEntry

    with open_gradebook(course.db_url) as gradebook:
        try:
            duedate = gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            duedate = None
    source = _read_tree(course.source / assignment)
    due = duedate.isoformat() if duedate else None
    return AssignmentBundle(
        assignment=assignment,
        source=source,
        release=_read_tree(course.release / assignment) if (course.release / assignment).is_dir() else {},
        duedate=due,
        limits=limits,
        isolate=isolate,
        gradebook=_assignment_gradebook(assignment, source, due),
        preload=preload,
        hide=tuple(str(path) for path in instructor_paths(course)),
    )


_gradebooks: dict[str, bytes] = {}


def _assignment_gradebook(assignment: str, source: dict[str, bytes], duedate: str | None) -> bytes:
    """A fresh SQLite gradebook holding only ``assignment`` (generated from ``source``, with the due
    date), built once per process here so that no worker has to run ``nbgrader generate_assignment``."""
    import hashlib

    digest = hashlib.sha256(repr((assignment, duedate, sorted(source.items()))).encode()).hexdigest()
    if digest not in _gradebooks:
        folder = Path(tempfile.mkdtemp(prefix="dropout-bundle-"))
        try:
            root = make_course(folder / "course", ())
            for name, data in source.items():
                path = root / "source" / assignment / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            generate(root, (assignment,))
            if duedate:
                from datetime import datetime

                with open_gradebook(load_course(root).db_url) as gradebook:
                    gradebook.update_or_create_assignment(assignment, duedate=datetime.fromisoformat(duedate))
            _gradebooks[digest] = (root / "gradebook.db").read_bytes()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _gradebooks[digest]


def submission_files(course: Course, assignment: str, student: str) -> SubmissionFiles | str:
    """The submission's files as bytes, read as hostile input (no link followed, sizes bounded), or
    the reason it is refused: the same words :func:`~autograder.grading.preflight.preflight` uses."""
    folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
    limits = FolderLimits()
    try:
        check_real_directory(folder, course.submitted)
        entries = check_folder(folder, limits)
        files, directories = {}, []
        for relative, info in entries.items():
            if (info.st_mode & 0o170000) == 0o040000:
                directories.append(relative)
            else:
                files[relative] = read_regular_file(folder / relative, limits.max_total_bytes, relative)
    except UnsafeSubmission as refused:
        return f"submission refused: {refused}"
    return SubmissionFiles(student, files, tuple(directories))


def _write_autograded(course: Course, assignment: str, student: str, files: dict[str, bytes]) -> None:
    """Replace the student's autograded folder with the worker's (as ``nbgrader autograde --force`` does)."""
    target = course.step_path(course.coursedir.autograded_directory, student, assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=target.parent))
    try:
        for relative, data in files.items():
            path = (staging / relative).resolve()
            if not path.is_relative_to(staging.resolve()):
                raise ValueError(f"refusing to write outside the autograded folder: {relative!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _killed_message(error: BaseException) -> str:
    allowed = getattr(error, "allowed_failures", None)
    tries = f"{allowed + 1} tries" if isinstance(allowed, int) else "several tries"
    return (
        f"not graded: every worker that ran it died ({tries}, Dask KilledWorker), so it was given up "
        f"instead of retried; nothing was recorded in the gradebook (grade it alone to see why, "
        f"e.g. --local --force)"
    )


def grade_on_cluster(
    assignment: str,
    address: str,
    *,
    course: Course | None = None,
    force: bool = False,
    limits: Limits | None = None,
    isolate: bool = True,
    progress: bool = True,
    preload: bool = True,
    record_budget_s: float = 60.0,
    connect_timeout_s: float = 10.0,
    on_recorded: Callable[[StudentResult], None] | None = None,
) -> ClassReport:
    """Grade every new or changed submission of ``assignment`` on the Dask cluster at ``address``.

    Same results, state, CSV and gradebook as :func:`~autograder.grading.classroom.grade_class` (see
    the module docstring). ``record_budget_s`` bounds the backoff of one gradebook write (after one
    write has spent it, the rest of the run tries each write once and journals it on failure);
    ``on_recorded`` is called after each result is recorded (tests use it to inject faults).
    ``preload``: each worker forks nbgrader runs from its own zygote (:mod:`.zygote`), as local grading
    does; ``False`` starts a new nbgrader process per submission (``--no-preload``).
    Raises :class:`ClusterError` when the scheduler cannot be reached and :class:`SchedulerLost` when
    it goes away mid-batch.
    """
    from tqdm.auto import tqdm

    course = course or load_course()
    limits = limits or Limits()
    start = time.perf_counter()
    client = connect(address, connect_timeout_s)
    stack = ExitStack()
    try:
        cells = registered_cells(course, assignment)
        state = load_state(course, assignment)
        _, pending = record_pending(course, assignment, state, budget_s=min(record_budget_s, 10.0))
        todo, skipped, prints = split_by_change(course, assignment, state, force)
        for folder in (course.submitted, course.autograded, course.feedback):
            folder.mkdir(parents=True, exist_ok=True)

        journal = PendingJournal(course, assignment)
        writer = GradebookWriter(course)
        stack.callback(writer.close)
        results: list[StudentResult] = []
        recorded: set[str] = set()
        retried: list[str] = []
        isolation: set[str] = set()
        budget = record_budget_s

        def record(result: StudentResult, outcome: TaskOutcome | None, *, remember: bool = True) -> None:
            """Record one result once; ``remember=False`` (the grader's own failure) keeps it out of the
            state, so that the next run grades the submission again."""
            nonlocal budget
            if result.student in recorded:  # a task Dask ran twice: the first result counts
                return
            if not remember:
                recorded.add(result.student)
                results.append(result)
                return
            result.fingerprint = prints[result.student]
            if outcome is not None and outcome.autograded:
                _write_autograded(course, assignment, result.student, outcome.autograded)
            grades = outcome.record if outcome is not None else None
            journal.add(result, grades)  # durable before anything else is written
            save_result(course, assignment, state, result)
            error = None
            if grades is not None:
                error = write_with_retry(lambda: writer.write(grades), budget_s=budget)
            if error is None:
                journal.remove(result.student)
                budget = record_budget_s
            else:
                pending.append(result.student)
                budget = 0.0  # the gradebook is down: do not wait again for every result
                reason = f"{type(error).__name__}: {' '.join(str(error).split())[:160]}"
                print(
                    f"warning: the gradebook did not take {result.student}'s grades ({reason}); "
                    f"kept in {journal.folder}",
                    file=sys.stderr,
                )
            recorded.add(result.student)
            results.append(result)
            if on_recorded is not None:
                on_recorded(result)

        from distributed import as_completed

        try:
            from distributed import KilledWorker
        except ImportError:  # older distributed
            from distributed.scheduler import KilledWorker

        def suspicious(dask_scheduler: Any, keys: list[str]) -> dict[str, int]:  # runs on the scheduler
            return {k: dask_scheduler.tasks[k].suspicious for k in keys if k in dask_scheduler.tasks}

        info = client.scheduler_info()
        threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        futures: dict[Any, str] = {}
        run_id = uuid.uuid4().hex[:8]
        bundle = assignment_bundle(course, assignment, limits, isolate, preload)
        bundle_future = None
        with tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not progress) as bar:
            for student in todo:
                try:
                    files = submission_files(course, assignment, student)
                except GraderFault as fault:  # a path the grader built wrongly: graded again next run
                    message = f"grader error before grading (not the student's doing): {fault}"
                    record(grader_error(student, cells.max_score, message, fault.kind), None, remember=False)
                    bar.update()
                    continue
                if isinstance(files, str):  # refused before it left the instructor's machine
                    record(StudentResult(student, FAILED, 0.0, cells.max_score, files), None)
                    bar.update()
                    continue
                if bundle_future is None:
                    bundle_future = client.submit(bundle_value, bundle, key=f"bundle-{assignment}-{run_id}")
                key = f"grade-{assignment}-{student}-{run_id}"
                futures[client.submit(grade_task, bundle_future, files, key=key, pure=False)] = student
            lost = False  # some results never came back (the scheduler went away): a rerun grades them
            for future in as_completed(list(futures), loop=client.loop):
                student = futures[future]
                if future.status not in ("finished", "error"):  # cancelled: the connection was lost
                    lost = True
                    continue
                try:
                    tries = client.run_on_scheduler(suspicious, keys=[future.key])
                except Exception:  # noqa: BLE001 - only the summary's retry list depends on it
                    tries = {}
                if tries.get(future.key, 0) > 0:
                    retried.append(student)
                try:
                    outcome: TaskOutcome | None = future.result() if future.status == "finished" else None
                    error = future.exception() if outcome is None else None
                except Exception:  # noqa: BLE001 - not fetched (scheduler gone): never recorded as a grade
                    lost = True
                    continue
                if outcome is not None:
                    outcome.result.student = student
                    if outcome.isolation:
                        isolation.add(outcome.isolation)
                    if outcome.grader_problem and not outcome.result.grader_error:
                        result = outcome.result
                        outcome.result = grader_error(student, cells.max_score, result.message, "worker")
                    record(outcome.result, outcome, remember=not outcome.result.grader_error)
                else:
                    if isinstance(error, KilledWorker):  # kept: the next run does not try it again
                        message = _killed_message(error)
                        if student not in retried:
                            retried.append(student)
                        record(StudentResult(student, FAILED, 0.0, cells.max_score, message), None)
                    else:  # the grader's fault: reported now, graded again by the next run
                        message = f"grader error on the cluster (graded again next run): {error!r}"[:400]
                        kind = f"task {type(error).__name__}"
                        failed = grader_error(student, cells.max_score, message, kind)
                        record(failed, None, remember=False)
                try:
                    future.release()
                except Exception:  # noqa: BLE001, S110 - releasing a future of a lost scheduler
                    pass
                bar.update()
        if lost:
            write_csv(course, assignment, state)
            raise SchedulerLost(address, len(results), len(todo))
    finally:
        stack.close()
        try:
            client.close(timeout=5)
        except Exception:  # noqa: BLE001, S110 - closing a client whose scheduler is gone
            pass

    csv_path = write_csv(course, assignment, state)
    export_path = export_gradebook(course)
    results.sort(key=lambda result: result.student)
    where = f"on the Dask cluster at {address}; workers: " + ("; ".join(sorted(isolation)) or "n/a")
    return ClassReport(
        assignment, results, skipped, time.perf_counter() - start, threads, where, csv_path, export_path,
        retried=sorted(retried), pending=sorted(set(pending)),
    )  # fmt: skip


# --------------------------------------------------------------------------- loopback cluster


class LoopbackCluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1 (real TCP).

    Each runs in its own process group; :meth:`close` kills the groups and every descendant
    (grading subprocesses start their own sessions). Workers get ``TMPDIR`` in the cluster's private
    folder, so whatever a killed worker leaves behind goes with it. ``env`` is added to the workers'
    environment, ``allowed_failures`` sets the scheduler's ``distributed.scheduler.allowed-failures``.
    """

    def __init__(
        self,
        workers: int = 2,
        threads_per_worker: int = 1,
        *,
        env: dict[str, str] | None = None,
        allowed_failures: int | None = None,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.workers, self.threads = workers, threads_per_worker
        self.env, self.allowed_failures, self.start_timeout_s = env or {}, allowed_failures, start_timeout_s
        self.folder = Path(tempfile.mkdtemp(prefix="dask-loopback-"))
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.worker_processes: dict[str, subprocess.Popen[bytes]] = {}
        self.address = ""

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("wb") as output:
            return subprocess.Popen(
                [sys.executable, "-m", *args], env=env, stdout=output, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.folder,
            )  # fmt: skip

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
        env.pop(SCHEDULER_ENV, None)
        return env

    def start(self) -> str:
        """Start the processes and wait until every worker is connected; the scheduler's address."""
        scheduler_file = self.folder / "scheduler.json"
        # One task per worker thread at a time: a task queued behind a submission that kills its worker
        # would otherwise be counted as suspicious too (see the README's "On a cluster").
        scheduler_env = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
        if self.allowed_failures is not None:
            scheduler_env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(self.allowed_failures)
        self.scheduler = self._spawn(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            self._env(scheduler_env), "scheduler.log",
        )  # fmt: skip
        (self.folder / "tmp").mkdir(mode=0o700)
        for index in range(self.workers):  # workers wait for the scheduler file themselves
            self.start_worker(f"loopback-{index}", scheduler_file)
        deadline = time.monotonic() + self.start_timeout_s
        while not scheduler_file.is_file():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"the loopback scheduler did not start: {self.log('scheduler.log')}")
            time.sleep(0.05)
        import json

        while True:  # the file is written in one go, but read it until it parses
            try:
                self.address = json.loads(scheduler_file.read_text())["address"]
                break
            except (ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise ClusterError("the loopback scheduler wrote no address") from None
                time.sleep(0.05)
        self.wait_for_workers(self.workers, timeout_s=max(1.0, deadline - time.monotonic()))
        return self.address

    def start_worker(self, name: str, scheduler_file: Path | None = None) -> None:
        """Start one more ``dask worker`` called ``name``."""
        target = ["--scheduler-file", str(scheduler_file)] if scheduler_file else [self.address]
        self.worker_processes[name] = self._spawn(
            ["distributed.cli.dask_worker", *target, "--name", name, "--nthreads", str(self.threads),
             "--nworkers", "1", "--memory-limit", "0", "--no-dashboard", "--host", "127.0.0.1",
             "--death-timeout", "60"],
            self._env({"TMPDIR": str(self.folder / "tmp"), **self.env}), f"{name}.log",
        )  # fmt: skip

    def wait_for_workers(self, count: int, timeout_s: float = 120.0) -> None:
        client = connect(self.address, timeout_s)
        try:
            client.wait_for_workers(count, timeout=timeout_s)
        except TimeoutError:
            logs = "; ".join(self.log(f"{name}.log") for name in self.worker_processes)
            why = f"{count} loopback workers did not connect in {timeout_s:.0f} s: {logs}"
            raise ClusterError(why) from None
        finally:
            client.close()

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-1500:] if path.is_file() else "(no log)"

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        """Kill the process and every descendant at once, as a machine that dies would: all are
        stopped (SIGSTOP) first, so that none sees another die and reports it, then killed."""
        import psutil

        try:
            root: psutil.Process | None = psutil.Process(process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            root, tree = None, []
        for _ in range(2 if root is not None else 0):  # twice: catch what forked during the first pass
            for member in tree:
                try:
                    member.suspend()
                except psutil.NoSuchProcess:
                    pass
            try:
                tree = list(dict.fromkeys([*tree, *root.children(recursive=True)]))
            except psutil.NoSuchProcess:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for member in tree:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        process.wait()
        psutil.wait_procs(tree, timeout=10)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker ``name``: its nanny, its worker process and whatever they started."""
        self._kill(self.worker_processes[name])

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler."""
        if self.scheduler is not None:
            self._kill(self.scheduler)

    def close(self) -> None:
        for process in self.worker_processes.values():
            self._kill(process)
        if self.scheduler is not None:
            self._kill(self.scheduler)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def loopback_cluster(workers: int = 2, threads_per_worker: int = 1) -> Iterator[str]:
    """A real Dask cluster on 127.0.0.1 (scheduler and ``workers`` worker processes); yields its address."""
    with LoopbackCluster(workers, threads_per_worker) as cluster:
        yield cluster.address


# --------------------------------------------------------------------------- measurements


def _noop(value: int) -> int:
    return value


def measure_overheads(
    *, tasks: int = 200, writes: int = 50, postgres_url: str | None = None, address: str | None = None
) -> dict[str, float]:
    """Scheduler overhead per task and gradebook writes per second, measured on this machine.

    ``scheduler_s_per_task``: ``tasks`` trivial tasks submitted at once to a two-worker loopback
    cluster (or the cluster at ``address``), wall time until all results are back, per task;
    ``round_trip_s``: one trivial task submitted and waited for, 20 times in a row, mean.
    ``sqlite_writes_per_s`` (and ``postgres_writes_per_s`` with ``postgres_url``, an empty database):
    ``writes`` results of the ``masks`` assignment recorded through one
    :class:`~autograder.grading.gradebook_writer.GradebookWriter` (one open connection, as a run does).
    """
    figures: dict[str, float] = {}
    with LoopbackCluster(2) if address is None else _existing(address) as cluster:
        client = connect(cluster.address)
        try:
            client.gather(client.map(_noop, range(10), pure=False))  # warm up
            begin = time.perf_counter()
            client.gather(client.map(_noop, range(tasks), pure=False))
            figures["scheduler_s_per_task"] = (time.perf_counter() - begin) / tasks
            begin = time.perf_counter()
            for index in range(20):
                client.submit(_noop, index, pure=False).result()
            figures["round_trip_s"] = (time.perf_counter() - begin) / 20
        finally:
            client.close()
    figures["sqlite_writes_per_s"] = _writes_per_second(None, writes)
    if postgres_url:
        figures["postgres_writes_per_s"] = _writes_per_second(postgres_url, writes)
    return figures


class _existing:
    def __init__(self, address: str) -> None:
        self.address = address

    def __enter__(self) -> _existing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _writes_per_second(db_url: str | None, writes: int) -> float:
    from .gradebook_writer import GradeRecord
    from .synthetic_class import make_graded_course

    base = Path(tempfile.mkdtemp(prefix="gradebook-writes-"))
    try:
        root = make_graded_course(base / "course", ("masks",))
        course = load_course(root, db_url)
        if db_url:
            register_assignment(course, "masks")
        cells = assignment_cells(course, "masks")
        records = [
            GradeRecord(
                f"student{index:05d}", "masks",
                scores={name: {cell: 1.0 for cell in tests} for name, tests in cells.tests.items()},
            )  # fmt: skip
            for index in range(writes)
        ]
        writer = GradebookWriter(course)
        try:
            begin = time.perf_counter()
            for record in records:
                writer.write(record)
            return writes / (time.perf_counter() - begin)
        finally:
            writer.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
