"""Chapter 7's tools: mask enumeration, Wan et al.'s DropConnect inference, locked and time-step dropout.

Every random check runs on a seeded generator, so it is deterministic (no false failures); tolerances are
several standard errors wide for the sample sizes used. About 2 s on two cores.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from autograder.lab.dropconnect_inference import (
    PerExampleDropConnectLinear,
    expected_relu,
    gaussian_moments,
    mc_activation,
    sampled_activation,
)
from autograder.lab.mask_ensemble import all_masks, ensemble_log_probs, kl_divergence, mask_probabilities
from autograder.lab.sequence import LockedDropout, RowLSTM, TimestepDropout
from autograder.reference import WeightDropout


def test_all_masks_and_their_probabilities() -> None:
    masks = all_masks(3)
    assert masks.shape == (8, 3) and len({tuple(row.tolist()) for row in masks}) == 8
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    probs = mask_probabilities(masks, 0.2)
    assert float(probs.sum()) == pytest.approx(1.0)
    assert float(probs[masks.sum(1) == 3]) == pytest.approx(0.8**3)
    with pytest.raises(ValueError, match="1 to 20"):
        all_masks(0)
    with pytest.raises(ValueError, match="p must be"):
        mask_probabilities(masks, 0.0)


@torch.no_grad()
def test_weight_scaling_is_the_geometric_mean_for_softmax_regression_only() -> None:
    torch.manual_seed(0)
    p, n = 0.5, 6
    x = torch.randn(20, n, dtype=torch.float64)
    masks = all_masks(n)
    linear = nn.Linear(n, 4).double()
    arithmetic, geometric = ensemble_log_probs(lambda m: linear(x * m / (1 - p)), masks, p, chunk=7)
    weight_scaling = torch.log_softmax(linear(x), -1)
    assert torch.allclose(geometric, weight_scaling, atol=1e-12)
    brute = sum(
        w * torch.softmax(linear(x * m / (1 - p)), -1)
        for m, w in zip(masks, mask_probabilities(masks, p), strict=True)
    )
    assert torch.allclose(arithmetic.exp(), brute, atol=1e-12)
    assert float(kl_divergence(arithmetic, weight_scaling).mean()) > 1e-6  # not the arithmetic mean

    hidden = nn.Sequential(nn.Linear(n, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    _, geometric_hidden = ensemble_log_probs(lambda m: hidden(x * m / (1 - p)), masks, p)
    assert float((geometric_hidden - torch.log_softmax(hidden(x), -1)).abs().max()) > 1e-4
    assert float(kl_divergence(arithmetic, arithmetic).abs().max()) < 1e-12


@torch.no_grad()
def test_gaussian_moments_match_the_masks_and_expected_relu_matches_sampling() -> None:
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(50, 3).double()
    v = torch.rand(2, 50, generator=generator, dtype=torch.float64)
    p = 0.3
    mean, var = gaussian_moments(layer, v, p)
    masks = (torch.rand(100_000, 3, 50, generator=generator, dtype=torch.float64) >= p).double()
    u = torch.einsum("koi,bi->kbo", masks * layer.weight, v) / (1 - p) + layer.bias
    assert torch.allclose(u.mean(0), mean, atol=4 * float(var.max().sqrt()) / 100_000**0.5)
    assert torch.allclose(u.var(0), var, rtol=0.03)

    m = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    s2 = torch.tensor([1.0, 4.0, 0.25, 0.0], dtype=torch.float64)
    draws = m + torch.randn(400_000, 4, generator=generator, dtype=torch.float64) * s2.sqrt()
    assert torch.allclose(expected_relu(m, s2), torch.relu(draws).mean(0), atol=0.01)
    assert float(expected_relu(m, s2)[3]) == 2.0  # zero variance: relu(mean)
    assert float(expected_relu(m, s2)[0]) > 0.0 > float(m[0])  # Jensen: E[relu(u)] >= relu(E[u])
    sampled = sampled_activation(m, s2, 200_000, generator=generator)
    assert torch.allclose(sampled, expected_relu(m, s2), atol=0.01)
    with pytest.raises(ValueError, match="samples"):
        sampled_activation(m, s2, 0)


def test_per_example_dropconnect_draws_a_mask_per_example() -> None:
    torch.manual_seed(0)
    layer = PerExampleDropConnectLinear(30, 20, p=0.5)
    x = torch.randn(1, 30).expand(4, 30)  # the same example four times
    out = layer(x)
    assert not torch.allclose(out[0], out[1])  # shared masks would give identical rows
    out.sum().backward()
    assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0
    layer.eval()
    assert torch.equal(layer(x), nn.functional.linear(x, layer.weight, layer.bias))
    with pytest.raises(ValueError, match="batch, features"):
        layer.train()(torch.randn(2, 3, 30))
    v = torch.rand(5, 30)
    mc = mc_activation(layer, v, 0.5, samples=8, chunk=3)
    assert mc.shape == (5, 20) and float(mc.min()) >= 0


def test_locked_and_timestep_dropout_masks() -> None:
    torch.manual_seed(0)
    x = torch.ones(8, 5, 12)
    locked = LockedDropout(0.5)(x)
    assert all(torch.equal(locked[:, 0], locked[:, t]) for t in range(5))  # one mask per sequence
    assert set(locked.unique().tolist()) == {0.0, 2.0}
    steps = TimestepDropout(0.5)(x)
    per_step = steps.amax(dim=2)
    assert torch.equal(steps, per_step.unsqueeze(2).expand_as(steps))  # whole steps kept or zeroed
    assert {0.0, 2.0} == set(per_step.unique().tolist())
    for layer in (LockedDropout(0.5), TimestepDropout(0.5)):
        assert torch.equal(layer.eval()(x), x)
        with pytest.raises(ValueError, match="batch, time, features"):
            layer.train()(torch.ones(3, 4))


def test_row_lstm_builds_every_variant() -> None:
    torch.manual_seed(0)
    images = torch.rand(3, 1, 28, 28)
    variants: list[dict[str, Any]] = [
        {"weight_p": 0.3},
        {"weight_p": 0.3, "how": "parametrize"},
        {"input_p": 0.2, "input_mode": "naive"},
        {"input_p": 0.2, "timestep_p": 0.2, "output_p": 0.2},
    ]
    for kwargs in variants:
        model = RowLSTM(**kwargs)
        assert model(images).shape == (3, 10)
    assert isinstance(RowLSTM(weight_p=0.3).lstm, WeightDropout)
    with pytest.raises(ValueError, match="divide"):
        RowLSTM(steps=5)
    with pytest.raises(ValueError, match="input_mode"):
        RowLSTM(input_mode="sometimes")  # type: ignore[arg-type]
