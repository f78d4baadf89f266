"""``python -m autograder bench-grading``: how fast the class grader is, with one worker and with all.

It builds a synthetic class (the solution and every catalogue entry of an assignment, cycled; see
:mod:`autograder.grading.synthetic_class`) in a throwaway course and grades it with each worker count in turn,
in one run, regrading everything each time. It prints wall time, seconds per submission and the
speed-up side by side, and checks the course's targets: at most 15 s per submission with one worker,
and 200 submissions in at most 30 minutes with all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .classroom import grade_class, load_course
from .synthetic_class import build_class, make_graded_course

PER_SUBMISSION_TARGET_S = 15.0
CLASS_TARGET_S = 30 * 60.0
CLASS_TARGET_SIZE = 200


@dataclass(frozen=True)
class GradingTiming:
    workers: int
    submissions: int
    seconds: float
    seconds_per_submission: float
    speedup: float  # one worker's time / this time
    failed: int  # submissions the grader could not score (expected: 0 for a synthetic class)


def run_grading_benchmark(
    students: int = CLASS_TARGET_SIZE, assignment: str = "masks", workers: list[int] | None = None
) -> list[GradingTiming]:
    workers = workers or sorted({1, os.cpu_count() or 1})
    base = Path(tempfile.mkdtemp(prefix="grading-bench-", dir="/var/tmp"))
    try:
        course_root = make_graded_course(base / "course", (assignment,))
        build_class(course_root, assignment, students)
        course = load_course(course_root)
        timings: list[GradingTiming] = []
        for count in workers:
            start = time.perf_counter()
            report = grade_class(assignment, course=course, jobs=count, force=True)
            seconds = time.perf_counter() - start
            failed = sum(result.status != "graded" for result in report.results)
            timings.append(
                GradingTiming(count, len(report.results), seconds, seconds / students, 0.0, failed)
            )
        first = timings[0].seconds
        return [GradingTiming(**{**asdict(t), "speedup": first / t.seconds}) for t in timings]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def format_timings(timings: list[GradingTiming]) -> str:
    lines = [
        f"{'workers':>7}{'submissions':>13}{'total s':>10}{'s/submission':>14}{'speed-up':>10}{'failed':>8}"
    ]
    for t in timings:
        lines.append(
            f"{t.workers:>7}{t.submissions:>13}{t.seconds:>10.1f}{t.seconds_per_submission:>14.2f}"
            f"{t.speedup:>10.2f}{t.failed:>8}"
        )
    single = next((t for t in timings if t.workers == 1), None)
    best = min(timings, key=lambda t: t.seconds)
    projected = best.seconds_per_submission * CLASS_TARGET_SIZE
    class_ok = projected <= CLASS_TARGET_S
    note = "" if best.submissions == CLASS_TARGET_SIZE else f" (projected from {best.submissions})"
    lines.append("")
    if single is not None:
        per_submission_ok = single.seconds_per_submission <= PER_SUBMISSION_TARGET_S
        lines.append(
            f"[{'met' if per_submission_ok else 'MISSED'}] <= {PER_SUBMISSION_TARGET_S:g} s per submission "
            f"with one worker: {single.seconds_per_submission:.2f} s"
        )
    lines.append(
        f"[{'met' if class_ok else 'MISSED'}] {CLASS_TARGET_SIZE} submissions in <= 30 min "
        f"with {best.workers} workers: {projected / 60:.1f} min{note}"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--students", type=int, default=CLASS_TARGET_SIZE, help="class size (default 200)")
    parser.add_argument("--assignment", default="masks", help="which assignment (default masks)")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="worker counts to compare (default: 1 and all cores)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the timings as JSON")


def run(args: argparse.Namespace) -> int:
    timings = run_grading_benchmark(args.students, args.assignment, args.workers)
    print(f"grading a synthetic class of {args.students} ({args.assignment}), {os.cpu_count()} cores")
    print(format_timings(timings))
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in timings], indent=2) + "\n")
    return 0
