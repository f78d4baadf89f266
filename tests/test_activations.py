"""Forward-hook activation moments (autograder.lab.activations) against moments computed directly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.lab.activations import ActivationMoments, activation_moments
from autograder.reference import Dropout


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), Dropout(0.5), nn.Linear(16, 4))


def test_moments_match_the_outputs_computed_directly() -> None:
    model = _model()
    x = torch.randn(64, 8)
    with ActivationMoments({"relu": model[1], "out": model[3]}) as recorder:
        model.eval()(x)
    with torch.no_grad():
        relu_out = torch.relu(model[0](x)).double()
    moments = recorder.moments()
    assert moments["relu"].count == relu_out.numel()
    assert moments["relu"].mean == pytest.approx(float(relu_out.mean()), rel=1e-6)
    assert moments["relu"].variance == pytest.approx(float(relu_out.var(correction=0)), rel=1e-5)
    assert moments["out"].count == 64 * 4


def test_moments_pool_over_several_passes() -> None:
    model = _model().eval()
    a, b = torch.randn(10, 8), 3 + torch.randn(30, 8)
    with ActivationMoments({"lin": model[0]}) as recorder:
        model(a)
        model(b)
    with torch.no_grad():
        both = model[0](torch.cat([a, b])).double()
    assert recorder.moments()["lin"].variance == pytest.approx(float(both.var(correction=0)), rel=1e-6)


def test_hooks_are_removed_after_the_block() -> None:
    model = _model()
    with ActivationMoments({"relu": model[1]}) as recorder:
        model(torch.randn(4, 8))
    count = recorder.moments()["relu"].count
    model(torch.randn(4, 8))
    assert recorder.moments()["relu"].count == count
    assert not model[1]._forward_hooks


def test_dropout_in_training_mode_raises_the_variance_and_keeps_the_mean() -> None:
    model = _model()
    x = torch.randn(4096, 8)
    evaluation = activation_moments(model, x, {"drop": model[2]}, training=False)["drop"]
    training = activation_moments(model, x, {"drop": model[2]}, training=True)["drop"]
    assert model.training  # the model's own mode is restored
    assert training.mean == pytest.approx(evaluation.mean, rel=0.05)
    # E[y^2] doubles at p = 0.5, so the variance rises by at least the old second moment
    assert training.variance > evaluation.variance + 0.9 * (evaluation.variance + evaluation.mean**2)


def test_nothing_recorded_is_an_error() -> None:
    recorder = ActivationMoments({"relu": _model()[1]})
    with pytest.raises(ValueError, match="no output was recorded"):
        recorder.moments()
