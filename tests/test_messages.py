"""Fair partial credit and messages that diagnose: no hidden test cell carries so many points that one
mistake zeroes unrelated parts, a detached output is named as detached, and a failure inside the
grader's own comparison is reported as the grader's, not blamed on the answer."""

from __future__ import annotations

import re

import nbformat
import pytest
import torch

from autograder.checks import autograd, core
from autograder.checks.harness import check
from autograder.grading.cells import grade_id, is_test_cell
from autograder.grading.course import ASSIGNMENTS, SOLUTIONS

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_cells_are_small_enough_for_partial_credit(assignment: str) -> None:
    notebook = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in notebook.cells:
        hidden = HIDDEN.search(cell.source) if is_test_cell(cell) else None
        if hidden is None:
            continue
        calls = re.findall(r"checks\.check_\w+\(", hidden.group(1))
        points = cell.metadata["nbgrader"]["points"]
        assert 1 <= len(calls) <= 5, (grade_id(cell), calls)
        assert points <= 3, f"{grade_id(cell)}: {points} points on one all-or-nothing cell"


def test_close_compares_across_dtypes_instead_of_raising() -> None:
    a = torch.ones(4)
    assert core.close(a, a.double())
    assert not core.close(a, 2 * a.double())
    assert not core.close(a, torch.ones(5))


class _Function:
    """A correct DropoutFunction apart from the detached output (the catalogue's style)."""

    __name__ = "DropoutFunction"

    @staticmethod
    def apply(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        mask = torch.rand(x.shape, generator=generator) < 1.0 - p
        return (x * mask / (1.0 - p)).detach()


def test_a_detached_output_is_named_detached() -> None:
    with pytest.raises(AssertionError, match="detached"):
        autograd.check_function_output_and_gradient(_Function)


def test_an_error_in_the_graders_code_is_reported_as_the_graders() -> None:
    def dropout_mask(shape: tuple[int, ...], p: float) -> torch.Tensor:
        return torch.rand(shape) < 1 - p

    try:
        # Registered here, not at import: the other tests see the registry without it.
        @check("masks", "a check whose own comparison breaks (only for this test)")
        def _broken_check(dropout_mask: object, *, seed: int) -> None:
            torch.allclose(torch.ones(2), torch.ones(2, dtype=torch.float64))

        with pytest.raises(AssertionError) as caught:
            _broken_check(dropout_mask)
        message = str(caught.value)
        assert "the grader's own check" in message and "not in yours" in message, message
        assert "Float did not match Double" in message
    finally:
        for table in (core.REGISTRY, core.BODIES):
            table.pop("masks._broken_check", None)
