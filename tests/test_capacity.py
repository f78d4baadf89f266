"""The capacity table (:mod:`autograder.grading.capacity`) and the benchmark file it is read from."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.grading.bench import GradingTiming, format_timings, read_run
from autograder.grading.capacity import Figures, capacity_rows


def _value(rows: list[tuple[str, str]], start: str) -> str:
    return next(value for name, value in rows if name.startswith(start))


def test_the_table_follows_from_the_figures() -> None:
    figures = Figures(worker_seconds=3.0, scheduler_s_per_task=0.002, writes_per_s=50.0, cores=2)
    rows = capacity_rows(figures, students=1000, assignments=2, cores_per_machine=8, deadlines_min=(10, 100))
    assert _value(rows, "submissions") == "2,000"
    assert _value(rows, "worker-minutes") == "100"  # 2,000 x 3 s
    assert _value(rows, "workers to grade it in 10 min") == "10 (2 machines of 8 cores)"
    assert _value(rows, "workers to grade it in 100 min") == "1 (1 machine of 8 cores)"
    assert _value(rows, "scheduler time") == "0.1 min"  # 2,000 x 2 ms
    assert _value(rows, "time to record") == "0.7 min"  # 2,000 / 50 per s = 40 s
    assert _value(rows, "workers beyond which") == "150"  # 50 writes/s x 3 s per submission


def test_a_benchmark_run_round_trips_through_its_json(tmp_path: Path) -> None:
    timings = [
        GradingTiming("1 worker, new process each", 1, 4, 40.0, 6.0, 9.0, 0, {"judge": 2.0}),
        GradingTiming("1 worker, forked", 1, 4, 24.0, 10.0, 5.0, 0, {"judge": 2.0}),
        GradingTiming("2 workers, forked", 2, 4, 16.0, 15.0, 6.0, 1, {"judge": 2.5}),
    ]
    overheads = {"scheduler_s_per_task": 0.004, "sqlite_writes_per_s": 20.0}
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"timings": [t.__dict__ for t in timings], "overheads": overheads}))
    read, read_overheads, figures = read_run(path)
    assert read == timings and read_overheads == overheads
    # The busiest local configuration that forks sets the worker time.
    assert figures == Figures(6.0, 0.004, 20.0, 2)
    text = format_timings(read)
    assert "[MISSED] <= 2 s of worker time per submission: 5.00 s" in text
    assert "2 workers, forked" in text and "judge" in text
