"""The ``@check`` decorator: registration, from-scratch enforcement and readable failures.

A check body receives the student's objects (functions or classes) by the names the notebook uses
and a ``seed``; it raises :class:`~autograder.checks.core.CheckFailed` with a message saying what was
expected and what was found. The decorator adds, around every body:

1. the source inspection and call-time tracing of :mod:`autograder.checks.scratch` (an answer that
   calls built-in dropout or the reference fails every check of that part, with a message saying why);
2. conversion of any exception the student's code raises into a failure naming the call;
3. a fixed seed per check (so regrading is reproducible) unless one is passed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from . import scratch
from .core import BODIES, REGISTRY, STATISTICAL_BODIES, CheckFailed, CheckInfo, seed_for

_WATCH: ContextVar[scratch.Watch | None] = ContextVar("autograder_checks_watch", default=None)


class StudentError(CheckFailed):
    """The student's code raised where the check expected a result."""


def invoke(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call student code; turn an exception into a failure that names the call."""
    try:
        return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except Exception as error:  # noqa: BLE001 - any student error becomes a readable verdict
        raise StudentError(
            f"{what} should work, but it raised {type(error).__name__}: {str(error)[:300]}"
        ) from error


def trusted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the reference from inside a check without the from-scratch tracer flagging it."""
    watch = _WATCH.get()
    if watch is None:
        return fn(*args, **kwargs)
    with watch.paused():
        return fn(*args, **kwargs)


def _name(obj: object) -> str:
    return getattr(obj, "__name__", type(obj).__name__)


def check(
    assignment: str, summary: str, *, intervals: int = 0, builtin_allowed: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a check. ``intervals``: binomial intervals it evaluates (0 for an exact check)."""

    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        name = f"{assignment}.{body.__name__}"
        parts = [p for p in inspect.signature(body).parameters if p != "seed"]
        REGISTRY[name] = CheckInfo(name, assignment, ", ".join(parts), summary, intervals)
        BODIES[name] = body
        if intervals:
            STATISTICAL_BODIES[name] = body

        @functools.wraps(body)
        def run(*answers: Any, seed: int | None = None) -> None:
            labels = [_name(a) for a in answers]
            reasons: list[str] = []
            for answer in answers:
                reasons += scratch.source_violations(answer, builtin_allowed=builtin_allowed)
            if reasons:
                raise CheckFailed(scratch.verdict(labels, reasons))
            failure: CheckFailed | None = None
            with scratch.watching(builtin_allowed=builtin_allowed) as watch:
                token = _WATCH.set(watch)
                try:
                    body(*answers, seed=seed_for(name) if seed is None else seed)
                except CheckFailed as error:
                    failure = error
                except Exception as error:  # noqa: BLE001 - e.g. a missing attribute on the answer
                    failure = CheckFailed(
                        f"checking {', '.join(labels)} raised {type(error).__name__}: {str(error)[:300]}"
                    )
                finally:
                    _WATCH.reset(token)
            if watch.found:
                raise CheckFailed(scratch.verdict(labels, watch.found))
            if failure is not None:
                raise CheckFailed(f"[{name}] {failure}") from None

        run.__doc__ = f"{summary}\n\n{body.__doc__ or ''}"
        return run

    return decorate
