"""A test cell's plan: the ``checks.check_x(name, ...)`` calls of the instructor's copy of the cell.

Only this form is understood: the module name ``checks``, a check function, positional arguments
that are plain names (the student objects it grades) and an optional constant ``seed=``. Anything
else in a test cell (the visible ``assert`` lines students run themselves) is ignored by the judge,
so every test cell must contain at least one check call (the test suite checks the notebooks).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_SETUP_IMPORT = re.compile(r"^\s*from\s+autograder\.checks\s+import\s+(\w+)\s+as\s+checks\b.*$", re.MULTILINE)


@dataclass(frozen=True)
class PlannedCheck:
    """One call: ``checks.<function>(*answers, seed=seed)``."""

    function: str
    answers: tuple[str, ...]
    seed: int | None = None


class PlanError(ValueError):
    """The instructor's test cell has no check call the judge can run."""


def parse_plan(source: str) -> list[PlannedCheck]:
    """The check calls of a test cell, in order; :class:`PlanError` when there is none."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise PlanError(f"the test cell does not parse: {error}") from None
    found: list[tuple[int, int, PlannedCheck]] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "checks"
            and node.func.attr.startswith("check_")
        ):
            continue
        if not all(isinstance(arg, ast.Name) for arg in node.args):
            raise PlanError(f"checks.{node.func.attr}(...) takes plain names of the student's objects")
        seed = None
        for keyword in node.keywords:
            if keyword.arg != "seed" or not isinstance(keyword.value, ast.Constant):
                raise PlanError(f"checks.{node.func.attr}(...) accepts only a constant seed= keyword")
            seed = int(keyword.value.value)
        names = tuple(arg.id for arg in node.args)  # type: ignore[attr-defined]
        found.append((node.lineno, node.col_offset, PlannedCheck(node.func.attr, names, seed)))
    plan = [planned for _, _, planned in sorted(found, key=lambda item: item[:2])]
    if not plan:
        raise PlanError("the test cell calls no checks.check_...(...) function, so the judge cannot grade it")
    return plan


def checks_module_name(setup_source: str, default: str) -> str:
    """The assignment module the setup cell imports as ``checks`` (``default`` when it names none)."""
    match = _SETUP_IMPORT.search(setup_source)
    return match.group(1) if match else default


def without_checks_import(setup_source: str) -> str:
    """The setup cell as the kernel runs it while grading: the checks are not imported there."""
    return _SETUP_IMPORT.sub("", setup_source)
