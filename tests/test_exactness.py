"""The exactness table: the reference against PyTorch's CPU dropout, bit for bit.

For every ``keep_mask_as`` strategy, dtype (float16, bfloat16, float32, float64) and ``p`` (0, 1e-10,
0.1, 0.5, 0.9, 1), on inputs of many layouts carrying -0.0, negative numbers, +-inf and NaN, the
reference and PyTorch are run from the same seed and compared through integer views (so ``-0.0`` vs
``0.0`` or another NaN payload counts as a difference): the output, its strides, the gradient (with an
upstream gradient that has the same special values) and the global generator's state after forward and
backward. The same for channel dropout (1d/2d/3d, batched and unbatched), alpha and feature-alpha
dropout, ``inplace``, and :func:`dropout_with_mask` against ``torch.native_dropout``. Where the
reference differs on purpose, a test below pins the difference. CPU only: on CUDA PyTorch draws from a
Philox stream of its own, which the reference does not reproduce.

Deterministic (no false failures). About 45 s on the 2-core build machine under heavy load (504 tests).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from autograder.reference import (
    KEEP_MASK_STRATEGIES,
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    dropout_forward,
    dropout_with_mask,
    feature_alpha_dropout,
)
from autograder.reference.bits import bit_differences, same_bits

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
PROBABILITIES = [0.0, 1e-10, 0.1, 0.5, 0.9, 1.0]


def special_values(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Normal numbers with -0.0, 0.0, +-inf, NaN and large numbers (which overflow if scaled first)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64).flatten()
    for start, value in ((1, -0.0), (2, 0.0), (3, float("inf")), (4, -float("inf")), (5, float("nan"))):
        x[start::11] = value
    x[6::11] = torch.finfo(dtype).max * 0.75  # x * 1/(1-p) overflows here, x * 0 must still be 0
    return x.reshape(shape).to(dtype)


def _layouts(dtype: torch.dtype) -> dict[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]:
    """name -> a function returning (leaf that requires grad, the input made from it)."""

    def plain(shape):
        def make():
            leaf = special_values(shape, dtype, 1).requires_grad_()
            return leaf, leaf
        return make

    def view(shape, fn):
        def make():
            leaf = special_values(shape, dtype, 2).requires_grad_()
            return leaf, fn(leaf)
        return make

    return {
        "0-dim": plain(()),
        "empty": plain((0,)),
        "empty 3-d": plain((3, 0, 2)),
        "odd 1-d": plain((1001,)),
        "odd 3-d": plain((3, 7, 13)),
        "transposed": view((9, 14), lambda t: t.t()),
        "permuted": view((4, 5, 6), lambda t: t.permute(2, 0, 1)),
        "strided slice": view((6, 7, 8), lambda t: t[:, ::2, 1:]),
        "expanded": view((1, 17), lambda t: t.expand(6, 17)),
        "channels_last": view((2, 3, 4, 5), lambda t: t.contiguous(memory_format=torch.channels_last)),
        "channels_last sliced": view(
            (2, 3, 4, 10), lambda t: t.contiguous(memory_format=torch.channels_last)[..., ::2]
        ),
    }


def run_both(
    ours: Callable[[torch.Tensor], torch.Tensor],
    theirs: Callable[[torch.Tensor], torch.Tensor],
    make: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    *,
    seed: int = 1234,
) -> list[str]:
    """Run both from the same seed; return what differs (an empty list when every bit agrees)."""
    results = []
    for fn in (theirs, ours):
        leaf, x = make()
        torch.manual_seed(seed)
        out = fn(x)
        grad_out = special_values(tuple(out.shape), out.dtype, 3)
        grad = torch.autograd.grad(out, leaf, grad_out, allow_unused=True)[0] if out.requires_grad else None
        results.append((out, grad, torch.random.get_rng_state()))
    (out_t, grad_t, state_t), (out_o, grad_o, state_o) = results
    problems = []
    if not same_bits(out_o, out_t):
        problems.append(f"output: {bit_differences(out_o, out_t)}")
    elif out_o.numel() > 1 and out_o.stride() != out_t.stride():
        problems.append(f"output strides {out_o.stride()} vs {out_t.stride()}")
    if (grad_o is None) != (grad_t is None):
        problems.append(f"gradient {'missing' if grad_o is None else 'unexpected'}")
    elif grad_o is not None and not same_bits(grad_o, grad_t):
        problems.append(f"gradient: {bit_differences(grad_o, grad_t)}")
    if not torch.equal(state_o, state_t):
        problems.append("generator state after the call differs")
    return problems


@pytest.mark.parametrize("p", PROBABILITIES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("strategy", KEEP_MASK_STRATEGIES)
def test_dropout_is_bit_exact(strategy: str, dtype: torch.dtype, p: float) -> None:
    problems = {
        name: run_both(lambda x: dropout(x, p, keep_mask_as=strategy), lambda x: F.dropout(x, p), make)
        for name, make in _layouts(dtype).items()
    }
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


@pytest.mark.parametrize("strategy", KEEP_MASK_STRATEGIES)
def test_a_million_and_three_elements(strategy: str) -> None:
    """More elements than one chunk of uniforms: the draw must continue the stream across chunks."""
    n, dtype = 1_000_003, torch.float32

    def make():
        leaf = special_values((n,), dtype, 4).requires_grad_()
        return leaf, leaf

    assert not run_both(lambda x: dropout(x, 0.3, keep_mask_as=strategy), lambda x: F.dropout(x, 0.3), make)


@pytest.mark.parametrize("p", [1e-10, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("strategy", KEEP_MASK_STRATEGIES)
def test_inplace_is_bit_exact(strategy: str, dtype: torch.dtype, p: float) -> None:
    def make():
        leaf = special_values((5, 7), dtype, 5).requires_grad_()
        return leaf, leaf * 1  # in place needs a non-leaf

    problems = run_both(
        lambda x: dropout(x, p, inplace=True, keep_mask_as=strategy),
        lambda x: F.dropout(x, p, inplace=True),
        make,
    )
    assert not problems
    x = special_values((5, 7), dtype, 5)
    before = x._version
    torch.manual_seed(0)
    assert dropout(x, p, inplace=True, keep_mask_as=strategy) is x
    assert x._version > before


CHANNEL_CASES = {
    # name: (ours, PyTorch's, input shape)
    "dropout1d batched": (dropout1d, F.dropout1d, (4, 6, 5)),
    "dropout1d unbatched": (dropout1d, F.dropout1d, (6, 5)),
    "dropout2d batched": (dropout2d, F.dropout2d, (3, 4, 5, 2)),
    "dropout2d unbatched": (dropout2d, F.dropout2d, (4, 5, 2)),  # read as (N, C, L), with a warning
    "dropout2d 2-d": (dropout2d, F.dropout2d, (6, 5)),  # deprecated rank: a warning
    "dropout3d batched": (dropout3d, F.dropout3d, (2, 3, 4, 2, 3)),
    "dropout3d unbatched": (dropout3d, F.dropout3d, (3, 4, 2, 3)),
    "dropout3d 3-d": (dropout3d, F.dropout3d, (3, 4, 2)),  # deprecated rank: a warning, unbatched
    "feature alpha": (
        feature_alpha_dropout,
        lambda x, p, **kwargs: F.feature_alpha_dropout(x, p, True, **kwargs),
        (4, 6, 3, 2),
    ),
}


@pytest.mark.filterwarnings("ignore:dropout2d:UserWarning", "ignore:dropout3d:UserWarning")
@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(CHANNEL_CASES))
def test_channel_and_feature_alpha_dropout_are_bit_exact(
    case: str, dtype: torch.dtype, p: float, inplace: bool
) -> None:
    ours, theirs, shape = CHANNEL_CASES[case]

    def make():
        leaf = special_values(shape, dtype, 6).requires_grad_()
        return leaf, (leaf * 1 if inplace else leaf)

    problems = run_both(lambda x: ours(x, p, inplace=inplace), lambda x: theirs(x, p, inplace=inplace), make)
    assert not problems


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_alpha_dropout_is_bit_exact(dtype: torch.dtype, p: float, inplace: bool) -> None:
    for name, make_layout in _layouts(dtype).items():
        def make(make_layout=make_layout):
            leaf, x = make_layout()
            return leaf, (x * 1 if inplace else x)

        problems = run_both(
            lambda x: alpha_dropout(x, p, inplace=inplace),
            lambda x: F.alpha_dropout(x, p, True, inplace=inplace),
            make,
        )
        assert not problems, (name, problems)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("p", PROBABILITIES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dropout_with_mask_is_native_dropout_bit_for_bit(
    dtype: torch.dtype, p: float, training: bool
) -> None:
    for name, make in _layouts(dtype).items():
        outs = []
        for fn in (torch.native_dropout, dropout_with_mask):
            leaf, x = make()
            torch.manual_seed(9)
            out, mask = fn(x, p, training)
            grad_out = special_values(tuple(out.shape), dtype, 3)
            (grad,) = torch.autograd.grad(out, leaf, grad_out)
            outs.append((out, mask, grad, torch.random.get_rng_state()))
        (out_t, mask_t, grad_t, state_t), (out_o, mask_o, grad_o, state_o) = outs
        assert same_bits(out_o, out_t), (name, bit_differences(out_o, out_t))
        assert same_bits(mask_o, mask_t), name
        assert same_bits(grad_o, grad_t), (name, bit_differences(grad_o, grad_t))
        assert torch.equal(state_o, state_t), name


# -------------------------------------------------------------------------------------------------
# Documented differences, pinned.
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_native_dropout_backward_rounds_the_scale_differently_from_f_dropout(dtype: torch.dtype) -> None:
    """PyTorch's own two CPU dropouts disagree in half precision: ``native_dropout``'s backward
    multiplies by the scale as a float64 number, ``F.dropout``'s by the scale rounded to the dtype.
    The reference follows each one exactly, so it inherits the difference; this test pins it."""
    x = torch.randn(4096).to(dtype).requires_grad_()
    grad_out = torch.randn(4096).to(dtype)
    torch.manual_seed(2)
    native_grad = torch.autograd.grad(torch.native_dropout(x, 0.1, True)[0], x, grad_out)[0]
    torch.manual_seed(2)
    ours_native_grad = torch.autograd.grad(dropout_with_mask(x, 0.1)[0], x, grad_out)[0]
    torch.manual_seed(2)
    f_grad = torch.autograd.grad(F.dropout(x, 0.1), x, grad_out)[0]
    torch.manual_seed(2)
    ours_grad = torch.autograd.grad(dropout(x, 0.1), x, grad_out)[0]
    assert same_bits(ours_native_grad, native_grad) and same_bits(ours_grad, f_grad)
    assert not same_bits(native_grad, f_grad)
    # the masks agree; only roundings differ, by at most one unit in the last place
    assert torch.equal(native_grad != 0, f_grad != 0)
    ulp = (native_grad.view(torch.int16).int() - f_grad.view(torch.int16).int()).abs()
    assert int(ulp.max()) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_cache_version_is_textbook_arithmetic_not_pytorchs(dtype: torch.dtype) -> None:
    """``dropout_forward`` (the chapter 1 / "masks" assignment version) multiplies by ``m`` and then
    by the scale as a Python float: the same mask as ``F.dropout``, but in half precision survivors can
    be one unit in the last place away. Documented in its docstring and pinned here."""
    x = torch.randn(4096).to(dtype)
    torch.manual_seed(4)
    expected = F.dropout(x, 0.1)
    out, cache = dropout_forward(x, 0.1, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out != 0, expected != 0)
    assert not same_bits(out, expected)
    ulp = (out.view(torch.int16).int() - expected.view(torch.int16).int()).abs()
    assert int(ulp.max()) == 1
    for exact_dtype in (torch.float32, torch.float64):  # where the two roundings coincide
        x = torch.randn(4096, dtype=exact_dtype)
        torch.manual_seed(4)
        expected = F.dropout(x, 0.1)
        out, _ = dropout_forward(x, 0.1, generator=torch.Generator().manual_seed(4))
        assert torch.equal(out, expected)


def test_bits_see_what_torch_equal_does_not() -> None:
    minus, plus = torch.tensor([-0.0]), torch.tensor([0.0])
    assert torch.equal(minus, plus) and not same_bits(minus, plus)
    nan = torch.tensor([float("nan")])
    assert not torch.equal(nan, nan) and same_bits(nan, nan)
    assert "1 of 1 elements differ" in bit_differences(minus, plus)
