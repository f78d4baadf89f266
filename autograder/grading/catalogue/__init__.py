"""The catalogue of known-wrong answers: how the grader proves it catches real mistakes.

Each wrong answer is a file, ``<assignment>/<name>.py`` in this folder, wrong in one specific,
realistic way. Its docstring says what the mistake is; each ``# %% <grade_id>`` line starts the code
that replaces the solution cell of that nbgrader ``grade_id`` (the other cells keep the solution); a
header line ``TAMPERS = True`` marks an answer that monkeypatches torch or the checks, which the
self-check runs last and in a child process because it pollutes the interpreter. The files are
linted like any code (ruff; only undefined names are allowed, since a cell uses what the notebook's
other cells define).

``python -m autograder selfcheck`` grades a submission built from each entry with nbgrader and fails
unless every entry loses points, and the test suite checks that every check in
:mod:`autograder.checks` catches at least one entry. Every misconception of COURSE.md is here.
:data:`CAUGHT_BY` (read from ``caught_by.json``, written by ``python -m autograder.grading.autograde``)
records which checks catch each entry; the tests keep it equal to the checks' actual verdicts.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The assignments, in course order (the folders of this package).
_ORDER: tuple[str, ...] = ("masks", "autograd", "weights", "practice")
_CELL = re.compile(r"^# %% (?P<grade_id>[A-Za-z0-9_]+)[ \t]*$", re.MULTILINE)
CAUGHT_BY_FILE = HERE / "caught_by.json"


@dataclass(frozen=True)
class WrongAnswer:
    """A wrong implementation: ``cells`` maps solution-cell grade ids to the code that replaces them."""

    name: str
    assignment: str
    mistake: str
    cells: dict[str, str]
    tampers: bool = False  # monkeypatches torch or the checks (run last in-process: it pollutes)


def parse_entry(path: Path) -> WrongAnswer:
    """Read one catalogue file (see the module docstring for its layout)."""
    text = path.read_text()
    markers = list(_CELL.finditer(text))
    if not markers:
        raise ValueError(f"{path}: no '# %% <grade_id>' line, so it replaces no cell")
    header = ast.parse(text[: markers[0].start()], filename=str(path))
    mistake = ast.get_docstring(header)
    if not mistake:
        raise ValueError(f"{path}: the docstring saying what the mistake is is missing")
    tampers = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "TAMPERS" for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
        for node in header.body
    )
    cells = {}
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        cells[marker["grade_id"]] = text[marker.end() : end].strip("\n") + "\n"
    return WrongAnswer(path.stem, path.parent.name, " ".join(mistake.split()), cells, tampers)


def _load() -> tuple[WrongAnswer, ...]:
    found = [parse_entry(path) for assignment in _ORDER for path in sorted((HERE / assignment).glob("*.py"))]
    return tuple(found)


#: Every entry, in course order (assignments in course order, entries by name).
CATALOGUE: tuple[WrongAnswer, ...] = _load()


def entries(assignment: str | None = None) -> list[WrongAnswer]:
    """The catalogue, or one assignment's part of it."""
    return [entry for entry in CATALOGUE if assignment is None or entry.assignment == assignment]


def entry(name: str) -> WrongAnswer:
    """One entry by name (a clear KeyError naming the known entries otherwise)."""
    for candidate in CATALOGUE:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no catalogue entry {name!r}; known: {', '.join(e.name for e in CATALOGUE)}")


#: What :data:`CAUGHT_BY` says of an entry that only the from-scratch verdict catches.
FROM_SCRATCH_VERDICT: tuple[str, ...] = ("from-scratch verdict",)


def read_caught_by(path: Path = CAUGHT_BY_FILE) -> dict[str, tuple[str, ...]]:
    """Which checks catch each entry on their merits, as recorded in ``caught_by.json``."""
    raw = json.loads(path.read_text())
    return {
        name: FROM_SCRATCH_VERDICT if value == FROM_SCRATCH_VERDICT[0] else tuple(value)
        for name, value in raw.items()
    }


def write_caught_by(table: dict[str, tuple[str, ...]], path: Path = CAUGHT_BY_FILE) -> Path:
    """Record ``table`` (the format of :func:`read_caught_by`) in ``caught_by.json``."""
    raw = {
        name: FROM_SCRATCH_VERDICT[0] if checks == FROM_SCRATCH_VERDICT else list(checks)
        for name, checks in table.items()
    }
    path.write_text(json.dumps(raw, indent=1) + "\n")
    return path


#: Which checks catch each entry on their merits (kept equal to the actual verdicts by the tests).
CAUGHT_BY: dict[str, tuple[str, ...]] = read_caught_by()
