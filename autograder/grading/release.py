"""``python -m autograder release``: generate ``exercises/`` from ``solutions/`` with nbgrader.

Runs nbgrader's ``generate_assignment`` (solution regions replaced by stubs, hidden tests removed,
checksums added) in a throwaway course and copies the released notebooks into ``exercises/``. The
output depends only on the source notebooks, so regenerating is byte-stable and the committed
``exercises/`` can be checked for drift (``--check``, which the test suite runs).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import tempfile
from pathlib import Path

from .course import ASSIGNMENTS, EXERCISES, SOLUTIONS, generate, make_course


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assignments",
        nargs="*",
        default=list(ASSIGNMENTS),
        metavar="ASSIGNMENT",
        help=f"which to release (default: all of {', '.join(ASSIGNMENTS)})",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if exercises/ is out of date"
    )
    parser.add_argument(
        "--output", type=Path, default=EXERCISES, help="release directory (default: exercises/)"
    )


def release(assignments: tuple[str, ...], work: Path) -> Path:
    """Generate the released notebooks into ``work/release`` and return that folder."""
    for assignment in assignments:
        if not (SOLUTIONS / assignment).is_dir():
            raise FileNotFoundError(f"no source folder {SOLUTIONS / assignment}")
    make_course(work, assignments)
    generate(work, assignments)
    return work / "release"


def _differences(generated: Path, committed: Path, assignments: tuple[str, ...]) -> list[str]:
    problems = []
    for assignment in assignments:
        new, old = generated / assignment, committed / assignment
        new_files = {p.relative_to(new) for p in new.rglob("*") if p.is_file()}
        old_files = {p.relative_to(old) for p in old.rglob("*") if p.is_file()} if old.is_dir() else set()
        for name in sorted(new_files | old_files):
            if name not in old_files:
                problems.append(f"missing: {old / name}")
            elif name not in new_files:
                problems.append(f"stale (not in solutions/): {old / name}")
            elif not filecmp.cmp(new / name, old / name, shallow=False):
                problems.append(f"out of date: {old / name}")
    return problems


def run(args: argparse.Namespace) -> int:
    assignments = tuple(args.assignments)
    unknown = [a for a in assignments if a not in ASSIGNMENTS]
    if unknown:
        print(f"unknown assignment(s) {unknown}; the course has {list(ASSIGNMENTS)}")
        return 2
    with tempfile.TemporaryDirectory(prefix="dropout-release-") as tmp:
        generated = release(assignments, Path(tmp))
        problems = _differences(generated, args.output, assignments)
        if args.check:
            for problem in problems:
                print(problem)
            print(
                "exercises/ is up to date"
                if not problems
                else "exercises/ is out of sync with solutions/: run 'python -m autograder release'"
            )
            return 1 if problems else 0
        for assignment in assignments:
            target = args.output / assignment
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated / assignment, target)
            print(f"released {assignment} -> {target}")
    return 0
