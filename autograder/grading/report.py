"""What class grading writes for the instructor: the CSV of grades, nbgrader's export, the summary table."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .course import Course, nbgrader_env
from .results import FAILED, GRADER_ERROR, ClassReport


def write_csv(course: Course, assignment: str, state: dict[str, dict[str, Any]]) -> Path:
    path = course.grades_dir() / f"{assignment}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", "message"])
        for student in sorted(state):
            row = state[student]
            score = "" if row["status"] == GRADER_ERROR else row["score"]  # no grade, not a 0
            writer.writerow([student, score, row["max_score"], row["status"], row["message"]])
    return path


def export_gradebook(course: Course) -> Path | None:
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
    if report.stopped:
        lines.append(f"error: {report.stopped}")
    scored = [r for r in report.results if not r.grader_error]
    if scored:
        scores = [r.score for r in scored]
        total = scored[0].max_score or 1.0
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
        lines.append(f"{'student':<24}{'score':>8}{'max':>6}  {'status':<13} message")
        for result in report.results:
            message = result.message if len(result.message) <= 160 else result.message[:157] + "..."
            shown = f"{'-':>8}" if result.grader_error else f"{result.score:>8.2f}"
            score = f"{shown}{result.max_score:>6g}"
            lines.append(f"{result.student:<24}{score}  {result.status:<13} {message}")
    failures = [r for r in report.results if r.status == FAILED]
    lines.append("")
    lines.append(
        f"students' failures: {len(failures)}" + ("" if failures else " (every submission was scored)")
    )
    for result in failures:
        lines.append(f"  {result.student}: {result.message}")
    errors = report.grader_errors
    if errors:
        lines.append(
            f"grader errors: {len(errors)} (the grader's fault, not the students': no grade recorded for "
            f"them; fix the cause, `python -m autograder doctor` helps, and grade again)"
        )
        for result in errors:
            lines.append(f"  {result.student}: {result.message}")
    if report.not_graded:
        names = ", ".join(report.not_graded)
        count = len(report.not_graded)
        lines.append(f"not graded (the run stopped early; the next run grades them): {count} ({names})")
    if report.retried:
        lines.append(
            f"retried after a worker died: {len(report.retried)} ({', '.join(report.retried)}); "
            f"each is recorded once"
        )
    if report.pending:
        lines.append(
            f"waiting for the gradebook: {len(report.pending)} ({', '.join(report.pending)}): graded and "
            f"in the CSV, not yet in the gradebook (unreachable); run grade again to record them "
            f"(nothing is graded again)"
        )
    lines.append(f"grades: {report.csv_path}")
    if report.export_path:
        lines.append(f"nbgrader export: {report.export_path}")
    return "\n".join(lines)
