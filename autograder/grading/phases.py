"""Where one submission's grading time goes: phase marks written by the grading processes.

The class grader (:mod:`~autograder.grading.run_submission`) and the nbgrader process it starts (the judge,
:mod:`~autograder.grading.judge.execute`) each append marks to one file per submission, named by the
``AUTOGRADER_PHASES`` environment variable; :func:`durations` turns the marks into seconds per phase.
``python -m autograder bench-grading`` prints the per-phase means (:data:`PHASES` says what each holds).
The file is the grader's own (the kernel never sees it); a missing or garbled file costs only the profile.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ENV = "AUTOGRADER_PHASES"

# Phase name -> what it holds, in the order they happen.
PHASES: dict[str, str] = {
    "preflight": "checking the submission before anything runs",
    "nbgrader start": "starting nbgrader (a forked or new process), its first pass over the notebook",
    "kernel start": "making the sandbox and starting the kernel in it (forked or a new program)",
    "setup cell": "the assignment's locked setup cell in the kernel (it imports torch, unless forked)",
    "student cells": "the student's own cells in the kernel",
    "judge": "the test cells, judged outside the kernel",
    "nbgrader finish": "stopping the kernel, saving the grades and the autograded notebook",
    "results": "reading the score and the failed tests' messages back",
}


def mark(
    name: str, value: float | None = None, *, path: Path | str | None = None, at: float | None = None
) -> None:
    """Append a mark (a point in time: now or ``at``; or a total in seconds when ``value`` is given) to
    ``path``, by default the file named by ``AUTOGRADER_PHASES``; never raise."""
    path = path or os.environ.get(ENV)
    if not path:
        return
    record = {"mark": name, "t": at or time.time()} if value is None else {"total": name, "s": value}
    try:
        with open(path, "a") as file:
            file.write(json.dumps(record) + "\n")
    except OSError:
        pass


def durations(path: Path) -> dict[str, float]:
    """Seconds per phase of :data:`PHASES` from a marks file; phases whose marks are missing are left out."""
    marks: dict[str, float] = {}
    totals: dict[str, float] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            record = json.loads(line)
            if "mark" in record:
                marks.setdefault(str(record["mark"]), float(record["t"]))
            else:
                totals[str(record["total"])] = totals.get(str(record["total"]), 0.0) + float(record["s"])
        except (ValueError, KeyError, TypeError):
            continue

    def between(first: str, last: str) -> float | None:
        if first in marks and last in marks:
            return max(0.0, marks[last] - marks[first])
        return None

    spans = {
        "preflight": between("start", "spawn"),
        "nbgrader start": between("spawn", "execute"),
        "kernel start": between("execute", "kernel ready"),
        "nbgrader finish": between("executed", "exited"),
    }
    executing = between("kernel ready", "executed")
    if executing is not None and "judge" in totals:
        spans["judge"] = totals["judge"]
        spans["setup cell"] = totals.get("setup cell", 0.0)
        spans["student cells"] = max(0.0, executing - totals["judge"] - spans["setup cell"])
    return {name: spans[name] for name in PHASES if spans.get(name) is not None}  # type: ignore[misc]
