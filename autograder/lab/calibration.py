"""Calibration of a classifier's probabilities: reliability-diagram bins and expected calibration error.

A classifier is *calibrated* when, among the examples it labels with confidence 0.8, about 80 % are
right. The reliability diagram bins the examples by their confidence (the largest predicted
probability) and plots each bin's accuracy against its mean confidence; the expected calibration error
(ECE, Naeini et al., 2015; Guo et al., 2017) is the average gap between the two, weighted by how many
examples fall in each bin:

    ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|.

Chapter 6 uses both to ask whether averaging Monte Carlo dropout passes gives better-calibrated
probabilities than one deterministic pass. Bins are equal-width on [0, 1] and right-closed,
``(lo, hi]``, with a confidence of exactly 0 counted in the first bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of a reliability diagram; empty bins have count 0 and NaN means."""

    edges: torch.Tensor  # (n_bins + 1,) from 0 to 1
    count: torch.Tensor  # (n_bins,) examples per bin, int64
    confidence: torch.Tensor  # (n_bins,) mean confidence of the bin's examples
    accuracy: torch.Tensor  # (n_bins,) fraction of the bin's examples predicted correctly

    @property
    def n_bins(self) -> int:
        return int(self.count.numel())

    def expected_calibration_error(self) -> float:
        total = int(self.count.sum())
        if total == 0:
            raise ValueError("no examples in any bin")
        filled = self.count > 0
        gaps = (self.accuracy[filled] - self.confidence[filled]).abs()
        return float((self.count[filled].to(torch.float64) * gaps).sum() / total)


def _check(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int) -> None:
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must have shape (N, classes), got {tuple(probabilities.shape)}")
    if labels.shape != probabilities.shape[:1]:
        raise ValueError(
            f"labels must have shape (N,) = {tuple(probabilities.shape[:1])}, got {tuple(labels.shape)}"
        )
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if probabilities.numel() and (float(probabilities.min()) < 0 or float(probabilities.max()) > 1):
        raise ValueError("probabilities must lie in [0, 1]: pass softmax outputs, not logits")


def reliability_bins(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int = 10) -> ReliabilityBins:
    """Bin examples by confidence (max probability) and measure each bin's accuracy.

    Args:
        probabilities: ``(N, classes)`` predicted probabilities (rows summing to 1).
        labels: ``(N,)`` true class indices.
        n_bins: number of equal-width confidence bins on [0, 1].
    """
    _check(probabilities, labels, n_bins)
    probabilities = probabilities.detach().to(torch.float64).cpu()
    labels = labels.detach().cpu()
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).to(torch.float64)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    index = torch.bucketize(confidence, edges[1:-1], right=False)  # (lo, hi]; 0 goes to bin 0
    count = torch.bincount(index, minlength=n_bins)
    safe = count.clamp(min=1).to(torch.float64)
    mean_confidence = torch.bincount(index, weights=confidence, minlength=n_bins) / safe
    accuracy = torch.bincount(index, weights=correct, minlength=n_bins) / safe
    empty = count == 0
    mean_confidence[empty] = float("nan")
    accuracy[empty] = float("nan")
    return ReliabilityBins(edges=edges, count=count, confidence=mean_confidence, accuracy=accuracy)


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int = 10) -> float:
    """ECE: the count-weighted mean of |accuracy - confidence| over the confidence bins."""
    return reliability_bins(probabilities, labels, n_bins).expected_calibration_error()
