"""The static from-scratch policy applied to a submitted notebook, before anything runs.

Every code cell the student can edit (every cell that is not one of the instructor's locked cells,
identified by the instructor's grade ids) is scanned with the rule table of
:mod:`autograder.checks.policy`. A finding in a cell that defines a graded name (``dropout_forward``)
zeroes the checks of that name; a finding in any other student cell zeroes every check of the
notebook, because code there can hand anything to any answer. The message names the cell, the line
and the construct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autograder.checks import policy

from ..cells import grade_id


@dataclass
class StaticFindings:
    """Findings per student cell, strict and with built-in dropout allowed, and what each cell defines."""

    strict: dict[str, list[str]] = field(default_factory=dict)
    lenient: dict[str, list[str]] = field(default_factory=dict)
    defines: dict[str, set[str]] = field(default_factory=dict)

    def reasons(self, answers: tuple[str, ...], graded: set[str], *, builtin_allowed: bool) -> list[str]:
        """Why the answers of one check are not from scratch (empty when nothing was found)."""
        table = self.lenient if builtin_allowed else self.strict
        reasons = []
        for cell, findings in table.items():
            defined = self.defines.get(cell, set())
            if findings and (defined & set(answers) or not defined & graded):
                reasons += [f"cell {cell}, {finding}" for finding in findings]
        return reasons


def scan_notebook(cells: list[Any], instructor_ids: set[str]) -> StaticFindings:
    """Scan every code cell the student wrote (``instructor_ids``: the locked cells' grade ids)."""
    findings = StaticFindings()
    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        name = grade_id(cell)
        if name in instructor_ids:
            continue
        label = name if name else f"#{index}"
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        findings.strict[label] = policy.scan(source)
        findings.lenient[label] = policy.scan(source, builtin_allowed=True)
        findings.defines[label] = policy.defined_names(source)
    return findings
