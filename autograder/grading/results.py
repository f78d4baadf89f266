"""What class grading produces: a :class:`StudentResult` per submission, a :class:`ClassReport` per run."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .submission_files import MiB, UnsafeSubmission, read_regular_file, walk

#: ``StudentResult.status``: nbgrader scored it; the student's submission could not be scored (their
#: notebook, their folder, their endless loop: a score of 0 and a message); or the grader, not the
#: student, failed (a path it built wrongly, a kernel or judge that could not start, a crash of the
#: grader's own code): no grade is recorded for it, the run exits non-zero and the next run grades it
#: again.
GRADED, FAILED, GRADER_ERROR = "graded", "failed", "grader-error"


@dataclass
class StudentResult:
    """One student's outcome. ``status`` is :data:`GRADED`, :data:`FAILED` or :data:`GRADER_ERROR`;
    ``kind`` names the cause of a grader error (results of one kind are one problem of the grader)."""

    student: str
    status: str
    score: float
    max_score: float
    message: str = ""
    failed_tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fingerprint: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # seconds per grading phase (:mod:`.phases`)
    kind: str = ""

    @property
    def grader_error(self) -> bool:
        return self.status == GRADER_ERROR


def grader_error(
    student: str, max_score: float, message: str, kind: str, seconds: float = 0.0
) -> StudentResult:
    """The result of a submission the grader failed on: no score, a message that says it is the grader's."""
    return StudentResult(student, GRADER_ERROR, 0.0, max_score, message, seconds=seconds, kind=kind)


def fingerprint(folder: Path) -> str:
    """A hash of every entry's relative path, kind and bytes: changes whenever the submission does.

    No link is followed and no special file is opened (:func:`~autograder.grading.submission_files.walk`):
    a link counts by its target's name, a FIFO or device by its kind, so hashing a hostile folder
    reads nothing outside it and never blocks. Files larger than 256 MiB count by size and change time.
    """
    digest = hashlib.sha256()
    for relative, info in walk(folder):
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(f"{stat.S_IFMT(info.st_mode)}:{info.st_size}".encode() + b"\0")
        path = folder / relative
        if stat.S_ISLNK(info.st_mode):
            try:
                digest.update(os.fsencode(os.readlink(path)))
            except OSError:
                pass
        elif stat.S_ISREG(info.st_mode):
            if info.st_size > 256 * MiB:
                digest.update(f"{info.st_mtime_ns}".encode())
                continue
            try:
                digest.update(hashlib.sha256(read_regular_file(path, 256 * MiB, relative)).digest())
            except UnsafeSubmission as refused:  # a hard link: counted by its name and inode, not read
                digest.update(f"{refused}:{info.st_ino}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


@dataclass
class ClassReport:
    assignment: str
    results: list[StudentResult]
    skipped: list[str]  # unchanged since the last run
    seconds: float
    workers: int
    isolation: str
    csv_path: Path
    export_path: Path | None
    retried: list[str] = field(default_factory=list)  # tried again after a worker died (cluster runs)
    pending: list[str] = field(default_factory=list)  # graded, waiting for the gradebook (cluster runs)
    stopped: str = ""  # why the run stopped early (:class:`FaultWatch`), else empty
    not_graded: list[str] = field(default_factory=list)  # left for the next run when it stopped early

    @property
    def grader_errors(self) -> list[StudentResult]:
        return [result for result in self.results if result.grader_error]

    @property
    def ok(self) -> bool:
        """Every submission of the run has the student's own result: nothing for the instructor to fix."""
        return not (self.grader_errors or self.stopped or self.pending or self.not_graded)


#: How many submissions may fail the same way by the grader's fault before a run stops: one or two can
#: be odd submissions that tripped a grader bug; more, when they are also at least half of the results
#: so far, is a broken set-up that would fail them all. (The half keeps a few hostile submissions that
#: trip one grader bug from stopping a large class; each of them is still a grader error to look at.)
STOP_AFTER_SAME_FAULT = 3


@dataclass
class FaultWatch:
    """Counts a run's grader errors by kind and says when one kind has happened too often to go on."""

    limit: int = STOP_AFTER_SAME_FAULT
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    seen: int = 0
    stopped: bool = False

    def add(self, result: StudentResult) -> bool:
        """Count ``result``; True (and :attr:`stopped` set) when its kind has now reached the limit and
        half of all results."""
        self.seen += 1
        if not result.grader_error:
            return False
        kind = result.kind or "unknown"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.examples.setdefault(kind, result.message)
        if self.counts[kind] >= self.limit and 2 * self.counts[kind] >= self.seen:
            self.stopped = True
            return True
        return False

    def reason(self) -> str:
        """One line saying why the run stopped, with the command to fix it ("" when it did not stop)."""
        if not self.stopped:
            return ""
        kind = max(self.counts, key=lambda name: self.counts[name])
        return (
            f"stopped early: {self.counts[kind]} submissions failed the same way by the grader's fault "
            f"({self.examples[kind][:300]}); run `python -m autograder doctor` to find what to fix, then "
            f"grade again (graded submissions are kept, the rest are graded then)"
        )
