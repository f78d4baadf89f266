"""Expected calibration error and reliability bins (autograder.lab.calibration), on cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from autograder.lab.calibration import expected_calibration_error, reliability_bins


def _two_class(confidence: list[float], correct: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (c, 1 - c) for class 0, with the label 0 where the prediction is correct."""
    conf = torch.tensor(confidence, dtype=torch.float64)
    probabilities = torch.stack([conf, 1 - conf], dim=1)
    labels = torch.tensor([0 if ok else 1 for ok in correct])
    return probabilities, labels


def test_hand_computed_bins_and_ece() -> None:
    # bin (0.5, 0.6]: confidences 0.55, 0.55, 1 of 2 right -> gap |0.5 - 0.55| = 0.05
    # bin (0.9, 1.0]: confidences 0.95, 0.95, 0.95, 0.95, all right -> gap 0.05
    probabilities, labels = _two_class(
        [0.55, 0.55, 0.95, 0.95, 0.95, 0.95], [True, False, True, True, True, True]
    )
    bins = reliability_bins(probabilities, labels, n_bins=10)
    assert bins.count.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 0, 4]
    assert bins.accuracy[5].item() == pytest.approx(0.5)
    assert bins.confidence[9].item() == pytest.approx(0.95)
    assert math.isnan(bins.accuracy[0].item())
    assert expected_calibration_error(probabilities, labels, n_bins=10) == pytest.approx(
        (2 * 0.05 + 4 * 0.05) / 6
    )


def test_overconfident_model_has_ece_equal_to_its_gap() -> None:
    # always 90 % sure, right 60 % of the time: one bin, ECE = 0.3
    probabilities, labels = _two_class([0.9] * 10, [True] * 6 + [False] * 4)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.3)


def test_calibrated_samples_have_small_ece() -> None:
    generator = torch.Generator().manual_seed(0)
    n = 200_000
    confidence = 0.5 + 0.5 * torch.rand(n, generator=generator, dtype=torch.float64)
    correct = torch.rand(n, generator=generator, dtype=torch.float64) < confidence  # right with prob = conf
    probabilities, labels = _two_class(confidence.tolist(), correct.tolist())
    assert expected_calibration_error(probabilities, labels, n_bins=15) < 0.01
    # the same predictions made 20 points more confident than they deserve are far off
    shifted = (probabilities[:, 0] + 0.2).clamp(max=1.0)
    worse = torch.stack([shifted, 1 - shifted], dim=1)
    assert expected_calibration_error(worse, labels, n_bins=15) > 0.1


def test_bin_edges_are_right_closed() -> None:
    probabilities, labels = _two_class([0.6, 0.6000001], [True, True])
    bins = reliability_bins(probabilities, labels, n_bins=5)  # edges 0, .2, .4, .6, .8, 1
    assert bins.count.tolist() == [0, 0, 1, 1, 0]
    assert int(bins.count.sum()) == 2 and bins.edges[-1].item() == 1.0


@pytest.mark.parametrize(
    ("probabilities", "labels", "n_bins"),
    [
        (torch.tensor([0.2, 0.8]), torch.tensor([1]), 10),  # not (N, C)
        (torch.tensor([[0.2, 0.8]]), torch.tensor([1, 0]), 10),  # label count
        (torch.tensor([[2.0, -1.0]]), torch.tensor([0]), 10),  # logits, not probabilities
        (torch.tensor([[0.2, 0.8]]), torch.tensor([1]), 0),
    ],
)
def test_bad_inputs_are_refused(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int) -> None:
    with pytest.raises(ValueError):
        reliability_bins(probabilities, labels, n_bins)
