"""What every check is built from: the failure type, captured torch functions, the statistical test.

While grading, checks run in the judge's process, which never runs student code. When a student runs
a visible test in their own notebook the checks share the process with their code, which can replace
``torch.equal``, ``Tensor.__eq__`` and friends; everything a check *decides* with therefore goes
through :data:`T`, a namespace of the genuine torch functions captured when this module was first
imported.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from autograder.lab.stats import BinomialInterval, binomial_interval

F = TypeVar("F", bound=Callable[..., Any])

#: The false-failure budget of one binomial interval. A check that evaluates k intervals states
#: k times this (a union bound); the assignments' totals are listed by :func:`false_failure_rates`.
INTERVAL_RATE = 1e-10


class CheckFailed(AssertionError):
    """A check's verdict: the message says what was expected and what was found."""


def _captured() -> types.SimpleNamespace:
    base = torch._C.TensorBase
    return types.SimpleNamespace(
        equal=torch.equal,
        allclose=torch.allclose,
        eq=torch.eq,
        ne=torch.ne,
        lt=torch.lt,
        mul=torch.mul,
        sub=torch.sub,
        abs=torch.abs,
        sum=torch.sum,
        count_nonzero=torch.count_nonzero,
        logical_not=torch.logical_not,
        where=torch.where,
        isfinite=torch.isfinite,
        all=torch.all,
        zeros=torch.zeros,
        ones=torch.ones,
        full=torch.full,
        rand=torch.rand,
        randn=torch.randn,
        arange=torch.arange,
        empty=torch.empty,
        zeros_like=torch.zeros_like,
        clone=torch.clone,
        stack=torch.stack,
        manual_seed=torch.manual_seed,
        get_rng_state=torch.get_rng_state,
        set_rng_state=torch.set_rng_state,
        Generator=torch.Generator,
        Tensor=torch.Tensor,
        item=base.item,
        dtype=base.dtype.__get__,
        device=base.device.__get__,
        shape=base.shape.__get__,
        grad=base.grad.__get__,
        version=base._version.__get__,
        requires_grad=base.requires_grad.__get__,
        is_tensor=torch.is_tensor,
        isinstance=isinstance,
        linear=torch.nn.functional.linear,
        no_grad=torch.no_grad,
        enable_grad=torch.enable_grad,
        autograd_grad=torch.autograd.grad,
        saved_tensors_hooks=torch.autograd.graph.saved_tensors_hooks,
    )


#: The genuine torch functions, captured at import. Checks decide with these, never with ``torch.*``.
T = _captured()


def fail(message: str) -> None:
    """Raise the verdict (a helper so a check reads as ``if ...: fail(...)``)."""
    raise CheckFailed(message)


def count(mask: torch.Tensor) -> int:
    """Number of nonzero (True) entries, computed with the captured functions."""
    return int(T.item(T.count_nonzero(mask)))


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Exact equality of shape and values (captured ``torch.equal``)."""
    return bool(T.equal(a, b))


def close(a: torch.Tensor, b: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Same shape and values within the tolerance, whatever the two dtypes (compared in the wider one:
    ``torch.allclose`` itself raises "Float did not match Double", an error of the grader's comparison
    that no answer should be blamed for; the dtype is the business of the dtype checks)."""
    if T.shape(a) != T.shape(b):
        return False
    if T.dtype(a) != T.dtype(b):
        common = torch.promote_types(T.dtype(a), T.dtype(b))
        a, b = a.to(common), b.to(common)
    return bool(T.allclose(a, b, rtol=rtol, atol=atol))


def is_tensor(value: object) -> bool:
    return bool(T.is_tensor(value))


def describe_tensor(value: object) -> str:
    """A short description for messages: type, shape, dtype, device."""
    if not is_tensor(value):
        return f"{type(value).__name__} {value!r}"[:120]
    return f"tensor of shape {tuple(T.shape(value))}, dtype {T.dtype(value)}, device {T.device(value)}"


def expect_tensor(value: object, what: str) -> torch.Tensor:
    if not is_tensor(value):
        fail(f"{what} should be a torch.Tensor, found {describe_tensor(value)}")
    return value  # type: ignore[return-value]


@functools.lru_cache(maxsize=256)
def interval(n: int, q: float) -> BinomialInterval:
    """The acceptance interval for a Binomial(n, q) count at the per-interval budget (cached)."""
    return binomial_interval(n, q, INTERVAL_RATE)


def binomial(count_: int, n: int, q: float, what: str) -> None:
    """Fail unless ``count_`` is a plausible Binomial(n, q) draw (false-failure rate <= INTERVAL_RATE)."""
    accept = interval(n, q)
    if not accept.contains(count_):
        fail(
            f"{what}: {accept.describe(count_)} (a correct answer lands outside this range with "
            f"probability {accept.false_failure_rate:.1e})"
        )


def agreement_rate(keep: float) -> float:
    """P(two independent Bernoulli(keep) draws agree) = keep^2 + (1 - keep)^2."""
    return keep * keep + (1.0 - keep) * (1.0 - keep)


@dataclass(frozen=True)
class CheckInfo:
    """What the instructor page and the self-check know about a check."""

    name: str
    assignment: str
    part: str  # the student object it grades, e.g. "dropout_forward"
    summary: str
    intervals: int  # binomial intervals evaluated per run (0: exact check)
    builtin_allowed: bool = False  # the answer may use built-in dropout (the practice assignment)

    @property
    def statistical(self) -> bool:
        return self.intervals > 0

    @property
    def false_failure_rate(self) -> float:
        """Union bound over the intervals it evaluates (0 for an exact check)."""
        return self.intervals * INTERVAL_RATE


#: Every check, by qualified name ("masks.check_keep_rate").
REGISTRY: dict[str, CheckInfo] = {}
#: The undecorated body of every check (no from-scratch guard): how the self-check runs the reference.
BODIES: dict[str, Callable[..., None]] = {}
#: The undecorated body of every statistical check, for the self-check's many-seed runs.
STATISTICAL_BODIES: dict[str, Callable[..., None]] = {}


def seed_for(name: str) -> int:
    """A fixed seed per check, so regrading the same answer gives the same verdict."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % (2**31)


def false_failure_rates() -> dict[str, float]:
    """Per assignment: the union bound over all its statistical checks' false-failure rates."""
    totals: dict[str, float] = {}
    for info in REGISTRY.values():
        totals[info.assignment] = totals.get(info.assignment, 0.0) + info.false_failure_rate
    return totals


def ceil_log10(rate: float) -> int:
    return math.ceil(math.log10(rate)) if rate > 0 else -99
