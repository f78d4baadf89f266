"""The course is graded one way: plain ``nbgrader autograde`` and the formgrader's button are refused.

``python -m autograder grade`` (and the cluster's workers, which share
:func:`~autograder.grading.run_submission.grade_student`) runs ``nbgrader autograde`` once per
submission after the preflight, with the kernel in the sandbox and the judge deciding every test cell.
An instructor who types ``nbgrader autograde`` in the course, or presses "autograde" in nbgrader's
formgrader (``NbGraderAPI.autograde``, nbgrader's ``Autograde`` converter in the notebook server), would
run the same converter without preflight and without sandbox: the student's code in an ordinary kernel
with the instructor's rights.

:func:`refuse_other_routes`, called by the course's ``nbgrader_config.py``, installs
:class:`AutogradeRoute` as the ``Autograde`` converter's exporter. nbgrader makes that exporter at the
start of every autograde run, after it has only listed the submitted notebooks and before it touches
the autograded folder or the gradebook (``BaseConverter.start``); unless the run says it came through
the preflight (``--AutogradeRoute.preflighted=True``, which only :mod:`~autograder.grading.run_submission`
passes), the exporter logs :func:`refusal` and raises. ``nbgrader autograde`` then exits with status 1,
and the API answers ``success: False`` with the message in its log: no student code ran, no submission
or grade was recorded, no file was written or removed.

This guards against the wrong command, not against an instructor: passing the option by hand, or
another ``Autograde.exporter_class``, turns it off. The throwaway courses of
:mod:`autograder.grading.course` (self-check, release) do not install it.
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters import NotebookExporter
from nbgrader.converters import NbGraderException
from traitlets import Bool

#: The class name, as an nbgrader config value (``c.Autograde.exporter_class``).
EXPORTER = f"{__name__}.AutogradeRoute"
#: The command-line option of the one route that grades: preflight, sandbox and judge.
PREFLIGHTED_OPTION = "--AutogradeRoute.preflighted=True"


def refusal(assignment: str = "") -> str:
    """What a refused autograde run says: why, and the command to use instead."""
    name = assignment or "ASSIGNMENT"
    return (
        f"This course grades through `python -m autograder grade {name}` (preflight, sandbox and judge). "
        "Plain `nbgrader autograde` and the formgrader's autograde button would run student code without "
        "them, so they are refused: nothing was run, graded or recorded."
    )


class AutogradeRoute(NotebookExporter):
    """nbgrader's notebook exporter for autograding, made only for runs that went through the preflight."""

    preflighted = Bool(
        False,
        help="set by `python -m autograder grade` after the preflight; any other autograde run is refused",
    ).tag(config=True)

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        if not self.preflighted:
            coursedir = getattr(self.parent, "coursedir", None)
            message = refusal(str(getattr(coursedir, "assignment_id", "") or ""))
            self.log.error(message)
            raise NbGraderException(message)


def refuse_other_routes(c: Any) -> None:
    """Install the guard in an nbgrader config object (``c = get_config()`` in nbgrader_config.py)."""
    c.Autograde.exporter_class = EXPORTER
