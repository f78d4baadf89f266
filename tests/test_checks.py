"""The grader's checks: the reference passes, every check catches a known-wrong answer, every
known-wrong answer is caught, from-scratch enforcement and tamper resistance hold.

Statistical assertions here inherit the checks' stated rates: each of the 51 binomial intervals fails a
correct answer with probability <= 1e-10, so the 200-seed run below fails by chance with probability
<= 200 x 51 x 1e-10 < 1.1e-6.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import pytest
import torch

from autograder import checks
from autograder.checks import core, scratch
from autograder.grading.autograde import SOLUTION_STUDENT, check_matrix_in_subprocess
from autograder.grading.catalogue import CATALOGUE
from autograder.grading.course import ASSIGNMENTS


def _reference_args(name: str, body: object) -> list[object]:
    module = checks.ASSIGNMENT_MODULES[checks.REGISTRY[name].assignment]
    return [module.REFERENCE[p] for p in inspect.signature(body).parameters if p != "seed"]


@pytest.fixture(scope="module")
def matrix() -> dict[str, dict[str, str | None]]:
    return check_matrix_in_subprocess()


def test_every_assignment_has_checks_and_a_budget_below_one_in_a_million() -> None:
    rates = checks.false_failure_rates()
    assert set(rates) == set(ASSIGNMENTS)
    for assignment, rate in rates.items():
        assert rate < 1e-6, f"{assignment}: false-failure bound {rate:.1e} is not below 1e-6"


@pytest.mark.parametrize("name", sorted(core.BODIES))
def test_reference_passes(name: str) -> None:
    body = core.BODIES[name]
    body(*_reference_args(name, body), seed=core.seed_for(name))


def test_statistical_checks_do_not_fail_the_reference_over_200_seeds() -> None:
    # False-failure rate of this test: < 1.1e-6 (see module docstring); the self-check runs 10,000 seeds.
    failures = []
    for name, body in core.STATISTICAL_BODIES.items():
        args = _reference_args(name, body)
        for seed in range(200):
            try:
                body(*args, seed=seed)
            except AssertionError as error:
                failures.append((name, seed, str(error)))
    assert failures == []


def test_solutions_pass_every_check(matrix: dict[str, dict[str, str | None]]) -> None:
    for assignment in ASSIGNMENTS:
        verdicts = matrix[f"{assignment}:{SOLUTION_STUDENT}"]
        assert verdicts, f"no checks ran for {assignment}"
        assert {k: v for k, v in verdicts.items() if v} == {}


def test_every_check_catches_an_entry_on_its_merits(matrix: dict[str, dict[str, str | None]]) -> None:
    uncaught = []
    for name in core.REGISTRY:
        caught = [
            key
            for key, verdicts in matrix.items()
            if not key.endswith(SOLUTION_STUDENT)
            and verdicts.get(name)
            and not scratch.is_verdict(verdicts[name])
        ]
        if not caught:
            uncaught.append(name)
    assert uncaught == [], (
        f"checks that catch no catalogue entry (other than by the from-scratch verdict): {uncaught}"
    )


def test_every_entry_is_caught_by_some_check(matrix: dict[str, dict[str, str | None]]) -> None:
    missed = [e.name for e in CATALOGUE if not any(matrix[f"{e.assignment}:{e.name}"].values())]
    assert missed == []


def test_messages_say_what_was_expected_and_what_was_found(matrix: dict[str, dict[str, str | None]]) -> None:
    for key, verdicts in matrix.items():
        for name, message in verdicts.items():
            if message and not scratch.is_verdict(message):
                assert "found" in message or "raised" in message, f"{key} {name}: {message}"
                assert any(w in message for w in ("should", "expected", "must")), f"{key} {name}: {message}"


def test_from_scratch_verdicts_for_builtin_and_reference(matrix: dict[str, dict[str, str | None]]) -> None:
    for entry in ("builtin_dropout", "hidden_builtin_dropout", "calls_reference"):
        message = matrix[f"masks:{entry}"]["masks.check_forward_output"]
        assert message and scratch.is_verdict(message) and "scores zero" in message, message
    assert scratch.is_verdict(matrix["autograd:subclasses_nn_dropout"]["autograd.check_module_eval"] or "")
    assert scratch.is_verdict(
        matrix["weights:weight_dropout_builtin"]["weights.check_weight_dropout_eval_full"] or ""
    )
    assert scratch.is_verdict(
        matrix["practice:mc_calls_reference"]["practice.check_mc_predict_samples"] or ""
    )


@pytest.mark.parametrize(
    "call",
    [
        "torch.nn.functional.dropout(x, p, training)",
        "torch.nn.Dropout(p)(x)",
        "torch.dropout(x, p, training)",
        "torch.native_dropout(x, p, training)[0]",
        "torch.nn.functional.alpha_dropout(x, p, training)",
        "getattr(torch.nn.functional, 'drop' + 'out')(x, p, training)",
    ],
)
def test_runtime_tracing_sees_builtin_dropout(call: str) -> None:
    names = {"torch": torch, "x": torch.ones(4, 4), "p": 0.5, "training": True}
    with scratch.watching() as watch:
        eval(call, names)  # noqa: S307 - the calls under test
    assert any("built-in dropout" in reason for reason in watch.found), watch.found


def test_runtime_tracing_sees_the_reference() -> None:
    import autograder.reference as reference

    with scratch.watching() as watch:
        reference.dropout(torch.ones(3), 0.5)
    assert any("reference" in reason for reason in watch.found)


def test_checks_are_sealed_against_rebinding() -> None:
    with pytest.raises(AttributeError, match="belongs to the grader"):
        checks.masks.check_forward_output = lambda *args: None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del checks.core.T


def test_monkeypatching_torch_does_not_pass_a_wrong_answer() -> None:
    # In a child process: the patches would break this one.
    code = textwrap.dedent(
        """
        import torch
        from autograder.checks import masks
        def dropout_forward(x, p=0.5, training=True, generator=None):
            if not 0 <= p <= 1:
                raise ValueError(p)
            if not training or p == 0:
                return x, None
            mask = torch.rand(x.shape, generator=generator) < 1 - p
            return x * mask, mask          # missing the 1/(1-p) scale
        torch.equal = lambda *a, **k: True
        torch.allclose = lambda *a, **k: True
        torch.count_nonzero = lambda t, *a, **k: torch.tensor(t.numel())
        torch.Tensor.__ne__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
        torch.Tensor.item = lambda self: 0
        try:
            masks.check_forward_output(dropout_forward)
        except AssertionError as error:
            print("CAUGHT", error)
        else:
            print("PASSED")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "CAUGHT" in result.stdout, result.stdout + result.stderr


def test_wrong_device_is_caught_without_a_gpu() -> None:
    def dropout_mask(shape, p, generator=None, device=None):
        return torch.rand(shape, generator=generator) < 1 - p  # always on the CPU

    with pytest.raises(AssertionError, match="should be on"):
        checks.masks.check_mask_device(dropout_mask)


def test_catalogue_covers_the_course_misconceptions() -> None:
    names = {e.name for e in CATALOGUE}
    required = {
        "randn_mask",
        "keep_drop_swapped",
        "missing_rescale",
        "wrong_rescale",
        "mask_on_cpu",
        "dtype_promoted",
        "input_mutated",
        "backward_redraws_mask",
        "mask_shared_across_rows",
        "mask_reused_across_calls",
        "ignores_training",
        "weight_dropout_data",
        "builtin_dropout",
        "functional_without_training",
        "numpy_mask",
    }
    assert required <= names
    assert len(CATALOGUE) >= 12
    assert len(names) == len(CATALOGUE)


def test_catalogue_table_matches_the_actual_verdicts(matrix: dict[str, dict[str, str | None]]) -> None:
    from autograder.grading.autograde import caught_by
    from autograder.grading.catalogue import CAUGHT_BY

    actual = caught_by(matrix)
    assert actual == CAUGHT_BY, (
        "autograder.grading.catalogue.CAUGHT_BY (shown in the instructors' chapter) is stale; "
        "regenerate it with "
        "'python -m autograder.grading.autograde'"
    )
