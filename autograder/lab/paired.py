"""Paired comparisons over seeds: the mean difference between two configurations and its 95% interval.

Two configurations trained under the same seeds share their initial weights and batch order, so the
per-seed differences ``a[s] - b[s]`` remove most of the seed-to-seed variation that two separate means
would carry. :func:`paired_difference` returns their mean with a Student-t confidence interval
(``n - 1`` degrees of freedom); an interval that contains 0 means the effect is *not distinguishable
from zero* with these seeds, and the chapters say so (:attr:`PairedDifference.verdict`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-seed differences ``a - b`` and its confidence interval ``[low, high]``."""

    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    confidence: float

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely on one side of 0."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """``"higher"``, ``"lower"`` or ``"not distinguishable from zero"`` (for a chapter's prose)."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "not distinguishable from zero"

    def format(self, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
        """``+0.012 [+0.004, +0.020]``; ``scale=100, unit=" pp"`` gives percentage points."""
        m, lo, hi = (value * scale for value in (self.mean, self.low, self.high))
        return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{unit}"

    def __str__(self) -> str:
        return self.format()


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95
) -> PairedDifference:
    """The mean of ``a[i] - b[i]`` with a two-sided Student-t interval at ``confidence``.

    ``a`` and ``b`` are the same seeds' results for two configurations, in the same order.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples need the same seeds: {len(a)} values against {len(b)}")
    if len(a) < 2:
        raise ValueError(f"an interval needs at least two pairs, got {len(a)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    differences = tuple(float(x) - float(y) for x, y in zip(a, b, strict=True))
    if any(math.isnan(d) for d in differences):
        raise ValueError(f"a paired difference of values containing NaN means nothing: {differences}")
    mean = statistics.fmean(differences)
    half = (
        float(stats.t.ppf(0.5 + confidence / 2, len(differences) - 1))
        * statistics.stdev(differences)
        / math.sqrt(len(differences))
    )
    return PairedDifference(differences, float(mean), float(mean - half), float(mean + half), confidence)


def mean_interval(values: Sequence[float], *, confidence: float = 0.95) -> PairedDifference:
    """A Student-t interval for the mean of ``values`` itself (a difference from 0)."""
    return paired_difference(values, [0.0] * len(values), confidence=confidence)
