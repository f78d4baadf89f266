"""Seed sweeps and spreads (autograder.lab.experiments) on a tiny synthetic dataset, plus the weight-dropout
train/eval/train regression that chapter 5's LSTM runs exposed."""

from __future__ import annotations

import statistics

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from autograder.lab.data import CourseData
from autograder.lab.experiments import markdown_table, run_seeds, spread, train_tracked
from autograder.lab.models import MLP
from autograder.lab.training import evaluate
from autograder.reference import WeightDropout


@pytest.fixture(scope="module")
def tiny() -> CourseData:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(96, 1, 28, 28, generator=generator)
    labels = torch.arange(96) % 10
    images[torch.arange(96), 0, labels, labels] = 3.0  # a learnable marker per class
    data = TensorDataset(images, labels)
    return CourseData("tiny synthetic", data, data, tuple(map(str, range(10))), "test", False)


def test_spread_statistics() -> None:
    s = spread([0.8, 0.9, 1.0])
    assert s.mean == pytest.approx(0.9) and s.std == pytest.approx(statistics.stdev([0.8, 0.9, 1.0]))
    assert (s.low, s.high, s.n) == (0.8, 1.0, 3)
    assert str(s) == "0.900 ± 0.100"
    assert spread([0.5]).std == 0.0
    with pytest.raises(ValueError):
        spread([])
    with pytest.raises(ValueError):
        spread([0.1, float("nan")])


def test_markdown_table() -> None:
    table = markdown_table(["p", "accuracy"], [[0.5, spread([0.8, 0.9, 1.0])], ["a|b", 1]])
    assert table.splitlines() == [
        "| p | accuracy |", "| --- | --- |", "| 0.5 | 0.900 ± 0.100 |", "| a\\|b | 1 |"
    ]
    with pytest.raises(ValueError):
        markdown_table(["one"], [[1, 2]])


def test_run_seeds_is_reproducible_and_seeds_differ(tiny: CourseData) -> None:
    def build() -> nn.Module:
        return MLP(hidden=(16, 16), dropout=(0.2, 0.2))

    first = run_seeds(build, tiny, seeds=(0, 1), epochs=2, device="cpu")
    again = run_seeds(build, tiny, seeds=(0, 1), epochs=2, device="cpu")
    assert first.curves("train_loss") == again.curves("train_loss")
    assert first.curves("train_loss")[0] != first.curves("train_loss")[1]
    assert first.final("test_accuracy").n == 2 and first.dataset == "tiny synthetic"
    assert len(first.mean_curve("train_loss")) == 2
    assert len(first.models) == 2 and first.models[0] is not first.models[1]


def test_train_tracked_calls_the_probe_every_epoch(tiny: CourseData) -> None:
    torch.manual_seed(0)
    model = MLP(hidden=(32, 32), dropout=(0.0, 0.0))
    calls: list[bool] = []

    def probe(m: nn.Module) -> dict[str, float]:
        calls.append(m.training)
        return {"train_eval_accuracy": evaluate(m, tiny.train)}

    history, records = train_tracked(model, tiny, epochs=3, seed=5, probe=probe, device="cpu", lr=0.5)
    assert [e.epoch for e in history.epochs] == [1, 2, 3]
    assert len(records) == 3 and calls == [True, True, True]
    assert [r["epoch"] for r in records] == [1.0, 2.0, 3.0]
    assert history.final.train_loss < history.epochs[0].train_loss  # it trains across the calls
    runs = run_seeds(lambda: MLP(hidden=(8, 8)), tiny, seeds=(0,), epochs=2, probe=probe, device="cpu")
    assert runs.curves("train_eval_accuracy")[0] == [r["train_eval_accuracy"] for r in runs.probes[0]]
    assert len(runs.curves("test_accuracy")[0]) == 2
    calls.clear()
    history, records = train_tracked(model, tiny, epochs=5, seed=0, probe=probe, probe_every=2, device="cpu")
    assert [r["epoch"] for r in records] == [2.0, 4.0, 5.0] and len(calls) == 3
    assert [e.epoch for e in history.epochs] == [1, 2, 3, 4, 5]


def test_weight_dropout_survives_eval_then_train() -> None:
    torch.manual_seed(0)
    wrapper = WeightDropout(nn.LSTM(3, 5, batch_first=True), 0.5, ["weight_hh_l0"])
    x = torch.randn(2, 4, 3)
    wrapper.eval()(x)
    assert "weight_hh_l0" not in dict(wrapper.module.named_parameters(recurse=False))
    out, _ = wrapper.train()(x)  # failed with "cannot assign ... as parameter" before the fix
    out.sum().backward()
    assert wrapper.weight_hh_l0_raw.grad is not None and wrapper.weight_hh_l0_raw.grad.abs().sum() > 0
