"""Every requirement the notebooks state, with the checks that test it: ``requirements.json``.

For each assignment the data file lists requirements: a short ``id``, the ``text`` (a sentence, or the
part of one, of the solutions notebook's markdown that states it), the ``checks`` that test it (names of
:data:`autograder.checks.REGISTRY`) and the ``inputs`` that exercise it. A row may still name inputs the
grader does ``not_yet`` exercise, but only as a gap to close: :func:`problems` reports it.
``tests/test_requirements.py`` requires no problem: a requirement without a check, a check that does
not exist or belongs to another assignment, a check listed under no requirement, inputs not yet
exercised, or a text the notebook does not contain (a graded requirement the students were never
told).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .course import ASSIGNMENTS, SOLUTIONS

REQUIREMENTS_FILE = Path(__file__).resolve().parent / "requirements.json"


@dataclass(frozen=True)
class Requirement:
    assignment: str
    id: str
    text: str
    checks: tuple[str, ...]
    inputs: str
    not_yet: str = ""


def load(path: Path = REQUIREMENTS_FILE) -> dict[str, list[Requirement]]:
    """The requirements by assignment, in the file's order."""
    raw = json.loads(path.read_text())
    return {
        assignment: [
            Requirement(
                assignment, r["id"], r["text"], tuple(r["checks"]), r.get("inputs", ""), r.get("not_yet", "")
            )
            for r in rows
        ]
        for assignment, rows in raw.items()
    }


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def notebook_text(assignment: str) -> str:
    """The markdown of the solutions notebook, whitespace collapsed (what the students read)."""
    import nbformat

    notebook = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    return _flat(" ".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown"))


def problems(table: dict[str, list[Requirement]] | None = None) -> list[str]:
    """Everything wrong with the table (empty when every requirement is stated and checked)."""
    from autograder import checks

    table = load() if table is None else table
    found: list[str] = []
    if set(table) != set(ASSIGNMENTS):
        found.append(f"the assignments are {sorted(table)}, expected {sorted(ASSIGNMENTS)}")
    listed: set[str] = set()
    for assignment, rows in table.items():
        text = notebook_text(assignment) if assignment in ASSIGNMENTS else ""
        ids = [r.id for r in rows]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            found.append(f"{assignment}: the id {duplicate} is used twice")
        for r in rows:
            where = f"{assignment}:{r.id}"
            if not r.checks:
                found.append(f"{where} lists no check")
            if not r.inputs:
                found.append(f"{where} names no inputs that exercise it")
            if r.not_yet:
                found.append(f"{where} lists inputs no check exercises yet: {r.not_yet}")
            for name in r.checks:
                info = checks.REGISTRY.get(name)
                if info is None:
                    found.append(f"{where} lists {name}, which is not a check")
                elif info.assignment != assignment:
                    found.append(f"{where} lists {name}, a check of {info.assignment}")
                listed.add(name)
            if _flat(r.text) not in text:
                found.append(f"{where}: the notebook's text does not say {r.text!r}")
    for name in sorted(set(checks.REGISTRY) - listed):
        found.append(f"{name} is listed under no requirement")
    return found
