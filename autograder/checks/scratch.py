"""From-scratch enforcement in a student's own run: the static policy on the answer's source, the
call-time trace, and the verdict's wording.

While grading, the judge applies the static policy (:mod:`.policy`) to the notebook's cells before
anything runs, and the probe's call-time trace (:mod:`autograder.probe.tracing`) may only lower a
verdict. When a student runs a visible test in their own notebook, the checks hold the answer
objects themselves, so :func:`source_violations` applies the same rule table to the answer's own
source (and refuses a subclass of a built-in dropout layer or of the reference).
"""

from __future__ import annotations

import inspect
import textwrap

import torch

from autograder.probe.tracing import Watch, watching

from . import policy

__all__ = ["Watch", "is_verdict", "source_violations", "verdict", "watching"]

_BUILTIN_DROPOUT_LAYERS: tuple[type, ...] = (torch.nn.modules.dropout._DropoutNd,)


def _sources(answer: object) -> list[str]:
    """Source of a function, or of every function defined in a class body."""
    targets: list[object] = []
    if inspect.isclass(answer):
        for value in vars(answer).values():
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                targets.append(value)
    elif inspect.isfunction(answer) or inspect.ismethod(answer):
        targets.append(answer)
    sources = []
    for target in targets:
        try:
            sources.append(textwrap.dedent(inspect.getsource(target)))  # type: ignore[arg-type]
        except (OSError, TypeError):
            continue  # no source available: the call-time trace still applies
    return sources


def source_violations(answer: object, *, builtin_allowed: bool = False) -> list[str]:
    """Reasons (possibly none) why ``answer``'s own code is not from scratch."""
    found: list[str] = []
    if inspect.isclass(answer):
        for base in answer.__mro__[1:]:
            if not builtin_allowed and issubclass(base, _BUILTIN_DROPOUT_LAYERS):
                found.append(f"subclasses the built-in {base.__module__}.{base.__name__}")
                break
            if (getattr(base, "__module__", "") or "").startswith("autograder.reference"):
                found.append(f"subclasses the course's reference {base.__name__}")
                break
    for source in _sources(answer):
        for reason in policy.scan(source, builtin_allowed=builtin_allowed):
            if reason not in found:
                found.append(reason)
    return found


_VERDICT_MARK = "is not written from scratch"


def is_verdict(message: str) -> bool:
    """Whether a failure message is the from-scratch verdict (not a behavioural failure)."""
    return _VERDICT_MARK in message


def verdict(parts: list[str], reasons: list[str]) -> str:
    """The message a student sees when an answer is not from scratch."""
    unique = list(dict.fromkeys(reasons))
    return (
        f"{' / '.join(parts)} {_VERDICT_MARK}: {'; '.join(unique[:3])}. "
        "This exercise asks you to build dropout yourself (a mask from torch.rand or bernoulli_, "
        "the 1/(1-p) scale) with plain torch code, so every test of this part scores zero."
    )
