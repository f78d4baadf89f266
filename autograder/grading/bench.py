"""``python -m autograder bench-grading``: how fast the class grader is, and where the time goes.

It builds a synthetic class (the solution and every catalogue entry of an assignment, cycled; see
:mod:`autograder.grading.synthetic_class`) in a throwaway course and grades it in each configuration in
turn, in one run, regrading everything each time:

* one worker starting a new ``nbgrader`` process and a new kernel program per submission (the grader
  before the zygotes),
* one worker forking each run from the preloaded nbgrader process (:mod:`~autograder.grading.zygote`)
  and each kernel from the preloaded kernel process
  (:mod:`~autograder.grading.sandbox.kernel_zygote`),
* all local cores, forking likewise,
* a two-worker Dask cluster on loopback (:mod:`~autograder.grading.cluster`), where it is installed.

It prints, side by side: submissions per minute (the whole run, fixed costs included), worker seconds
per submission (the mean of each submission's own time, what a worker spends on it), and the mean
seconds of each grading phase (:mod:`~autograder.grading.phases`). It checks the course's targets:
<= 2 s of worker time per submission, and 200 submissions in at most 30 minutes with all cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .capacity import Figures, capacity_rows, format_rows
from .classroom import grade_class, load_course
from .phases import PHASES
from .synthetic_class import build_class, make_graded_course

WORKER_TARGET_S = 2.0
CLASS_TARGET_S = 30 * 60.0
CLASS_TARGET_SIZE = 200


@dataclass(frozen=True)
class Configuration:
    label: str
    workers: int
    preload: bool = True
    cluster_workers: int = 0  # > 0: grade on a loopback Dask cluster of this many workers


@dataclass(frozen=True)
class GradingTiming:
    label: str
    workers: int
    submissions: int
    seconds: float  # the whole run
    per_minute: float  # submissions per minute over the whole run
    worker_seconds: float  # mean seconds a worker spends on one submission
    failed: int  # submissions the grader could not score (expected: 0 for a synthetic class)
    phases: dict[str, float] = field(default_factory=dict)  # mean seconds per phase


def configurations(workers: list[int] | None = None, cluster: bool = True) -> list[Configuration]:
    cores = os.cpu_count() or 1
    chosen = [
        Configuration("1 worker, new process each", 1, preload=False),
        Configuration("1 worker, forked", 1),
    ]
    for count in sorted(set(workers or [cores])):
        if count != 1:
            chosen.append(Configuration(f"{count} workers, forked", count))
    if cluster and _cluster_module() is not None:
        chosen.append(Configuration("loopback cluster, 2 workers", 2, cluster_workers=2))
    return chosen


def _cluster_module():  # noqa: ANN202 - the optional cluster module, or None
    try:
        from . import cluster
    except ImportError:
        return None
    return cluster if hasattr(cluster, "loopback_cluster") else None


@contextlib.contextmanager
def _scheduler(configuration: Configuration) -> Iterator[str | None]:
    if configuration.cluster_workers <= 0:
        yield None
        return
    cluster = _cluster_module()
    assert cluster is not None
    with cluster.loopback_cluster(configuration.cluster_workers) as address:
        yield address


def run_grading_benchmark(
    students: int = CLASS_TARGET_SIZE,
    assignment: str = "masks",
    workers: list[int] | None = None,
    cluster: bool = True,
) -> list[GradingTiming]:
    base = Path(tempfile.mkdtemp(prefix="grading-bench-", dir="/var/tmp"))
    try:
        course_root = make_graded_course(base / "course", (assignment,))
        build_class(course_root, assignment, students)
        course = load_course(course_root)
        timings: list[GradingTiming] = []
        for configuration in configurations(workers, cluster):
            with _scheduler(configuration) as address:
                start = time.perf_counter()
                options = {"scheduler": address} if address else {}
                report = grade_class(
                    assignment, course=course, jobs=configuration.workers, force=True,
                    preload=configuration.preload, progress=False, **options,
                )  # fmt: skip
                seconds = time.perf_counter() - start
            results = report.results
            graded = [result for result in results if result.status == "graded"]
            means = {
                phase: sum(result.phases.get(phase, 0.0) for result in graded) / max(1, len(graded))
                for phase in PHASES
            }
            timings.append(
                GradingTiming(
                    configuration.label, configuration.workers, len(results), seconds,
                    60.0 * len(results) / seconds,
                    sum(result.seconds for result in results) / max(1, len(results)),
                    len(results) - len(graded), means,
                )
            )  # fmt: skip
        return timings
    finally:
        shutil.rmtree(base, ignore_errors=True)


def format_timings(timings: list[GradingTiming]) -> str:
    width = max(len(t.label) for t in timings) + 2
    header = f"{'subs':>5}{'total s':>9}{'subs/min':>10}{'worker s/sub':>14}{'failed':>8}"
    lines = [f"{'configuration':<{width}}{header}"]
    for t in timings:
        lines.append(
            f"{t.label:<{width}}{t.submissions:>5}{t.seconds:>9.1f}{t.per_minute:>10.1f}"
            f"{t.worker_seconds:>14.2f}{t.failed:>8}"
        )
    lines += ["", "mean seconds per submission in each phase:"]
    lines.append(f"{'phase':<17}" + "".join(f"{t.label[:22]:>24}" for t in timings))
    for phase in PHASES:
        lines.append(f"{phase:<17}" + "".join(f"{t.phases.get(phase, 0.0):>24.2f}" for t in timings))
    for phase, meaning in PHASES.items():
        lines.append(f"  {phase}: {meaning}")
    forked = [t for t in timings if t.workers == 1 and "forked" in t.label]
    best = min(timings, key=lambda t: t.seconds / max(1, t.submissions))
    projected = best.seconds / max(1, best.submissions) * CLASS_TARGET_SIZE
    note = "" if best.submissions == CLASS_TARGET_SIZE else f" (projected from {best.submissions})"
    lines.append("")
    if forked:
        worker = forked[0].worker_seconds
        lines.append(
            f"[{'met' if worker <= WORKER_TARGET_S else 'MISSED'}] <= {WORKER_TARGET_S:g} s of worker time "
            f"per submission: {worker:.2f} s ({forked[0].label})"
        )
    verdict = "met" if projected <= CLASS_TARGET_S else "MISSED"
    lines.append(
        f"[{verdict}] {CLASS_TARGET_SIZE} submissions in <= 30 min: "
        f"{projected / 60:.1f} min with {best.label}{note}"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--students", type=int, default=CLASS_TARGET_SIZE, help="class size (default 200)")
    parser.add_argument("--assignment", default="masks", help="which assignment (default masks)")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="local worker counts besides 1 (default: all cores)"
    )
    parser.add_argument("--no-cluster", action="store_true", help="leave out the loopback Dask cluster")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the timings as JSON")


def capacity_figures(timings: list[GradingTiming], overheads: dict[str, float]) -> Figures | None:
    """The capacity table's inputs from one run: the busiest local configuration's worker time."""
    if "scheduler_s_per_task" not in overheads or "sqlite_writes_per_s" not in overheads:
        return None
    local = [t for t in timings if "cluster" not in t.label and "forked" in t.label]
    busiest = max(local, key=lambda t: t.workers)
    writes = overheads.get("postgres_writes_per_s", overheads["sqlite_writes_per_s"])
    return Figures(busiest.worker_seconds, overheads["scheduler_s_per_task"], writes, busiest.workers)


def read_run(path: Path) -> tuple[list[GradingTiming], dict[str, float], Figures | None]:
    """A run written by ``bench-grading --json``: its timings, overheads and capacity figures."""
    data = json.loads(path.read_text())
    timings = [GradingTiming(**row) for row in data["timings"]]
    overheads = {str(k): float(v) for k, v in data.get("overheads", {}).items()}
    return timings, overheads, capacity_figures(timings, overheads)


def run(args: argparse.Namespace) -> int:
    timings = run_grading_benchmark(args.students, args.assignment, args.workers, not args.no_cluster)
    print(f"grading a synthetic class of {args.students} ({args.assignment}), {os.cpu_count()} cores")
    print(format_timings(timings))
    overheads: dict[str, float] = {}
    cluster = None if args.no_cluster else _cluster_module()
    if cluster is not None:
        overheads = cluster.measure_overheads()
        figures = capacity_figures(timings, overheads)
        if figures is not None:
            print("\ncapacity on paper: 5,000 students x 4 assignments (see autograder/grading/capacity.py)")
            print(format_rows(capacity_rows(figures)))
    if args.json:
        data = {
            "cores": os.cpu_count(),
            "students": args.students,
            "assignment": args.assignment,
            "timings": [asdict(t) for t in timings],
            "overheads": overheads,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0
