"""What class grading produces: a :class:`StudentResult` per submission, a :class:`ClassReport` per run."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .submission_files import MiB, UnsafeSubmission, read_regular_file, walk


@dataclass
class StudentResult:
    """One student's outcome. ``status`` is ``graded`` (nbgrader scored it) or ``failed``."""

    student: str
    status: str
    score: float
    max_score: float
    message: str = ""
    failed_tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fingerprint: str = ""
    phases: dict[str, float] = field(default_factory=dict)  # seconds per grading phase (:mod:`.phases`)


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
