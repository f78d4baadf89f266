"""Which cell of a course notebook is which: nbgrader's cell metadata, read in one place.

nbgrader marks cells in ``metadata.nbgrader``: ``grade_id`` names a cell, ``solution`` marks a cell the
student writes, ``grade`` with no ``solution`` marks an autograded test cell, ``locked`` marks a cell
the student must not change. Every part of the grader that asks "is this a test cell?" asks here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def nbgrader_meta(cell: Any) -> dict[str, Any]:
    """The cell's ``metadata.nbgrader`` (an empty dict for a cell nbgrader does not know)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return dict(meta) if isinstance(meta, dict) else {}


def grade_id(cell: Any) -> str | None:
    """The cell's nbgrader name, or None."""
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell: Any) -> bool:
    """An autograded test cell: a graded code cell that is not a solution cell."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_solution_cell(cell: Any) -> bool:
    """A code cell the student fills in."""
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def test_ids(cells: Iterable[Any]) -> set[str]:
    """Grade ids of the autograded test cells among ``cells``."""
    return {name for cell in cells if is_test_cell(cell) and (name := grade_id(cell)) is not None}
