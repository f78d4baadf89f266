"""Chapter 6's uncertainty tools: entropy, MC classification summaries, OOD AUROC, the gap regression and
the out-of-distribution sets. All deterministic (fixed seeds) or exact; about 2 s in all."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from autograder.lab import gap_regression
from autograder.lab.data import DIGIT_CLASSES, CourseData
from autograder.lab.ood import hold_out_classes, natural_patches
from autograder.lab.uncertainty import entropy, mc_classify, ood_auroc
from autograder.reference import Dropout


def test_entropy_of_known_distributions() -> None:
    probs = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    assert torch.allclose(entropy(probs), torch.tensor([0.0, math.log(4), math.log(2)]))


@pytest.mark.parametrize("bad", [torch.tensor([0.5, 0.5]), torch.tensor([[1.5, -0.5]])])
def test_entropy_refuses_bad_input(bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="probabilities"):
        entropy(bad)


def test_mc_classify_decomposes_entropy_exactly() -> None:
    """total = expected + MI, with MI >= 0; checked against passes recomputed by hand from one seed."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), Dropout(0.5), nn.Linear(32, 4))
    x = torch.randn(64, 5)
    torch.manual_seed(1)
    result = mc_classify(model, x, 20)
    torch.manual_seed(1)
    model.train()
    with torch.no_grad():
        passes = torch.stack([model(x).softmax(-1) for _ in range(20)])
    assert torch.allclose(result.probs, passes.mean(0), atol=1e-6)
    assert torch.allclose(result.expected, entropy(passes.reshape(-1, 4)).reshape(20, 64).mean(0), atol=1e-5)
    assert torch.allclose(result.total, result.expected + result.mutual_information, atol=1e-5)
    assert (result.mutual_information >= 0).all() and float(result.mutual_information.mean()) > 0.01
    assert result.samples == 20


def test_mc_classify_without_dropout_is_refused() -> None:
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_classify(nn.Linear(3, 2), torch.randn(4, 3), 5)


def test_mutual_information_is_zero_when_passes_agree() -> None:
    """p = 0 dropout: every pass is the same network, so the sub-networks never disagree."""
    model = nn.Sequential(nn.Linear(3, 8), Dropout(0.0), nn.Linear(8, 3))
    result = mc_classify(model, torch.randn(10, 3), 7)
    assert torch.allclose(result.mutual_information, torch.zeros(10), atol=1e-6)


def test_ood_auroc_exact_values() -> None:
    assert ood_auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert ood_auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert ood_auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5  # ties count half
    # one of the four pairs is ordered the wrong way: 3 / 4
    assert ood_auroc(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 3.0])) == 0.75
    with pytest.raises(ValueError, match="non-empty"):
        ood_auroc(torch.tensor([]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="NaN"):
        ood_auroc(torch.tensor([float("nan")]), torch.tensor([1.0]))


def test_gap_regression_sample_and_regions() -> None:
    x, y = gap_regression.sample(100, 0.0, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (100, 1)
    assert set(gap_regression.region(x)) == {"data"}
    assert torch.allclose(y, gap_regression.truth(x))
    assert int((x < 0).sum()) == 50
    assert gap_regression.region(torch.tensor([[-3.0], [-0.5], [0.0], [3.5], [-6.0], [1.0]])) == [
        "data", "gap", "gap", "beyond", "beyond", "data"]
    with pytest.raises(ValueError, match="n must be"):
        gap_regression.sample(1)
    with pytest.raises(ValueError, match="noise"):
        gap_regression.sample(10, float("nan"))


def test_gap_regression_summary_by_region() -> None:
    grid = torch.tensor([[-2.0], [0.0], [4.0], [5.0]])
    truth = gap_regression.truth(grid)
    mean = truth + torch.tensor([[0.1], [0.0], [1.0], [3.0]])
    std = torch.tensor([[0.1], [0.2], [1.0], [1.0]])
    summary = gap_regression.by_region(grid, mean, std)
    assert summary["data"].points == 1 and summary["data"].coverage == 1.0
    assert summary["gap"].rmse == pytest.approx(0.0, abs=1e-6) and summary["gap"].spread == pytest.approx(0.2)
    assert summary["beyond"].points == 2 and summary["beyond"].coverage == 0.5
    assert summary["beyond"].rmse == pytest.approx(math.sqrt((1 + 9) / 2), rel=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        gap_regression.by_region(grid, mean[:2], std)


def test_gap_regression_fit_learns_the_data() -> None:
    x, y = gap_regression.sample(60, 0.05, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    losses = gap_regression.fit(net, x, y, steps=300, lr=1e-2)
    assert len(losses) == 300 and losses[-1] < 0.1 * losses[0]


def _toy_data() -> CourseData:
    images = torch.rand(40, 1, 28, 28)
    labels = torch.arange(40) % 10
    return CourseData(name="toy", train=TensorDataset(images, labels), test=TensorDataset(images, labels),
                      classes=DIGIT_CLASSES, source="test", is_fallback=True)


def test_hold_out_classes() -> None:
    known, held = hold_out_classes(_toy_data(), 8)
    assert set(known.train.tensors[1].tolist()) == set(range(8))
    assert set(known.test.tensors[1].tolist()) == set(range(8))
    assert len(held) == 8 and known.classes == DIGIT_CLASSES[:8]
    assert "held out: 8, 9" in known.name
    for bad in (1, 10, True, 2.5):
        with pytest.raises(ValueError, match="known"):
            hold_out_classes(_toy_data(), bad)  # type: ignore[arg-type]


def test_natural_patches_are_reproducible_grey_images() -> None:
    a = natural_patches(16, generator=torch.Generator().manual_seed(0))
    b = natural_patches(16, generator=torch.Generator().manual_seed(0))
    assert a.shape == (16, 1, 28, 28) and torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert float(a.flatten(1).std(1).min()) > 0.0  # texture, not blank
    with pytest.raises(ValueError, match="n must be"):
        natural_patches(0)
