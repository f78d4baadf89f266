"""``python -m autograder``: the course's command line (benchmark, data, training, book, grading).

Each command lives in its own module with two functions, ``add_arguments(parser)`` and
``run(args) -> int``; this file only lists them. A module is imported only when its command runs, so
``--help`` stays instant (no torch import).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: command name -> (module implementing it, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": (
        "autograder.lab.bench",
        "time and measure the memory of each keep_mask_as strategy against native F.dropout",
    ),
    "data": (
        "autograder.lab.data",
        "download Fashion-MNIST (or report the offline fallback) and describe it",
    ),
    "train": (
        "autograder.lab.training",
        "train the course MLP with reference or nn.Dropout and print its history",
    ),
    "build-book": ("autograder.book_build", "build the HTML book into book/_build/html, offline"),
    "release": (
        "autograder.grading.release",
        "generate exercises/ from solutions/ with nbgrader (--check: verify they are in sync)",
    ),
    "selfcheck": (
        "autograder.grading.selfcheck",
        "grade the solutions and every known-wrong answer with nbgrader; rerun the statistical checks",
    ),
    "grade": (
        "autograder.grading.classroom",
        "autograde every submission of an assignment in parallel, sandboxed, with a summary",
    ),
    "blind-score": (
        "autograder.grading.blind",
        "grade a blind examiner's set of wrong and correct answers: the grader's power and fairness",
    ),
    "doctor": (
        "autograder.grading.doctor",
        "check that this machine and course can grade: workspace, gradebook, assignments, sandbox",
    ),
    "export": (
        "autograder.grading.lms_export",
        "write the gradebook for a learning management system (Canvas's gradebook CSV by default)",
    ),
    "bench-grading": (
        "autograder.grading.bench",
        "grade a synthetic class with one worker and with all cores; seconds per submission",
    ),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="dropout-course: reference dropout, book build, exercises and grading.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun 'python -m autograder COMMAND --help' for a command's options.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="what to run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] in {"-h", "--help"}:
        top.print_help()
        return 0 if argv else 2
    args, rest = top.parse_known_args(argv[:1])
    module_name, help_ = COMMANDS[args.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m autograder {args.command}", description=help_)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv[1:] + rest)) or 0)
