"""``python -m autograder selfcheck``: prove the grader right before trusting it with students.

Three parts, each of which must pass (the command exits 1 otherwise):

1. **nbgrader pipeline.** A throwaway course: ``generate_assignment`` for every assignment, one
   submission for the solution and one per catalogue entry (:mod:`autograder.grading.catalogue`), one
   ``nbgrader autograde`` call per assignment, scores read from the gradebook. The solutions must
   score full marks; every entry must lose points. A table shows entry, assignment, points lost and the
   test cells that caught it.
2. **Check coverage.** In a child process every check runs on every entry: each check must catch at
   least one entry on its own merits (not only through the from-scratch verdict), the solutions must
   pass every check. Then every correct answer in another style (:mod:`autograder.grading.styles`)
   runs through every check of its assignment and must pass them all ("correct styles: N of N full
   marks"; the JSON report's ``matrix.correct_styles``).
3. **False failures.** Every statistical check runs on the reference with ``--stat-runs`` seeds
   (default 10,000 each), in-process; the expected number of failures is about 2e-5, so any
   failure means a broken interval.
4. **Mutation score** (only with ``--mutants``, or alone with ``--mutants-only``). Every solution
   cell's answer region is mutated (:mod:`autograder.grading.mutants`) and each mutant graded by the
   same checks; per assignment the score killed / (mutants - declared equivalent) must reach 95%, and
   the survivors are listed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .catalogue import CATALOGUE
from .course import ASSIGNMENTS
from .mutants import DEFAULT_TIMEOUT, MutationResult

#: Seeds for the statistical runs start here (far from the checks' default seeds).
SEED_BASE = 1_000_000


@dataclass
class PipelineResult:
    """Part 1: points each submission lost through the real nbgrader pipeline."""

    solutions_lost: dict[str, float]  # assignment -> points the solution lost (0 expected)
    entries_lost: dict[str, float]  # catalogue entry -> points it lost (> 0 expected)

    @property
    def ok(self) -> bool:
        return not any(self.solutions_lost.values()) and all(v > 0 for v in self.entries_lost.values())

    @property
    def missed(self) -> list[str]:
        return [name for name, lost in self.entries_lost.items() if lost <= 0]


@dataclass
class MatrixResult:
    """Part 2: which entries each check catches on its merits, and checks failing a solution."""

    catches: dict[str, list[str]]  # check -> entries it catches (besides from-scratch verdicts)
    solution_failures: dict[str, dict[str, str]]  # assignment -> failing check -> message
    false_failure_bounds: dict[str, float]  # assignment -> union bound on failing a correct answer
    #: correct answers in other styles: total, full marks, and per failing style its failing checks
    correct_styles: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            all(self.catches.values())
            and not self.solution_failures
            and all(bound < 1e-6 for bound in self.false_failure_bounds.values())
            and not self.correct_styles.get("failures")
        )


@dataclass
class StatisticsResult:
    """Part 3: failures of the statistical checks on the reference over many seeds (0 expected)."""

    runs: int  # seeds x statistical checks
    failures: dict[str, int]  # check -> failing seeds
    expected_failures: float

    @property
    def ok(self) -> bool:
        return not any(self.failures.values())


@dataclass
class SelfcheckReport:
    """What ``selfcheck`` found; a part that was skipped is None."""

    pipeline: PipelineResult | None = None
    matrix: MatrixResult | None = None
    statistics: StatisticsResult | None = None
    mutants: MutationResult | None = None

    @property
    def ok(self) -> bool:
        parts = (self.pipeline, self.matrix, self.statistics, self.mutants)
        return all(part.ok for part in parts if part is not None)

    def to_json(self) -> dict[str, object]:
        parts = {"pipeline": self.pipeline, "matrix": self.matrix, "statistics": self.statistics}
        data: dict[str, object] = {"ok": self.ok}
        for key, part in parts.items():
            data[key] = None if part is None else {**asdict(part), "ok": part.ok}
        data["mutants"] = None if self.mutants is None else self.mutants.to_json()
        return data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stat-runs", type=int, default=10_000, help="seeds per statistical check (default 10000)"
    )
    parser.add_argument("--skip-nbgrader", action="store_true", help="skip part 1 (the nbgrader pipeline)")
    parser.add_argument("--skip-matrix", action="store_true", help="skip part 2 (check coverage)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the throwaway nbgrader course here (default: a temp dir)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="assignments autograded at once (default 2); with --mutants, mutants graded at once (default 1)",
    )
    parser.add_argument(
        "--mutants", action="store_true", help="also part 4: the mutation score of the hidden tests"
    )
    parser.add_argument(
        "--mutants-only", action="store_true", help="run only part 4 (the mutation score), nothing else"
    )
    parser.add_argument(
        "--assignment",
        action="append",
        choices=ASSIGNMENTS,
        help="limit part 4 to this assignment (repeatable; default: all)",
    )
    parser.add_argument(
        "--mutant-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one mutant may take, else it counts as killed (timeout; default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*map(str, r)) for r in rows)])


def run_pipeline(workdir: Path | None, progress: bool, jobs: int = 2) -> PipelineResult:
    """Part 1: the solutions must score full marks and every entry must lose points."""
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
    rows = []
    for assignment in ASSIGNMENTS:
        solution = results[(assignment, SOLUTION_STUDENT)]
        full = solution.lost == 0
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
        rows.append(
            (
                entry.name + ("" if caught else "  <-- MISSED"),
                entry.assignment,
                f"{result.lost:g} of {result.max_score:g}",
                ", ".join(result.failed_tests) or "-",
            )
        )
    print(_table(rows, ("entry", "assignment", "points lost", "caught by (test cells)")))
    result = PipelineResult(
        {a: results[(a, SOLUTION_STUDENT)].lost for a in ASSIGNMENTS},
        {e.name: results[(e.assignment, e.name)].lost for e in CATALOGUE},
    )
    print(
        f"{len(CATALOGUE) - len(result.missed)} of {len(CATALOGUE)} entries lose points; solutions at full "
        f"marks: {not any(result.solutions_lost.values())} ({time.perf_counter() - start:.0f} s)"
    )
    return result


def run_matrix() -> MatrixResult:
    """Part 2: every check must catch an entry on its merits; the solutions must pass every check."""
    from autograder import checks
    from autograder.checks import scratch

    from .autograde import SOLUTION_STUDENT, check_matrix_in_subprocess

    print("\n== 2. coverage: every check on every entry (in a child process)")
    start = time.perf_counter()
    matrix = check_matrix_in_subprocess()
    solution_failures = {}
    for assignment in ASSIGNMENTS:
        failing = {k: v for k, v in matrix[f"{assignment}:{SOLUTION_STUDENT}"].items() if v}
        if failing:
            solution_failures[assignment] = failing
            print(f"solution of {assignment} fails checks: {failing}")
    rows = []
    catches = {}
    for name, info in checks.REGISTRY.items():
        caught = [
            key.split(":", 1)[1]
            for key, verdicts in matrix.items()
            if not key.endswith(f":{SOLUTION_STUDENT}")
            and verdicts.get(name)
            and not scratch.is_verdict(verdicts[name])
        ]
        catches[name] = caught
        rate = f"{info.false_failure_rate:.0e}" if info.statistical else "exact"
        rows.append(
            (
                name,
                rate,
                ", ".join(caught[:4]) + (" ..." if len(caught) > 4 else "") if caught else "NONE <--",
            )
        )
    print(_table(rows, ("check", "false failures", "catches (besides from-scratch verdicts)")))
    bounds = checks.false_failure_rates()
    for assignment, total in bounds.items():
        print(
            f"{assignment}: a correct answer fails some check with probability <= {total:.1e} (union bound)"
        )
    styles = run_styles()
    print(f"({time.perf_counter() - start:.0f} s)")
    return MatrixResult(catches, solution_failures, bounds, styles)


def run_styles() -> dict[str, object]:
    """Every correct answer in another style through every check of its assignment: none may fail.

    In this process: a style never tampers (``tests/test_styles.py`` holds them to that)."""
    from .autograde import check_matrix
    from .styles import STYLES

    failures: dict[str, dict[str, str]] = {}
    for style in STYLES:
        verdicts = check_matrix(style.assignment, style)
        failing = {name: message for name, message in verdicts.items() if message}
        if failing:
            failures[f"{style.assignment}:{style.name}"] = failing
    full = len(STYLES) - len(failures)
    print(f"correct styles: {full} of {len(STYLES)} full marks")
    for key, failing in failures.items():
        for name, message in failing.items():
            print(f"  {key} loses points in {name}: {message[:200]}")
    return {"total": len(STYLES), "full_marks": full, "failures": failures}


def run_statistics(runs: int, progress: bool) -> StatisticsResult:
    """Part 3: every statistical check on the reference with ``runs`` seeds; zero failures expected."""
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
    counts = {name: len(failures.get(name, [])) for name, _ in bodies}
    return StatisticsResult(runs * len(bodies), counts, expected_total)


def run_mutants(
    assignments: tuple[str, ...], jobs: int, timeout: float, progress: bool
) -> MutationResult:
    """Part 4: grade every mutant of every answer region; each assignment must score >= 95%."""
    from .mutants import analyse, report

    print(f"\n== 4. mutation score: every mutant of the solutions' answer regions ({', '.join(assignments)})")
    result = analyse(assignments, jobs=jobs, timeout=timeout, progress=progress)
    print(report(result))
    print(f"({result.seconds:.0f} s)")
    return result


def selfcheck(
    *,
    pipeline: bool = True,
    matrix: bool = True,
    stat_runs: int = 10_000,
    workdir: Path | None = None,
    jobs: int = 2,
    progress: bool = True,
    mutants: bool = False,
    mutant_assignments: tuple[str, ...] = ASSIGNMENTS,
    mutant_jobs: int = 1,
    mutant_timeout: float = DEFAULT_TIMEOUT,
) -> SelfcheckReport:
    """Run the chosen parts (printing their tables) and return what they found."""
    report = SelfcheckReport()
    if pipeline:
        report.pipeline = run_pipeline(workdir, progress, jobs)
    if matrix:
        report.matrix = run_matrix()
    if stat_runs > 0:
        report.statistics = run_statistics(stat_runs, progress)
    if mutants:
        report.mutants = run_mutants(mutant_assignments, mutant_jobs, mutant_timeout, progress)
    return report


def run(args: argparse.Namespace) -> int:
    only = args.mutants_only
    report = selfcheck(
        pipeline=not (args.skip_nbgrader or only),
        matrix=not (args.skip_matrix or only),
        stat_runs=0 if only else args.stat_runs,
        workdir=args.workdir,
        jobs=args.jobs or 2,
        progress=not args.no_progress,
        mutants=args.mutants or only,
        mutant_assignments=tuple(a for a in ASSIGNMENTS if a in (args.assignment or ASSIGNMENTS)),
        mutant_jobs=args.jobs or 1,
        mutant_timeout=args.mutant_timeout,
    )
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=1))
    print("\nselfcheck: " + ("PASSED" if report.ok else "FAILED"))
    return 0 if report.ok else 1
