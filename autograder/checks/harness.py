"""The ``@check`` decorator: registration, from-scratch enforcement and readable failures.

A check body receives the student's objects as :class:`~autograder.checks.remote.Handle` s (by the
names the notebook uses) and a ``seed``; it raises :class:`~autograder.checks.core.CheckFailed` with a
message saying what was expected and what was found. It never holds a student object: every use
goes through the running :class:`~autograder.checks.remote.Session` to the probe, and every expected
value is computed here, with the reference.

Two ways in:

* **the judge** (:mod:`autograder.grading.judge`) calls a check with handles on the student's kernel
  inside a session it opened; the static policy already ran on the notebook;
* **anyone else** (a student's visible test, the test suite, the self-check) calls it with plain
  objects: the decorator applies the static policy to their source, runs the probe in this process
  (:class:`~autograder.checks.remote.InProcess`) and wraps them in handles.

Either way the call-time trace the probe reports can only turn a pass into the from-scratch verdict,
an exception the student's code raised becomes a failure naming the call, and each check has a fixed
seed (so regrading is reproducible) unless one is passed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import scratch
from .core import BODIES, REGISTRY, STATISTICAL_BODIES, CheckFailed, CheckInfo, seed_for
from .remote import Handle, InProcess, Session, StudentRaised, session


class StudentError(CheckFailed):
    """The student's code raised where the check expected a result."""


@contextmanager
def _naming(what: str) -> Iterator[None]:
    """An exception of the student's code inside the block becomes a failure that names the call."""
    try:
        yield
    except CheckFailed:
        raise
    except StudentRaised as error:
        raise StudentError(f"{what} should work, but it raised {str(error)[:360]}") from None
    except Exception as error:  # noqa: BLE001 - any error becomes a readable verdict
        raise StudentError(
            f"{what} should work, but it raised {type(error).__name__}: {str(error)[:300]}"
        ) from None


def invoke(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call student code; turn an exception into a failure that names the call."""
    with _naming(what):
        return fn(*args, **kwargs)


def invoke_each(what: str, fn: Callable[..., Any], calls: Sequence[tuple[tuple, dict]]) -> list[Any]:
    """:func:`invoke` once per ``(args, kwargs)``, in order; for a handle on the student's kernel, in as
    few round trips as the probe's batches allow (each round trip costs milliseconds, the call itself
    microseconds)."""
    with _naming(what):
        if isinstance(fn, Handle):
            return fn._session.call_each(fn, calls)
        return [fn(*args, **kwargs) for args, kwargs in calls]


def trusted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the reference from inside a check (it runs here, never where the student's code runs)."""
    return fn(*args, **kwargs)


def _name(obj: object) -> str:
    return str(getattr(obj, "__name__", type(obj).__name__))


def in_process(
    answers: tuple[Any, ...], *, trace: bool, builtin_allowed: bool
) -> tuple[Session, list[Handle]]:
    """A session whose probe runs here on ``answers``, and a handle on each."""
    labels = [_name(a) for a in answers]
    namespace = dict(zip(labels, answers, strict=True))
    local = Session(InProcess(namespace), trace=trace, builtin_allowed=builtin_allowed)
    return local, [local.name(label) for label in labels]


@contextmanager
def _forgetting(local: Session) -> Iterator[None]:
    """Drop the in-process probe's table of kept objects when the check ends: the probe lives in this
    process then, and its table would otherwise keep every tensor of every check run (the self-check's
    10,000 seeds per statistical check grew by about 4 MB a run)."""
    try:
        yield
    finally:
        local.reset()


def _judged(
    name: str, body: Callable[..., None], handles: list[Handle], seed: int, builtin_allowed: bool
) -> None:
    """Run ``body`` in the current session; the trace may only lower the verdict."""
    current = session()
    current.builtin_allowed = builtin_allowed
    current.found = []
    labels = [h.__name__ for h in handles]
    failure: CheckFailed | None = None
    try:
        body(*handles, seed=seed)
    except CheckFailed as error:
        failure = error
    except Exception as error:  # noqa: BLE001 - e.g. a missing attribute on the answer
        failure = CheckFailed(
            f"the grader's own check of {', '.join(labels)} should finish, but it raised "
            f"{type(error).__name__}: {str(error)[:300]} in the grader's code, not in yours: this message "
            "is about the grader (tell your instructor), it does not say what is wrong with your answer"
        )
    if current.found:
        raise CheckFailed(scratch.verdict(labels, current.found))
    if failure is not None:
        raise CheckFailed(f"[{name}] {failure}") from None


def check(
    assignment: str, summary: str, *, intervals: int = 0, builtin_allowed: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a check. ``intervals``: binomial intervals it evaluates (0 for an exact check)."""

    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        name = f"{assignment}.{body.__name__}"
        parts = [p for p in inspect.signature(body).parameters if p != "seed"]
        REGISTRY[name] = CheckInfo(name, assignment, ", ".join(parts), summary, intervals, builtin_allowed)

        def raw(*answers: Any, seed: int) -> None:
            """The body on plain objects, untraced and without the static policy (the self-check's runs
            of the reference)."""
            local, handles = in_process(answers, trace=False, builtin_allowed=builtin_allowed)
            with local.active(), _forgetting(local):
                body(*handles, seed=seed)

        raw.__signature__ = inspect.signature(body)  # type: ignore[attr-defined]
        BODIES[name] = raw
        if intervals:
            STATISTICAL_BODIES[name] = raw

        @functools.wraps(body)
        def run(*answers: Any, seed: int | None = None) -> None:
            chosen = seed_for(name) if seed is None else seed
            if answers and all(isinstance(a, Handle) for a in answers):
                _judged(name, body, list(answers), chosen, builtin_allowed)
                return
            labels = [_name(a) for a in answers]
            reasons: list[str] = []
            for answer in answers:
                reasons += scratch.source_violations(answer, builtin_allowed=builtin_allowed)
            if reasons:
                raise CheckFailed(scratch.verdict(labels, reasons))
            local, handles = in_process(answers, trace=True, builtin_allowed=builtin_allowed)
            with local.active(), _forgetting(local):
                _judged(name, body, handles, chosen, builtin_allowed)

        run.__doc__ = f"{summary}\n\n{body.__doc__ or ''}"
        run.__signature__ = inspect.signature(body)  # type: ignore[attr-defined]
        return run

    return decorate
