"""The requirement tables: every stated requirement has a check, every check a requirement."""

from __future__ import annotations

import dataclasses

from autograder import checks
from autograder.grading.course import ASSIGNMENTS
from autograder.grading.requirements import Requirement, load, notebook_text, problems


def test_the_tables_have_no_problem() -> None:
    assert problems() == []


def test_every_assignment_has_a_table_that_covers_its_checks() -> None:
    table = load()
    assert list(table) == list(ASSIGNMENTS)
    for assignment, rows in table.items():
        own = {name for name, info in checks.REGISTRY.items() if info.assignment == assignment}
        listed = {name for r in rows for name in r.checks}
        assert listed == own, assignment
        assert len(rows) >= 8, assignment


def _with(table: dict[str, list[Requirement]], assignment: str, index: int, **changes: object) -> dict:
    changed = {a: list(rows) for a, rows in table.items()}
    changed[assignment][index] = dataclasses.replace(changed[assignment][index], **changes)
    return changed


def test_a_requirement_without_a_check_is_a_problem() -> None:
    table = load()
    found = problems(_with(table, "masks", 0, checks=()))
    assert any("lists no check" in p for p in found), found


def test_inputs_not_yet_exercised_are_a_problem() -> None:
    table = load()
    assert not [r.id for rows in table.values() for r in rows if r.not_yet]
    found = problems(_with(table, "practice", 0, not_yet="several batches"))
    assert any("lists inputs no check exercises yet: several batches" in p for p in found), found


def test_a_check_that_does_not_exist_or_belongs_elsewhere_is_a_problem() -> None:
    table = load()
    found = problems(_with(table, "masks", 0, checks=("masks.check_no_such_thing",)))
    assert any("masks.check_no_such_thing, which is not a check" in p for p in found), found
    found = problems(_with(table, "masks", 0, checks=("practice.check_accuracy",)))
    assert any("a check of practice" in p for p in found), found


def test_a_check_under_no_requirement_is_a_problem() -> None:
    table = load()
    dropped = {
        a: [r for r in rows if "practice.check_mc_predict_no_grad" not in r.checks]
        for a, rows in table.items()
    }
    found = problems(dropped)
    assert "practice.check_mc_predict_no_grad is listed under no requirement" in found, found


def test_a_requirement_the_notebook_does_not_state_is_a_problem() -> None:
    table = load()
    found = problems(_with(table, "weights", 0, text="Weights must be prime numbers."))
    assert any("does not say 'Weights must be prime numbers.'" in p for p in found), found


def test_the_notebook_text_is_its_markdown_only() -> None:
    text = notebook_text("masks")
    assert "Each entry is kept with probability `1 - p`" in text
    assert "### BEGIN SOLUTION" not in text and "checks.check_" not in text
