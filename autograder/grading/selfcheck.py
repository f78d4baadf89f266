"""``python -m autograder selfcheck``: prove the grader right before trusting it with students.

Three parts, each of which must pass (the command exits 1 otherwise):

1. **nbgrader pipeline.** A throwaway course: ``generate_assignment`` for every assignment, one
   submission for the solution and one per catalogue entry (:mod:`autograder.grading.catalogue`), one
   ``nbgrader autograde`` call per assignment, scores read from the gradebook. The solutions must
   score full marks; every entry must lose points. A table shows entry, assignment, points lost and the
   test cells that caught it.
2. **Check coverage.** In a child process every check runs on every entry: each check must catch at
   least one entry on its own merits (not only through the from-scratch verdict), the solutions must
   pass every check.
3. **False failures.** Every statistical check runs on the reference with ``--stat-runs`` seeds
   (default 10,000 each), in-process; the expected number of failures is about 2e-5, so any
   failure means a broken interval.
"""

from __future__ import annotations

import argparse
import inspect
import tempfile
import time
from pathlib import Path

from .catalogue import CATALOGUE
from .course import ASSIGNMENTS

#: Seeds for the statistical runs start here (far from the checks' default seeds).
SEED_BASE = 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stat-runs", type=int, default=10_000, help="seeds per statistical check (default 10000)"
    )
    parser.add_argument("--skip-nbgrader", action="store_true", help="skip part 1 (the nbgrader pipeline)")
    parser.add_argument("--skip-matrix", action="store_true", help="skip part 2 (check coverage)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the throwaway nbgrader course here (default: a temp dir)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="assignments autograded at once (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*map(str, r)) for r in rows)])


def run_pipeline(workdir: Path | None, progress: bool, jobs: int = 2) -> bool:
    """Part 1. Return True when the solutions score full marks and every entry loses points."""
    from tqdm.auto import tqdm

    from .autograde import SOLUTION_STUDENT, autograde

    print("== 1. nbgrader: generate_assignment + autograde (solutions and every catalogue entry)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dropout-selfcheck-") as tmp:
        work = workdir or Path(tmp)
        bar = tqdm(
            total=len(CATALOGUE) + len(ASSIGNMENTS),
            desc="autograding",
            unit="submission",
            disable=not progress,
        )
        results = autograde(work, CATALOGUE, ASSIGNMENTS, jobs=jobs, progress=bar)
        bar.close()
    ok = True
    rows = []
    for assignment in ASSIGNMENTS:
        solution = results[(assignment, SOLUTION_STUDENT)]
        full = solution.lost == 0
        ok &= full
        rows.append(
            (
                f"(solution) {'OK' if full else 'NOT FULL MARKS'}",
                assignment,
                f"{solution.lost:g} of {solution.max_score:g}",
                ", ".join(solution.failed_tests) or "-",
            )
        )
    for entry in CATALOGUE:
        result = results[(entry.assignment, entry.name)]
        caught = result.lost > 0
        ok &= caught
        rows.append(
            (
                entry.name + ("" if caught else "  <-- MISSED"),
                entry.assignment,
                f"{result.lost:g} of {result.max_score:g}",
                ", ".join(result.failed_tests) or "-",
            )
        )
    print(_table(rows, ("entry", "assignment", "points lost", "caught by (test cells)")))
    missed = sum(1 for e in CATALOGUE if results[(e.assignment, e.name)].lost == 0)
    print(
        f"{len(CATALOGUE) - missed} of {len(CATALOGUE)} entries lose points; solutions at full marks: "
        f"{all(results[(a, SOLUTION_STUDENT)].lost == 0 for a in ASSIGNMENTS)} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return ok


def run_matrix() -> bool:
    """Part 2. Every check catches an entry on its merits; the solutions pass every check."""
    from autograder import checks
    from autograder.checks import scratch

    from .autograde import SOLUTION_STUDENT, check_matrix_in_subprocess

    print("\n== 2. coverage: every check on every entry (in a child process)")
    start = time.perf_counter()
    matrix = check_matrix_in_subprocess()
    ok = True
    for assignment in ASSIGNMENTS:
        failing = {k: v for k, v in matrix[f"{assignment}:{SOLUTION_STUDENT}"].items() if v}
        if failing:
            ok = False
            print(f"solution of {assignment} fails checks: {failing}")
    rows = []
    for name, info in checks.REGISTRY.items():
        caught = [
            key.split(":", 1)[1]
            for key, verdicts in matrix.items()
            if not key.endswith(f":{SOLUTION_STUDENT}")
            and verdicts.get(name)
            and not scratch.is_verdict(verdicts[name])
        ]
        ok &= bool(caught)
        rate = f"{info.false_failure_rate:.0e}" if info.statistical else "exact"
        rows.append(
            (
                name,
                rate,
                ", ".join(caught[:4]) + (" ..." if len(caught) > 4 else "") if caught else "NONE <--",
            )
        )
    print(_table(rows, ("check", "false failures", "catches (besides from-scratch verdicts)")))
    for assignment, total in checks.false_failure_rates().items():
        print(
            f"{assignment}: a correct answer fails some check with probability <= {total:.1e} (union bound)"
        )
        ok &= total < 1e-6
    print(f"({time.perf_counter() - start:.0f} s)")
    return ok


def run_statistics(runs: int, progress: bool) -> bool:
    """Part 3. Every statistical check on the reference with ``runs`` seeds: zero failures expected."""
    import torch
    from tqdm.auto import tqdm

    from autograder import checks

    print(f"\n== 3. false failures: every statistical check on the reference, {runs:,} seeds each")
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    failures: dict[str, list[tuple[int, str]]] = {}
    try:
        bodies = list(checks.STATISTICAL_BODIES.items())
        bar = tqdm(total=runs * len(bodies), desc="statistical checks", unit="run", disable=not progress)
        for name, body in bodies:
            module = checks.ASSIGNMENT_MODULES[checks.REGISTRY[name].assignment]
            answers = [module.REFERENCE[p] for p in inspect.signature(body).parameters if p != "seed"]
            for seed in range(SEED_BASE, SEED_BASE + runs):
                try:
                    body(*answers, seed=seed)
                except AssertionError as error:
                    failures.setdefault(name, []).append((seed, str(error)))
            bar.update(runs)
        bar.close()
    finally:
        torch.set_num_threads(threads)
    rows = []
    expected_total = 0.0
    for name, _ in bodies:
        info = checks.REGISTRY[name]
        expected_total += runs * info.false_failure_rate
        rows.append(
            (name, info.intervals, f"{info.false_failure_rate:.0e}", len(failures.get(name, [])), runs)
        )
    print(_table(rows, ("check", "intervals", "false-failure rate", "failures", "runs")))
    total = sum(len(v) for v in failures.values())
    print(
        f"{total} failures in {runs * len(bodies):,} runs (expected {expected_total:.1e}) "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for name, cases in failures.items():
        for seed, message in cases[:3]:
            print(f"  {name} seed {seed}: {message}")
    return total == 0


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    ok = True
    if not args.skip_nbgrader:
        ok &= run_pipeline(args.workdir, progress, args.jobs)
    if not args.skip_matrix:
        ok &= run_matrix()
    if args.stat_runs > 0:
        ok &= run_statistics(args.stat_runs, progress)
    print("\nselfcheck: " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1
