"""PyTorch's own dropout tests, re-expressed against the reference.

The source is PyTorch's ``test/nn/test_dropout.py`` (``TestDropoutNN`` and ``TestDropoutNNDeviceType``;
these tests used to live in ``test/test_nn.py`` and moved there) and the dropout entries of the module
tests ``test/test_nn.py`` generates from ``common_nn.py`` (gradient checks with the random state frozen,
and "no batch dim" inputs). Each upstream test has a test here with the same name and intent, run
against the reference layers; where PyTorch compares values loosely, these compare the reference with
PyTorch itself bit for bit under the same seed, which is stronger. Not re-expressed: the CUDA, XLA
and PrivateUse1 variants (no such device here) and the dynamo strict-mode decoration.

Randomness: every draw comes from a fixed seed, so each test is deterministic, and the bitwise
comparison with PyTorch is the real check. For an arbitrary seed the bounds kept from upstream would
fail a correct layer with these probabilities: the keep counts (exact binomial intervals) 1e-10 each;
"nothing dropped at p = 1e-10" below 1e-8; the alpha-dropout mean and std within 0.1, which is 4 to 7
standard deviations, below 1e-4 (normal approximation, the 1,000-unit feature case being the widest).
About 20 s on the 2-core build machine under heavy load.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.lab.stats import binomial_interval
from autograder.reference import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    DropoutShapeError,
    FeatureAlphaDropout,
    dropout,
    dropout_with_mask,
)
from autograder.reference.bits import same_bits

RATE = 1e-10


@contextmanager
def frozen_rng() -> Iterator[None]:
    """Run a block and put the global CPU generator back where it was (upstream's freeze_rng_state)."""
    state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


# -------------------------------------------------------------------------------------------------
# TestDropoutNN
# -------------------------------------------------------------------------------------------------
def _alpha_dropout_keeps_mean_and_std(
    ours: type[nn.Module], theirs: type[nn.Module], x: torch.Tensor
) -> None:
    # Upstream: for p in 0.2, 0.5, 0.8 the output's mean and std stay within 0.1 of the input's, and
    # backward runs. Here also: the same bits as PyTorch's layer under the same seed. The standard
    # deviation of the output mean is about 0.014 for 5,000 independent units and 0.025 for the
    # 1,000 channels of the feature case (each dropped channel moves 256 outputs together).
    mean, std = x.mean(), x.std()
    for p in (0.2, 0.5, 0.8):
        x_ours = x.detach().clone().requires_grad_()
        x_theirs = x.detach().clone().requires_grad_()
        torch.manual_seed(int(p * 10))
        out = ours(p)(x_ours)
        torch.manual_seed(int(p * 10))
        expected = theirs(p)(x_theirs)
        assert same_bits(out, expected)
        assert abs(float(out.detach().mean() - mean)) < 0.1
        assert abs(float(out.detach().std() - std)) < 0.1
        out.backward(x)
        expected.backward(x)
        assert same_bits(x_ours.grad, x_theirs.grad)


def test_AlphaDropout() -> None:
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    _alpha_dropout_keeps_mean_and_std(AlphaDropout, nn.AlphaDropout, x)


def test_FeatureAlphaDropout() -> None:
    x = torch.randn(1000, 3, 2, 4, 5, generator=torch.Generator().manual_seed(1))
    _alpha_dropout_keeps_mean_and_std(FeatureAlphaDropout, nn.FeatureAlphaDropout, x)
    # upstream's "no batch dims" input: (C, D, H, W) is dropped per (dim 0, dim 1) like any other
    x = torch.randn(50, 20, 16, 16, generator=torch.Generator().manual_seed(2))
    _alpha_dropout_keeps_mean_and_std(FeatureAlphaDropout, nn.FeatureAlphaDropout, x)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("p", [0.0, 1.0])
def test_native_dropout_corner_case(p: float, train: bool) -> None:
    # Upstream (CUDA and CPU): native_dropout and dropout agree at p = 0 and p = 1, with and without
    # training, outputs and gradients. Here on the CPU, bit for bit, for the reference's pair.
    x = torch.randn(5, generator=torch.Generator().manual_seed(3)).requires_grad_()
    x_ref = x.detach().requires_grad_()
    out = dropout_with_mask(x, p, train)[0]
    out_ref = dropout(x_ref, p, train)
    out.sum().backward()
    out_ref.sum().backward()
    assert same_bits(out, out_ref)
    assert same_bits(x.grad, x_ref.grad)


def test_invalid_dropout_p() -> None:
    v = torch.ones(1)
    for cls in (Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout):
        for bad in (-0.1, 1.1):
            with pytest.raises(ValueError, match="has to be in"):
                cls(bad)
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError, match="has to be in"):
            dropout(v, bad)


# -------------------------------------------------------------------------------------------------
# TestDropoutNNDeviceType (on the CPU)
# -------------------------------------------------------------------------------------------------
def _check_dropout(
    cls: Callable[..., nn.Module],
    x: torch.Tensor,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> None:
    # Upstream: inputs filled with 1 - p give outputs of mean ~1 - p (within 0.05), the layout is kept
    # for the output and the gradient, in place works on a non-leaf, eval changes nothing, repr works.
    # Here the mean is checked through the number of kept units with an exact binomial interval.
    p = 0.2
    x = x.fill_(1 - p)
    for inplace in (False, True):
        module = cls(p, inplace)
        leaf = x.clone(memory_format=memory_format).requires_grad_()
        out = module(leaf + 0 if inplace else leaf)
        assert out.is_contiguous(memory_format=memory_format)
        kept = int((out != 0).sum())
        per_unit = 1 if cls is Dropout else x.shape[2:].numel()  # channel dropout keeps whole maps
        assert kept % per_unit == 0, "whole units are kept or dropped"
        interval = binomial_interval(x.numel() // per_unit, 1 - p, RATE)
        assert interval.contains(kept // per_unit), interval.describe(kept // per_unit)
        out.backward(x)
        assert leaf.grad.is_contiguous(memory_format=memory_format)
        assert torch.equal(leaf.grad != 0, out.detach() != 0)
    for inplace in (True, False):
        module = cls(p, inplace).eval()
        assert same_bits(module(x), x)
    assert "p=0.2" in repr(module) and str(module)


def _check_dropout_discontiguous(cls: Callable[..., nn.Module], memory_format: torch.memory_format) -> None:
    # Upstream (PyTorch issue #47176): at p = 0 and p = 1e-10 the output equals the input, and for
    # p != 0 it is contiguous in the input's memory format. P(any of 54 units dropped at 1e-10) < 1e-8.
    for p in (0.0, 1e-10):
        x = torch.ones(2, 3, 3, 3)
        discontiguous = torch.empty(2, 3, 3, 6, memory_format=memory_format)[..., ::2]
        discontiguous.copy_(x)
        out = cls(p)(discontiguous)
        if p != 0:
            assert out.is_contiguous(memory_format=memory_format)
        assert same_bits(out, discontiguous)


def _check_dropout_stride_and_mean(cls: Callable[..., nn.Module]) -> None:
    # Upstream: for every permutation of the dims and every shift, the output is laid out like the
    # input, its mean is near 1, and only p = 1e-10 leaves the input unchanged. Here: the same
    # layout and the same bits as PyTorch's layer under the same seed.
    x = torch.ones(2, 3, 4, 5)
    for perm in itertools.permutations(range(4)):
        inverse = tuple(perm.index(d) for d in range(4))
        for shift in ((0, 0), (1, 0), (0, 1), (1, 1)):
            permuted = x.permute(perm).contiguous().permute(inverse)[shift[0]:, shift[1]:]
            for p in (1e-10, 0.3, 0.5, 0.7):
                torch.manual_seed(len(perm) + shift[0] + 2 * shift[1])
                out = cls(p)(permuted)
                torch.manual_seed(len(perm) + shift[0] + 2 * shift[1])
                expected = nn.Dropout(p)(permuted)
                assert out.permute(perm).is_contiguous()
                assert same_bits(out, expected)


def test_Dropout() -> None:
    _check_dropout(Dropout, torch.empty(1000))
    _check_dropout_discontiguous(Dropout, torch.contiguous_format)
    _check_dropout_discontiguous(Dropout, torch.channels_last)
    _check_dropout_stride_and_mean(Dropout)
    _check_dropout(Dropout, torch.empty(1000).bfloat16())


def _no_batch_dim_is_a_batch_of_one(layer: nn.Module, x: torch.Tensor) -> None:
    with frozen_rng():
        unbatched = layer(x.clone())
    with frozen_rng():
        batched = layer(x.clone().unsqueeze(0)).squeeze(0)
    assert same_bits(unbatched, batched)


def _whole_channels(layer: nn.Module, x: torch.Tensor) -> None:
    out = layer(x)
    per_channel = (out != 0).flatten(2).sum(-1)
    assert bool(((per_channel == 0) | (per_channel == x.shape[2:].numel())).all())


def test_Dropout1d() -> None:
    torch.manual_seed(10)
    _check_dropout(Dropout1d, torch.empty(12, 13, 14, dtype=torch.float64))
    with pytest.raises(DropoutShapeError, match="received a 4D input"):
        Dropout1d(0.5)(torch.rand(1, 2, 2, 2))
    with pytest.raises(RuntimeError, match="received a 1D input"):  # PyTorch's exception type works too
        Dropout1d(0.5)(torch.rand(2))
    x = torch.rand(50, 2)
    _no_batch_dim_is_a_batch_of_one(Dropout1d(0.5), x)
    _no_batch_dim_is_a_batch_of_one(Dropout1d(0.5, inplace=True), x)
    _whole_channels(Dropout1d(0.5), torch.ones(10, 4, 2))
    _whole_channels(Dropout1d(0.5, inplace=True), torch.ones(10, 4, 2))


def test_Dropout2d() -> None:
    torch.manual_seed(11)
    x = torch.empty(1000, 3, 4, 2)
    _check_dropout(Dropout2d, x)
    _check_dropout(Dropout2d, x, torch.channels_last)
    _check_dropout_discontiguous(Dropout2d, torch.contiguous_format)
    _check_dropout_discontiguous(Dropout2d, torch.channels_last)
    with pytest.warns(UserWarning, match="received a 5-D input"):
        Dropout2d(0.5)(torch.rand(1, 2, 2, 2, 2))
    with pytest.warns(UserWarning, match="received a 2-D input"):
        Dropout2d(0.5)(torch.rand(1, 2))
    with pytest.warns(UserWarning, match="channel-wise 1D dropout behaviour is assumed"):
        Dropout2d(0.5)(torch.rand(1, 2, 2))
    _whole_channels(Dropout2d(0.5), torch.ones(10, 4, 2, 2))
    _whole_channels(Dropout2d(0.5, inplace=True), torch.ones(10, 4, 2, 2))


def test_Dropout3d() -> None:
    torch.manual_seed(12)
    _check_dropout(Dropout3d, torch.empty(1000, 2, 2, 3, 4))
    _check_dropout_discontiguous(Dropout3d, torch.contiguous_format)
    _check_dropout_discontiguous(Dropout3d, torch.channels_last)
    with pytest.warns(UserWarning, match="received a 6-D input"):
        Dropout3d(0.5)(torch.rand(1, 2, 2, 2, 2, 2))
    with pytest.warns(UserWarning, match="received a 3-D input"):
        Dropout3d(0.5)(torch.rand(1, 2, 2))
    x = torch.rand(50, 2, 2, 2)
    _no_batch_dim_is_a_batch_of_one(Dropout3d(0.5), x)
    _no_batch_dim_is_a_batch_of_one(Dropout3d(0.5, inplace=True), x)
    _whole_channels(Dropout3d(0.5), torch.ones(10, 4, 2, 2, 2))
    _whole_channels(Dropout3d(0.5, inplace=True), torch.ones(10, 4, 2, 2, 2))


def test_empty_dropout() -> None:
    x = torch.tensor([])
    out = dropout(x)
    assert out.size() == x.size()


# -------------------------------------------------------------------------------------------------
# test_nn.py's generated module tests for the dropout layers (from common_nn.py)
# -------------------------------------------------------------------------------------------------
MODULES = {
    "Dropout": (lambda: Dropout(0.5), (2, 3, 4)),
    "Dropout1d": (lambda: Dropout1d(0.5), (2, 3, 4)),
    "Dropout2d": (lambda: Dropout2d(0.5), (2, 3, 4, 4)),
    "Dropout3d": (lambda: Dropout3d(0.5), (2, 3, 2, 2, 2)),
    "AlphaDropout": (lambda: AlphaDropout(0.5), (2, 3, 4)),
    "FeatureAlphaDropout": (lambda: FeatureAlphaDropout(0.5), (2, 3, 2, 2, 2)),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_module_gradcheck_and_gradgradcheck_with_frozen_rng(name: str) -> None:
    # Upstream runs gradcheck and gradgradcheck on each layer with the random state frozen, so every
    # evaluation sees the same mask.
    make, shape = MODULES[name]
    layer = make()
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_()

    def frozen(t: torch.Tensor) -> torch.Tensor:
        with frozen_rng():
            return layer(t)

    torch.manual_seed(5)
    assert torch.autograd.gradcheck(frozen, (x,))
    assert torch.autograd.gradgradcheck(frozen, (x,))


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_module_no_batch_dim(name: str) -> None:
    # Upstream's "_no_batch_dim" variants: an unbatched input gives what a batch of one gives.
    # (Dropout2d is excluded upstream too: a 3-D input is read as (N, C, L), see PyTorch issue #77081.)
    make, shape = MODULES[name]
    layer = make()
    x = torch.randn(shape[1:], generator=torch.Generator().manual_seed(6))
    if name == "FeatureAlphaDropout":  # it has no unbatched form: dim 0 is always the batch
        with frozen_rng():
            ours = layer(x)
        assert same_bits(ours, F.feature_alpha_dropout(x, 0.5, True))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the supported ranks warn about nothing
        _no_batch_dim_is_a_batch_of_one(layer, x)


def test_feature_dropout_needs_two_dimensions_only_when_it_draws() -> None:
    # PyTorch checks the rank only on the path that draws a mask; eval, p = 0 and p = 1 pass through.
    x = torch.randn(5)
    with pytest.warns(UserWarning, match="received a 1-D input"):
        assert Dropout2d(0.5).eval()(x) is x
    with pytest.warns(UserWarning), pytest.raises(DropoutShapeError, match="at least 2 dimensions"):
        Dropout2d(0.5)(x)
    assert same_bits(FeatureAlphaDropout(1.0)(x), x * 0)
    assert math.isfinite(float(FeatureAlphaDropout(0.0)(x).sum()))
