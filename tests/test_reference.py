"""The reference dropout: exact agreement with PyTorch, gradients, edge cases, dtypes, memory, statistics.

False-failure rates: the deterministic tests have none. Every statistical test below draws from seeded
generators, so it is in fact deterministic, and each would also pass a correct implementation with
probability at least 1 - 1e-10 for *any* seed (the interval's exact rate is asserted to be below 1e-10).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autograder.lab.memory import saved_bytes
from autograder.lab.stats import binomial_interval
from autograder.reference import (
    KEEP_MASK_STRATEGIES,
    dropout,
    dropout_backward,
    dropout_forward,
    dropout_mask,
)
from autograder.reference.bits import same_bits

STRATEGIES = list(KEEP_MASK_STRATEGIES)
SHAPES = [(7,), (64, 33), (4, 5, 6), (2, 3, 8, 8)]
PROBABILITIES = [0.1, 0.5, 0.9]
FALSE_FAILURE_RATE = 1e-10


def _grad(fn, x: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = fn(x)
    (grad_in,) = torch.autograd.grad(out, x, grad_out)
    return out, grad_in


# -------------------------------------------------------------------------------------------------
# Exact agreement with PyTorch on the CPU
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", PROBABILITIES)
def test_matches_torch_dropout_under_the_same_seed(strategy: str, shape: tuple[int, ...], p: float) -> None:
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(shape, dtype=torch.float64)
    torch.manual_seed(1234)
    expected, expected_grad = _grad(lambda t: F.dropout(t, p, training=True), x, grad_out)
    torch.manual_seed(1234)
    actual, actual_grad = _grad(lambda t: dropout(t, p, keep_mask_as=strategy), x, grad_out)
    assert same_bits(actual, expected) and same_bits(actual_grad, expected_grad)


@pytest.mark.parametrize("layout", ["transposed", "permuted", "strided slice"])
def test_matches_torch_on_non_contiguous_inputs(layout: str) -> None:
    base = torch.randn(6, 7, 8, dtype=torch.float64)
    x = {
        "transposed": base[0].t(),
        "permuted": base.permute(2, 0, 1),
        "strided slice": base[:, ::2, 1:],
    }[layout]
    torch.manual_seed(5)
    expected = F.dropout(x, 0.3)
    for strategy in STRATEGIES:
        torch.manual_seed(5)
        assert same_bits(dropout(x, 0.3, keep_mask_as=strategy), expected)


def test_explicit_generator_matches_global_seed() -> None:
    x = torch.randn(1000)
    torch.manual_seed(99)
    expected = F.dropout(x, 0.4)
    actual = dropout(x, 0.4, generator=torch.Generator().manual_seed(99))
    assert same_bits(actual, expected)


def test_mask_is_the_bernoulli_mask_in_large_chunked_draws() -> None:
    # More elements than one uniform buffer holds, so the chunked draw must continue the stream.
    n = (1 << 22) + 12345
    torch.manual_seed(7)
    expected = torch.empty(n, dtype=torch.bool).bernoulli_(0.6)
    actual = dropout_mask((n,), 0.4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(actual, expected)


# -------------------------------------------------------------------------------------------------
# Gradients
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("p", [0.2, 0.7])
def test_numerical_gradient_check_with_a_fixed_mask(strategy: str, p: float) -> None:
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def fixed_mask_dropout(t: torch.Tensor) -> torch.Tensor:
        # A freshly seeded generator per call: every evaluation gradcheck makes sees the same mask.
        return dropout(t, p, generator=torch.Generator().manual_seed(3), keep_mask_as=strategy)

    assert torch.autograd.gradcheck(fixed_mask_dropout, (x,), eps=1e-6, atol=1e-8)


def test_cache_based_backward_matches_autograd_and_finite_differences() -> None:
    x = torch.randn(8, 9, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(8, 9, dtype=torch.float64)
    out, cache = dropout_forward(x.detach(), 0.3, generator=torch.Generator().manual_seed(11))
    manual = dropout_backward(grad_out, cache)
    auto_out, auto_grad = _grad(
        lambda t: dropout(t, 0.3, generator=torch.Generator().manual_seed(11)), x, grad_out
    )
    torch.testing.assert_close(out, auto_out.detach())
    torch.testing.assert_close(manual, auto_grad)
    # Central differences of sum(grad_out * out) with the cached mask held fixed.
    eps = 1e-6
    flat = x.detach().clone().view(-1)
    for index in (0, 17, 40, 71):
        plus, minus = flat.clone(), flat.clone()
        plus[index] += eps
        minus[index] -= eps
        f_plus = (grad_out.view(-1) * plus * cache.mask.view(-1) * cache.scale).sum()
        f_minus = (grad_out.view(-1) * minus * cache.mask.view(-1) * cache.scale).sum()
        assert math.isclose(
            float((f_plus - f_minus) / (2 * eps)), float(manual.view(-1)[index]), abs_tol=1e-6
        )


def test_backward_rejects_a_gradient_of_the_wrong_shape() -> None:
    _, cache = dropout_forward(torch.randn(4, 4), 0.5)
    with pytest.raises(ValueError, match="shape"):
        dropout_backward(torch.randn(4, 5), cache)


def test_backward_uses_the_forward_mask_not_a_new_one() -> None:
    x = torch.randn(10_000, requires_grad=True)
    out = dropout(x, 0.5)
    dropout(torch.randn(10_000), 0.5)  # another call in between draws another mask
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad != 0, out.detach() != 0)


# -------------------------------------------------------------------------------------------------
# Edge cases and errors
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_eval_and_p_zero_return_the_input_itself(strategy: str, device: torch.device) -> None:
    x = torch.randn(5, 5, device=device)
    assert dropout(x, 0.5, training=False, keep_mask_as=strategy) is x
    assert dropout(x, 0.0, keep_mask_as=strategy) is x
    assert dropout(x, 0, keep_mask_as=strategy) is x


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_p_one_multiplies_by_zero_and_draws_nothing(strategy: str, device: torch.device) -> None:
    # Dropout is a multiplication, so p = 1 gives x * 0: zeros that keep x's sign, NaN for inf
    # (as PyTorch's dropout does); the gradient is grad * 0. Nothing is drawn from the generator.
    x = torch.tensor([1.0, -2.0, float("inf")], device=device, requires_grad=True)
    generator = torch.Generator(device=device).manual_seed(0)
    state = generator.get_state()
    out = dropout(x, 1.0, generator=generator, keep_mask_as=strategy)
    assert torch.equal(generator.get_state(), state)
    assert same_bits(out[:2], torch.tensor([0.0, -0.0], device=device)) and bool(out[2].isnan())
    out.backward(torch.tensor([3.0, -4.0, 5.0], device=device))
    assert x.grad is not None and same_bits(x.grad, torch.tensor([0.0, -0.0, 0.0], device=device))


@pytest.mark.parametrize("bad_p", [-0.1, 1.0001, 2, float("nan"), float("inf")])
def test_p_outside_unit_interval_is_a_clear_error(bad_p: float) -> None:
    with pytest.raises(ValueError, match=r"dropout probability p has to be in \[0, 1\]"):
        dropout(torch.randn(3), bad_p)


@pytest.mark.parametrize("bad_p", ["0.5", None, True, [0.5], torch.tensor([0.1, 0.2])])
def test_non_number_p_is_a_clear_error(bad_p: object) -> None:
    with pytest.raises(TypeError, match="must be a real number"):
        dropout(torch.randn(3), bad_p)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_non_floating_tensor_is_a_clear_error(dtype: torch.dtype) -> None:
    with pytest.raises(TypeError, match="floating-point tensor"):
        dropout(torch.ones(3, dtype=dtype), 0.5)


def test_non_tensor_and_bad_strategy_and_wrong_generator_device_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="torch.Tensor"):
        dropout([1.0, 2.0], 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep_mask_as must be one of"):
        dropout(torch.randn(3), 0.5, keep_mask_as="int")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="generator lives on"):
        dropout(torch.randn(3, device="meta"), 0.5, generator=torch.Generator())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_input_is_never_mutated(strategy: str, device: torch.device) -> None:
    x = torch.randn(100, 10, device=device, requires_grad=True)
    before = x.detach().clone()
    out = dropout(x, 0.5, keep_mask_as=strategy)
    out.sum().backward()
    assert torch.equal(x.detach(), before)
    assert out.data_ptr() != x.data_ptr()


# -------------------------------------------------------------------------------------------------
# Dtypes and devices
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_dtype_device_and_shape_are_kept(dtype: torch.dtype, strategy: str, device: torch.device) -> None:
    x = torch.randn(32, 17, device=device).to(dtype).requires_grad_()
    seed = torch.Generator(device=device).manual_seed(0)
    out = dropout(x, 0.3, generator=seed, keep_mask_as=strategy)
    assert (out.dtype, out.device, out.shape) == (dtype, x.device, x.shape)
    out.backward(torch.ones_like(out))
    assert (x.grad.dtype, x.grad.device) == (dtype, x.device)
    keep = out.detach() != 0
    # Survivors are x / (1 - p) to the dtype's precision; the gradient is the mask times the scale.
    torch.testing.assert_close(out.detach()[keep], (x.detach()[keep].double() / 0.7).to(dtype))
    torch.testing.assert_close(x.grad, (keep.double() / 0.7).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_matches_torch_on_cpu(dtype: torch.dtype) -> None:
    x = torch.randn(40, 40).to(dtype)
    torch.manual_seed(21)
    expected = F.dropout(x, 0.25)
    for strategy in STRATEGIES:
        torch.manual_seed(21)
        assert same_bits(dropout(x, 0.25, keep_mask_as=strategy), expected)


def test_strategies_agree_with_each_other_on_every_device(device: torch.device) -> None:
    x = torch.randn(5000, device=device, requires_grad=True)
    grad_out = torch.randn(5000, device=device)
    results = []
    for strategy in STRATEGIES:
        generator = torch.Generator(device=device).manual_seed(17)
        results.append(_grad(lambda t, s=strategy, g=generator: dropout(t, 0.4, generator=g, keep_mask_as=s),
                             x, grad_out))  # fmt: skip
    for out, grad in results[1:]:
        assert same_bits(out, results[0][0]) and same_bits(grad, results[0][1])


def test_mask_is_drawn_on_the_tensor_device_even_without_a_generator() -> None:
    # On the meta device nothing is computed, but a mask created on the CPU would fail to combine.
    x = torch.empty(4, 4, device="meta")
    assert dropout_mask(x.shape, 0.5, device=x.device).device.type == "meta"


# -------------------------------------------------------------------------------------------------
# Memory saved for backward
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_bytes_saved_for_backward_per_strategy(dtype: torch.dtype) -> None:
    numel = 1 << 20
    x = torch.randn(numel).to(dtype).requires_grad_()
    per_element = {
        strategy: saved_bytes(lambda t, s=strategy: dropout(t, 0.5, keep_mask_as=s), x).bytes_per_element(
            numel
        )
        for strategy in STRATEGIES
    }
    assert per_element["float"] == x.element_size()
    assert per_element["bool"] == 1
    assert per_element["seed"] < 0.01  # the generator state only: a few kilobytes in all
    # and what PyTorch itself keeps, for comparison
    native = saved_bytes(lambda t: torch.native_dropout(t, 0.5, True)[0], x).bytes_per_element(numel)
    assert native == 1


# -------------------------------------------------------------------------------------------------
# Statistics (each interval's exact false-failure rate is below 1e-10)
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_and_mean(p: float, device: torch.device) -> None:
    n = 200_000
    generator = torch.Generator(device=device).manual_seed(2024)
    out = dropout(torch.ones(n, device=device), p, generator=generator)
    kept = int((out != 0).sum())
    interval = binomial_interval(n, 1 - p, FALSE_FAILURE_RATE)
    assert interval.false_failure_rate < FALSE_FAILURE_RATE
    assert interval.contains(kept), interval.describe(kept)
    # Survivors are exactly 1 / (1 - p), so the mean is kept / n / (1 - p): it lies in the scaled
    # interval, which contains 1 (E[out] = x).
    mean = float(out.double().mean())
    assert interval.low / n / (1 - p) <= mean <= interval.high / n / (1 - p)
    assert interval.low / n / (1 - p) <= 1.0 <= interval.high / n / (1 - p)
    torch.testing.assert_close(out[out != 0], torch.full((kept,), 1 / (1 - p), device=device))


def test_masks_are_independent_across_calls(device: torch.device) -> None:
    n, p = 100_000, 0.5
    generator = torch.Generator(device=device).manual_seed(8)
    first = dropout(torch.ones(n, device=device), p, generator=generator) != 0
    second = dropout(torch.ones(n, device=device), p, generator=generator) != 0
    # Independent masks agree at each element with probability q^2 + (1 - q)^2.
    q = 1 - p
    interval = binomial_interval(n, q * q + (1 - q) * (1 - q), FALSE_FAILURE_RATE)
    agree = int((first == second).sum())
    assert interval.contains(agree), interval.describe(agree)


def test_masks_are_independent_across_rows(device: torch.device) -> None:
    rows, cols, p = 400, 250, 0.5
    generator = torch.Generator(device=device).manual_seed(9)
    keep = dropout(torch.ones(rows, cols, device=device), p, generator=generator) != 0
    # Row 0 against every other row: agreements ~ Binomial(rows-1 * cols, 1/2) if rows are independent.
    agree = int((keep[1:] == keep[0]).sum())
    interval = binomial_interval((rows - 1) * cols, 0.5, FALSE_FAILURE_RATE)
    assert interval.contains(agree), interval.describe(agree)
    # ... and within a row, neighbours are independent too.
    neighbours = int((keep[:, 1:] == keep[:, :-1]).sum())
    # Neighbouring pairs overlap, so use the exact interval for a chain: the agreements of a
    # Bernoulli(1/2) sequence's consecutive pairs are independent fair coins (XOR of i.i.d. bits).
    interval = binomial_interval(rows * (cols - 1), 0.5, FALSE_FAILURE_RATE)
    assert interval.contains(neighbours), interval.describe(neighbours)


@pytest.mark.parametrize("p", [0.5, 1.0])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_by_pytorch(strategy: str, p: float) -> None:
    x = torch.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.dropout(x, p, inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        dropout(x, p, inplace=True, keep_mask_as=strategy)


def test_dropout_runs_on_the_meta_device_forward_and_backward() -> None:
    # No data, but every operation must accept the device: nothing is silently drawn on the CPU.
    x = torch.randn(2, 3, 4, device="meta", requires_grad=True)
    for strategy in ("float", "bool"):
        out = dropout(x, 0.5, keep_mask_as=strategy)
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert out.device.type == grad.device.type == "meta" and out.shape == grad.shape == x.shape
    with pytest.raises(ValueError, match="no random generator to save"):
        dropout(x, 0.5, keep_mask_as="seed")
