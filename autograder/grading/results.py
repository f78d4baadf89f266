"""What class grading produces: a :class:`StudentResult` per submission, a :class:`ClassReport` per run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


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


def fingerprint(folder: Path) -> str:
    """A hash of every file's relative path and bytes: changes whenever the submission does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
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
