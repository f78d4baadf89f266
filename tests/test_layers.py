"""Modules, variants, weight dropout and MC dropout in the reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.lab.stats import binomial_interval
from autograder.reference import (
    AlphaDropout,
    ChannelDropout,
    DropConnectLinear,
    Dropout,
    GaussianDropout,
    WeightDropout,
    alpha_dropout,
    channel_dropout,
    dropout,
    gaussian_dropout,
    mc_predict,
    parametrize_weight_dropout,
)
from autograder.reference.bits import same_bits

FALSE_FAILURE_RATE = 1e-10


def test_dropout_module_honours_train_and_eval(device: torch.device) -> None:
    layer = Dropout(0.5).to(device)
    x = torch.randn(1000, device=device)
    assert not torch.equal(layer(x), x)
    layer.eval()
    assert layer(x) is x
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(Dropout(0.3)))
    model.eval()
    assert not model[1][0].training  # eval() recurses into nested modules
    model.train()
    assert model[1][0].training


def test_modules_take_p_and_inplace_like_torch_nn(device: torch.device) -> None:
    for ours, theirs in ((Dropout, nn.Dropout), (AlphaDropout, nn.AlphaDropout)):
        x = torch.randn(6, 5, device=device)
        layer, reference = ours(0.3, True), theirs(0.3, True)
        assert "inplace=True" in repr(layer) and layer.inplace
        y, y_ref = x.clone(), x.clone()
        torch.manual_seed(1)
        assert layer(y) is y
        assert not torch.equal(y, x), "the input itself was multiplied"
        torch.manual_seed(1)
        out_ref = reference(y_ref)
        if device.type == "cpu":
            assert same_bits(y, out_ref)
        if theirs is nn.AlphaDropout:
            # A documented difference: torch.nn.AlphaDropout (and FeatureAlphaDropout) accept
            # inplace=True and ignore it (their forward calls F.alpha_dropout without it); the
            # reference's layers honour it, as F.alpha_dropout(..., inplace=True) does.
            assert torch.equal(y_ref, x) and out_ref is not y_ref


def test_modules_validate_p_at_construction() -> None:
    for cls in (Dropout, ChannelDropout, AlphaDropout):
        with pytest.raises(ValueError, match="has to be in"):
            cls(1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        GaussianDropout(1.0)
    with pytest.raises(TypeError, match="real number"):
        Dropout("half")  # type: ignore[arg-type]


def test_channel_dropout_matches_torch_and_drops_whole_channels() -> None:
    x = torch.randn(8, 16, 5, 5)
    torch.manual_seed(3)
    expected = F.dropout2d(x, 0.4)
    torch.manual_seed(3)
    actual = channel_dropout(x, 0.4)
    assert same_bits(actual, expected)
    zeroed = (actual == 0).flatten(2)
    assert torch.equal(zeroed.all(-1), zeroed.any(-1)), "a channel is either all dropped or all kept"
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        channel_dropout(torch.randn(5), 0.5)
    assert ChannelDropout(0.5).eval()(x) is x


def test_alpha_dropout_matches_torch_and_keeps_mean_and_variance() -> None:
    x = torch.randn(4, 6, 7)
    torch.manual_seed(4)
    expected = F.alpha_dropout(x, 0.3, True)
    torch.manual_seed(4)
    assert same_bits(alpha_dropout(x, 0.3), expected)
    # On standard-normal input the output keeps mean 0 and variance 1. With n = 1e6 samples the
    # sample mean's standard error is 1e-3; |mean| < 0.01 is a 10-sigma bound (rate < 1e-20),
    # and the variance's standard error is below 3e-3, so |var - 1| < 0.03 is also > 10 sigma.
    z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = alpha_dropout(z, 0.2, generator=torch.Generator().manual_seed(1))
    assert abs(float(out.mean())) < 0.01
    assert abs(float(out.var()) - 1.0) < 0.03


def test_gaussian_dropout_has_mean_one_and_dropout_variance() -> None:
    p = 0.5
    out = gaussian_dropout(torch.ones(1_000_000, dtype=torch.float64), p,
                           generator=torch.Generator().manual_seed(2))  # fmt: skip
    # noise ~ N(1, p/(1-p) = 1): mean's standard error 1e-3, variance's about 1.4e-3; 10-sigma bounds.
    assert abs(float(out.mean()) - 1.0) < 0.01
    assert abs(float(out.var()) - p / (1 - p)) < 0.015
    x = torch.randn(3)
    assert gaussian_dropout(x, 0.5, training=False) is x


def test_dropconnect_linear_drops_weights_in_training_and_uses_full_weights_in_eval(
    device: torch.device,
) -> None:
    torch.manual_seed(0)
    layer = DropConnectLinear(20, 30, p=0.5).to(device)
    x = torch.randn(8, 20, device=device)
    layer.eval()
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    layer.train()
    layer(x).sum().backward()
    dropped = layer.weight.grad == 0
    kept = int((~dropped).sum())
    interval = binomial_interval(layer.weight.numel(), 0.5, FALSE_FAILURE_RATE)
    assert interval.contains(kept), interval.describe(kept)
    # The mask is per weight and shared across the batch: a kept weight's gradient is
    # 2 * sum_b x[b, j] (the scale is 1 / (1 - p) = 2).
    expected = 2 * x.sum(0).expand_as(layer.weight) * (~dropped)
    torch.testing.assert_close(layer.weight.grad, expected)


class DataWeightDropout(WeightDropout):
    """The ``.data`` bug: the dropped copy is computed from a detached tensor."""

    def dropped_weight(self, raw: torch.Tensor) -> torch.Tensor:
        return dropout(raw.data, self.weight_p, self.training, generator=self.generator)


@pytest.mark.parametrize("make", [lambda: nn.LSTM(4, 8), lambda: nn.Linear(4, 8)])
def test_weight_dropout_raw_weight_learns_and_data_version_does_not(make) -> None:
    name = "weight_hh_l0" if isinstance(make(), nn.LSTM) else "weight"
    inputs = torch.randn(5, 2, 4)

    def run(wrapper_cls):
        torch.manual_seed(0)
        wrapper = wrapper_cls(make(), 0.5, [name])
        raw = getattr(wrapper, f"{name}_raw")
        before = raw.detach().clone()
        optimizer = torch.optim.SGD(wrapper.parameters(), lr=0.1)
        out = wrapper(inputs)
        out = out[0] if isinstance(out, tuple) else out
        out.pow(2).sum().backward()
        optimizer.step()
        return raw, before

    raw, before = run(WeightDropout)
    assert raw.grad is not None and int((raw.grad != 0).sum()) > 0
    assert not torch.equal(raw.detach(), before), "the raw weight must change after a step"
    raw, before = run(DataWeightDropout)
    assert raw.grad is None, "computed from .data, the dropped copy is detached: no gradient"
    assert torch.equal(raw.detach(), before), "... and the raw weight never learns"


def test_weight_dropout_uses_raw_weight_in_eval_and_a_fresh_mask_each_training_forward() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 6)
    wrapper = WeightDropout(lstm, 0.5, "weight_hh_l0")
    x = torch.randn(4, 1, 3)
    wrapper.train()
    wrapper(x)
    first = lstm.weight_hh_l0.detach().clone()
    wrapper(x)
    assert not torch.equal(first, lstm.weight_hh_l0.detach())
    wrapper.eval()
    wrapper(x)
    assert torch.equal(lstm.weight_hh_l0.detach(), wrapper.weight_hh_l0_raw.detach())
    with pytest.raises(ValueError, match="no parameter named"):
        WeightDropout(nn.LSTM(3, 6), 0.5, "weight_xx")


def test_parametrized_weight_dropout_sends_gradients_to_the_original() -> None:
    torch.manual_seed(0)
    layer = parametrize_weight_dropout(nn.Linear(6, 5), "weight", p=0.5)
    original = layer.parametrizations.weight.original
    layer(torch.randn(3, 6)).sum().backward()
    assert original.grad is not None and int((original.grad == 0).sum()) > 0
    layer.eval()
    assert torch.equal(layer.weight, original)


def test_mc_predict_samples_dropout_only_and_restores_modes() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), Dropout(0.5), nn.Linear(32, 3))
    model.train()
    model(torch.randn(64, 4))  # give batch norm running statistics
    model.eval()
    x = torch.randn(10, 4)
    prediction = mc_predict(model, x, samples=50, transform=lambda logits: logits.softmax(-1))
    assert prediction.mean.shape == prediction.std.shape == (10, 3)
    assert float(prediction.std.min()) >= 0 and float(prediction.std.max()) > 0
    torch.testing.assert_close(prediction.mean.sum(-1), torch.ones(10))
    assert all(not m.training for m in model.modules()), "modes are restored"
    single = mc_predict(model, x, samples=1)
    assert torch.equal(single.std, torch.zeros_like(single.std))
    # With nn.Dropout too, and batch norm stays in eval mode: its running stats do not move.
    torch_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2)).eval()
    running = torch_model[1].running_mean.clone()
    mc_predict(torch_model, x, samples=5)
    assert torch.equal(torch_model[1].running_mean, running)


@pytest.mark.parametrize("samples", [0, -1, 2.5, True])
def test_mc_predict_rejects_bad_sample_counts(samples: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        mc_predict(nn.Sequential(Dropout(0.5)), torch.randn(2), samples)  # type: ignore[arg-type]


def test_mc_predict_without_dropout_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_predict(nn.Linear(2, 2), torch.randn(1, 2), 3)
