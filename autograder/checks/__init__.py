"""The grader's checks: what the notebooks' hidden (and some visible) tests call.

One module per assignment (:mod:`.masks`, :mod:`.autograd`, :mod:`.weights`, :mod:`.practice`), each
with ``check_*`` functions taking the student's objects. A check passes silently or raises
:class:`~autograder.checks.core.CheckFailed` (an ``AssertionError``) whose message says what was
expected and what was found.

Importing this package seals its modules: rebinding a check (``masks.check_x = lambda f: None``) raises
``AttributeError``, and every check decides with torch functions captured at import
(:data:`~autograder.checks.core.T`), so patching ``torch.equal`` and friends does not change a verdict.
The notebooks import it in their locked first cell, before any student code runs.
"""

from __future__ import annotations

import sys
import types

from . import autograd, core, masks, practice, weights
from .core import BODIES, REGISTRY, STATISTICAL_BODIES, CheckFailed, CheckInfo, false_failure_rates

ASSIGNMENT_MODULES: dict[str, types.ModuleType] = {
    "masks": masks,
    "autograd": autograd,
    "weights": weights,
    "practice": practice,
}

__all__ = [
    "ASSIGNMENT_MODULES",
    "BODIES",
    "REGISTRY",
    "STATISTICAL_BODIES",
    "CheckFailed",
    "CheckInfo",
    "false_failure_rates",
]


class _SealedModule(types.ModuleType):
    """A module whose existing attributes cannot be rebound or deleted from outside."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in self.__dict__ and not name.startswith("__"):
            raise AttributeError(
                f"{self.__name__}.{name} belongs to the grader and cannot be replaced while grading"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.__name__}.{name} belongs to the grader and cannot be deleted")


for _module in (*ASSIGNMENT_MODULES.values(), core, sys.modules[__name__]):
    _module.__class__ = _SealedModule
