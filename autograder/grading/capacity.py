"""Capacity on paper: what grading a large course needs, computed from measured figures.

The figures come from one ``python -m autograder bench-grading --json PATH`` run: worker seconds per
submission with every local core busy (:mod:`~autograder.grading.bench`), the scheduler's overhead per
task on a loopback Dask cluster and the gradebook's writes per second
(:func:`~autograder.grading.cluster.measure_overheads`). The instructors' chapter reads the committed
run (``book/measured/grading-bench.json``) and prints :func:`capacity_rows`; nothing here is typed in.

What it assumes, and says: one worker per core, submissions that cost what the benchmark's assignment
costs, and one instructor's run recording every grade (the client writes the gradebook, so its write
rate caps the whole cluster's rate, however many workers there are).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    """The measured inputs."""

    worker_seconds: float  # a worker's seconds per submission with every core busy
    scheduler_s_per_task: float  # the Dask scheduler's overhead per task (trivial tasks, loopback)
    writes_per_s: float  # grades the gradebook records per second (one writer)
    cores: int  # of the machine that measured them


def capacity_rows(
    figures: Figures,
    *,
    students: int = 5000,
    assignments: int = 4,
    cores_per_machine: int = 16,
    deadlines_min: tuple[int, ...] = (15, 60),
) -> list[tuple[str, str]]:
    """(quantity, value) rows for a course of ``students`` x ``assignments`` submissions."""
    submissions = students * assignments
    worker_s = submissions * figures.worker_seconds
    rows = [
        ("submissions", f"{submissions:,}"),
        ("worker seconds per submission (measured, every core busy)", f"{figures.worker_seconds:.2f}"),
        ("worker-minutes for the course", f"{worker_s / 60:,.0f}"),
        ("worker-hours for the course", f"{worker_s / 3600:,.1f}"),
    ]
    for deadline in deadlines_min:
        workers = math.ceil(worker_s / (deadline * 60))
        machines = math.ceil(workers / cores_per_machine)
        rows.append(
            (
                f"workers to grade it in {deadline} min",
                f"{workers:,} ({machines:,} {'machine' if machines == 1 else 'machines'} of "
                f"{cores_per_machine} cores)",
            )
        )
    scheduler_s = submissions * figures.scheduler_s_per_task
    record_s = submissions / figures.writes_per_s
    rows += [
        ("scheduler overhead per task (measured)", f"{figures.scheduler_s_per_task * 1000:.1f} ms"),
        ("scheduler time for every task, serially", f"{scheduler_s / 60:.1f} min"),
        ("gradebook writes per second (measured, one writer)", f"{figures.writes_per_s:.1f}"),
        ("time to record every grade", f"{record_s / 60:.1f} min"),
        (
            "workers beyond which the gradebook is the limit",
            f"{math.floor(figures.writes_per_s * figures.worker_seconds):,}",
        ),
    ]
    return rows


def format_rows(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"{name:<{width}}{value}" for name, value in rows)
