"""What Monte Carlo dropout's passes say about a prediction: entropy, mutual information, OOD scores.

Chapter 6 asks whether the spread of MC dropout's passes means something. For a classifier, T
stochastic passes give T probability vectors per input. Their average is the predictive distribution;
its entropy (the *total* uncertainty) splits into the average entropy of the single passes (the
*expected* entropy: what every sub-network finds ambiguous) plus the *mutual information* between the
prediction and the dropped weights (how much the sub-networks disagree; Houlsby et al. 2011 call it
BALD, Gal et al. 2017 use it for active learning):

    H[mean_t p_t] = mean_t H[p_t] + MI,   MI >= 0.

:func:`mc_classify` computes the three from one set of passes (through the reference
:func:`~autograder.reference.mc_predict`, so batch norm and friends stay in evaluation mode), and
:func:`ood_auroc` measures how well a score separates in-distribution from out-of-distribution inputs:
the probability that a random out-of-distribution input scores higher than a random in-distribution one
(the area under the ROC curve, from the Mann-Whitney U statistic; 0.5 is chance, 1 is perfect).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy import stats
from torch import nn

from autograder.reference import mc_predict


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of ``probabilities`` (``(N, classes)``, rows summing to 1)."""
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must have shape (N, classes), got {tuple(probabilities.shape)}")
    if probabilities.numel() and (float(probabilities.min()) < 0 or float(probabilities.max()) > 1):
        raise ValueError("probabilities must lie in [0, 1]: pass softmax outputs, not logits")
    return -torch.special.xlogy(probabilities, probabilities).sum(dim=1)


@dataclass(frozen=True)
class MCClassification:
    """Per-input uncertainty from T stochastic passes of a classifier (all ``(N,)`` except ``probs``)."""

    probs: torch.Tensor  # (N, classes): the passes' mean probabilities, the predictive distribution
    total: torch.Tensor  # entropy of ``probs``
    expected: torch.Tensor  # mean over passes of each pass's entropy
    samples: int

    @property
    def mutual_information(self) -> torch.Tensor:
        """``total - expected``: the sub-networks' disagreement (clamped at 0 against rounding)."""
        return (self.total - self.expected).clamp_min(0.0)


def mc_classify(model: nn.Module, x: torch.Tensor, samples: int) -> MCClassification:
    """Run ``samples`` MC dropout passes of a classifier that returns logits; summarise them.

    One set of passes gives both the mean probabilities and the mean per-pass entropy: each pass's
    softmax is returned with its entropy appended as one more column, and the passes are averaged.
    """
    def with_entropy(logits: torch.Tensor) -> torch.Tensor:
        probs = logits.softmax(dim=-1)
        return torch.cat([probs, entropy(probs).unsqueeze(-1)], dim=-1)

    summary = mc_predict(model, x, samples, transform=with_entropy).mean
    probs = summary[:, :-1]
    return MCClassification(probs=probs, total=entropy(probs), expected=summary[:, -1], samples=samples)


def ood_auroc(in_distribution: torch.Tensor, out_of_distribution: torch.Tensor) -> float:
    """P(score_out > score_in) + P(tie) / 2 for random pairs: the AUROC of the score as an OOD detector."""
    a = torch.as_tensor(out_of_distribution).detach().flatten().cpu().double()
    b = torch.as_tensor(in_distribution).detach().flatten().cpu().double()
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("both sets of scores must be non-empty")
    if torch.isnan(a).any() or torch.isnan(b).any():
        raise ValueError("scores must not contain NaN")
    u = stats.mannwhitneyu(a.numpy(), b.numpy(), alternative="two-sided").statistic
    return float(u) / (a.numel() * b.numel())
