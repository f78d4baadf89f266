"""The grader's checks: what the notebooks' hidden (and visible) tests call.

One module per assignment (:mod:`.masks`, :mod:`.autograd`, :mod:`.weights`, :mod:`.practice`), each
with ``check_*`` functions taking the student's objects. A check passes silently or raises
:class:`~autograder.checks.core.CheckFailed` (an ``AssertionError``) whose message says what was
expected and what was found.

While grading, the checks run in the trusted judge (:mod:`autograder.grading.judge`), never in the
student's kernel: they hold handles on the student's objects and reach them through the probe
(:mod:`.remote`, :mod:`autograder.probe`). In a student's own notebook they run the probe in-process
on the objects passed in, with the same rules. Importing this package also seals its modules
(rebinding ``masks.check_x`` raises ``AttributeError``), which matters only for those in-process runs.
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
