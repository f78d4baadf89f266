"""The grader's own faults, told apart from the students'.

A submission the grader cannot grade because of the grader (a path it built wrongly, a kernel or
judge that could not start, a crash of its own code) must never look like the student's failure: it is
reported apart, records no grade, makes ``grade`` exit non-zero and is graded again by the next run
(:data:`~autograder.grading.results.GRADER_ERROR`). Code that finds such a fault raises
:class:`GraderFault`.
"""

from __future__ import annotations

#: The exception name of a test cell's output when the grader, not the student, failed there (the
#: cell's plan or checks are misconfigured, the judge could not start). Only the judge writes test
#: cells' outputs (:mod:`~autograder.grading.judge.execute`), so a student cannot forge it.
GRADER_ENAME = "GraderError"


class GraderFault(RuntimeError):
    """The grader, not the submission, is at fault; ``kind`` groups faults of one cause, so that a run
    can tell one broken set-up (every submission failing the same way) from one odd submission."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
