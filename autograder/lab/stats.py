"""Exact binomial acceptance intervals for testing random layers without flaky tests.

A test of a random layer counts something (kept elements, agreeing mask entries, ...) whose
distribution under a *correct* implementation is Binomial(n, q). It passes when the count falls in an
interval whose probability mass under that distribution is at least ``1 - false_failure_rate``. The
interval is computed from the exact binomial CDF (no normal approximation), and the exact probability
that a correct implementation falls outside it is reported with the result, so a test suite or a
grader can add up its false-failure rate honestly (chapter 8, for instructors).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class BinomialInterval:
    """Accept counts in ``[low, high]``; ``false_failure_rate`` is P(outside) under Binomial(n, q)."""

    n: int
    q: float
    low: int
    high: int
    false_failure_rate: float

    def contains(self, count: int) -> bool:
        return self.low <= count <= self.high

    def describe(self, count: int) -> str:
        """One line for a failure message: what was expected and what was found."""
        return (
            f"expected between {self.low} and {self.high} of {self.n} "
            f"(about {self.q:.4g} of them), found {count}"
        )


def binomial_interval(n: int, q: float, false_failure_rate: float = 1e-10) -> BinomialInterval:
    """The shortest-tailed two-sided interval with P(X < low) + P(X > high) <= ``false_failure_rate``.

    Each tail gets half the budget. ``q`` of 0 or 1 gives the degenerate interval (exactly 0 or n).
    """
    if n < 0:
        raise ValueError(f"n must be a non-negative count, got {n}")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be a probability in [0, 1], got {q}")
    if not 0.0 < false_failure_rate < 1.0:
        raise ValueError(f"false_failure_rate must be in (0, 1), got {false_failure_rate}")
    if q in (0.0, 1.0):
        k = round(q * n)
        return BinomialInterval(n, q, k, k, 0.0)
    dist = stats.binom(n, q)
    tail = false_failure_rate / 2
    low = int(dist.ppf(tail))  # smallest k with P(X <= k) >= tail, so P(X < low) <= tail
    while low > 0 and dist.cdf(low - 1) > tail:
        low -= 1
    high = int(dist.isf(tail))
    while high < n and dist.sf(high) > tail:  # P(X > high) must be <= tail
        high += 1
    rate = float(dist.cdf(low - 1) + dist.sf(high)) if low > 0 else float(dist.sf(high))
    return BinomialInterval(n, q, low, high, rate)


def upper_bound(n: int, q: float, false_failure_rate: float = 1e-10) -> BinomialInterval:
    """A one-sided interval ``[0, high]`` with P(X > high) <= ``false_failure_rate``."""
    if q >= 1.0:
        return BinomialInterval(n, q, 0, n, 0.0)
    dist = stats.binom(n, q)
    high = int(dist.isf(false_failure_rate))
    while high < n and dist.sf(high) > false_failure_rate:
        high += 1
    return BinomialInterval(n, q, 0, high, float(dist.sf(high)))
