"""Build, grade and judge the red-team class: what ``tests/test_redteam.py`` runs once per module.

:func:`run_class` makes a throwaway course, submits the controls (one per base answer) and every
attack, grades the class with :func:`autograder.grading.classroom.grade_class` (2 jobs), generates the
feedback with ``nbgrader generate_feedback``, and returns a :class:`RedTeamRun` that holds, per
attack, the list of ways the grader failed to hold (empty when it held) and the global findings.
Everything observed comes from outside the kernels: the report, the gradebook, the autograded and
feedback files, hashes of files the kernels must not change, and a TCP listener on the host.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import nbformat

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.classroom import grade_class, load_course
from autograder.grading.course import ROOT, nbgrader_env
from autograder.grading.gradebook import read_score
from autograder.grading.nbgrader_plugins import BEGIN_HIDDEN, END_HIDDEN, strip_hidden_region
from autograder.grading.results import ClassReport, StudentResult
from autograder.grading.sandbox import Limits
from autograder.grading.synthetic_class import make_graded_course, release_notebook, submit

from . import Attack, Context, all_attacks

ASSIGNMENT = "masks"
#: Generous time limits (CI machines are shared); the memory limit is the one attacks try to beat.
LIMITS = Limits(cell_timeout_s=40, notebook_timeout_s=150, memory_mb=4096)
CONTROLS = {
    "control_solution": "solution",
    "control_stub": "stub",
    "control_wrong": "wrong",
    "control_mask_only": "mask_only",
}
#: Largest autograded notebook or feedback page accepted (the output caps must keep them small).
MAX_FILE_BYTES = 10 * 2**20
SECRET = "SECRET-OF-control_solution"
#: nbgrader's own words when it failed on a notebook: a result that says only this explains nothing.
UNCLEAR = "Please see the the above traceback"


# --------------------------------------------------------------------------------------------------
# Building the class
# --------------------------------------------------------------------------------------------------
def base_cells() -> dict[str, dict[str, str]]:
    """The answer cells of every base (see :data:`redteam.BASES`)."""
    solution = submission_cells(ASSIGNMENT, None)
    stub = {name: f"def {name}(*args, **kwargs):\n    return None\n" for name in solution}
    missing_rescale = next(e for e in entries(ASSIGNMENT) if e.name == "missing_rescale")
    return {
        "solution": solution,
        "stub": stub,
        "wrong": submission_cells(ASSIGNMENT, missing_rescale),
        "mask_only": {**stub, "dropout_mask": solution["dropout_mask"]},
    }


def attack_notebook(
    attack: Attack, release: nbformat.NotebookNode, context: Context
) -> nbformat.NotebookNode:
    """The released notebook with the attack's base answer, its code and its edits."""
    cells = dict(base_cells()[attack.base])
    for grade_id, code in attack.cells.items():
        cells[grade_id] = context.fill(code, attack.name)
    for grade_id, code in attack.before.items():
        cells[grade_id] = context.fill(code, attack.name) + "\n" + cells[grade_id]
    for grade_id, code in attack.after.items():
        cells[grade_id] = cells[grade_id] + "\n" + context.fill(code, attack.name)
    notebook = filled_notebook(release, cells)
    if attack.edit is not None:
        attack.edit(notebook, context)
    return notebook


def _submit_controls(course: Path, release: nbformat.NotebookNode, token: str) -> None:
    bases = base_cells()
    for student, base in CONTROLS.items():
        cells = dict(bases[base])
        if student == "control_solution":  # other students' work must not reach anyone's feedback
            cells["dropout_backward"] += f"\n# {SECRET}-{token}\n"
        submit(course, student, ASSIGNMENT, filled_notebook(release, cells))


# --------------------------------------------------------------------------------------------------
# What kernels must not change or reach
# --------------------------------------------------------------------------------------------------
def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if not p.is_symlink() and p.is_file())


def _git(*args: str) -> list[str]:
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return [line for line in result.stdout.split("\0") if line]


def snapshot(course: Path, site_packages: Path) -> dict[str, str]:
    """Hashes of what no kernel may change: the course's hidden tests and released notebooks, every
    submission, the virtual environment's site-packages listing and .pth files, the repository's
    tracked files and its list of untracked (not ignored) files."""
    found: dict[str, str] = {}
    for label, folder in (("source", course / "source"), ("release", course / "release"),
                          ("submitted", course / "submitted")):  # fmt: skip
        for path in _files(folder):
            if path.stat().st_nlink == 1:  # a hard link is another file's name: that file is covered
                found[f"course/{label}/{path.relative_to(folder)}"] = _sha(path)
    for entry in sorted(site_packages.iterdir()):
        is_pth = entry.suffix == ".pth" and entry.is_file()
        found[f"site-packages/{entry.name}"] = _sha(entry) if is_pth else "present"
    for name in _git("ls-files", "-z"):
        path = ROOT / name
        found[f"repo/{name}"] = _sha(path) if path.is_file() else "missing"
    for name in _git("ls-files", "-z", "--others", "--exclude-standard"):
        found[f"repo/{name}"] = "untracked"
    return found


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs, except the preflight's documented repair of a tampered notebook: the submitted
    ``<name>.ipynb`` is replaced by its rebuilt version and the original is kept, byte for byte, as
    ``<name>.ipynb.submitted`` (README, "The notebook and its folder are hostile input")."""
    keys = sorted(set(before) | set(after))
    kept_originals = {
        key[: -len(".submitted")]
        for key in keys
        if key.startswith("course/submitted/") and key.endswith(".ipynb.submitted") and key not in before
        and after.get(key) == before.get(key[: -len(".submitted")])
    }
    return [
        f"{key}: {'added' if key not in before else 'removed' if key not in after else 'changed'}"
        for key in keys
        if before.get(key) != after.get(key)
        and key not in kept_originals
        and not (key.endswith(".submitted") and key[: -len(".submitted")] in kept_originals)
    ]


def tagged_files(context: Context) -> list[Path]:
    """Files named with this run's tag anywhere an attack may have written them."""
    pattern = f"redteam-{context.token}-"
    places = [context.course, ROOT, ROOT / "autograder" / "checks", context.site_packages, Path("/var/tmp")]
    found = []
    for place in places:
        if place == context.course:
            candidates = place.rglob(f"*{pattern}*")
        else:
            candidates = place.glob(f"*{pattern}*")
        found += [p for p in candidates if p.is_file() or p.is_symlink()]
    return sorted(set(found))


class Listener:
    """A TCP server on every host address: records what any connection sends (no kernel may connect)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("0.0.0.0", 0))  # noqa: S104 - the point: reachable from any host address
        self._server.listen(64)
        self._server.settimeout(0.5)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, address = self._server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    data = connection.recv(200)
                except OSError:
                    data = b""
            self.received.append(f"{address[0]}: {data.decode(errors='replace').strip()}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()


# --------------------------------------------------------------------------------------------------
# Reading what grading produced
# --------------------------------------------------------------------------------------------------
def course_notebooks(course: Path) -> tuple[Path, Path]:
    """The course's source notebook (hidden tests) and released notebook of the assignment."""
    name = f"{ASSIGNMENT}.ipynb"
    return course / "source" / ASSIGNMENT / name, course / "release" / ASSIGNMENT / name


def _notebook_lines(path: Path) -> set[str]:
    notebook = nbformat.read(path, as_version=4)
    return {line.strip() for cell in notebook.cells for line in cell.source.splitlines() if line.strip()}


def hidden_test_lines(source_path: Path, release_path: Path) -> set[str]:
    """Lines of the hidden test regions (what the feedback plug-in strips) not in the released notebook."""
    source = nbformat.read(source_path, as_version=4)
    everything = _notebook_lines(source_path)
    kept = {
        line.strip() for cell in source.cells for line in strip_hidden_region(cell.source)[0].splitlines()
    }
    return everything - kept - _notebook_lines(release_path) - {BEGIN_HIDDEN, END_HIDDEN}


def checks_lines(source_path: Path, release_path: Path) -> set[str]:
    """Distinctive lines of ``autograder/checks/*.py`` (24+ characters, not in the student's notebook)."""
    visible = _notebook_lines(release_path) | _notebook_lines(source_path)
    lines = set()
    for path in sorted((ROOT / "autograder" / "checks").glob("*.py")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if len(line) >= 24 and re.search(r"[A-Za-z]{3}", line) and line not in visible:
                lines.add(line)
    return lines


def page_text(page: str) -> str:
    """What a reader sees: tags removed (highlighted code becomes contiguous), entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", page))


_URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "srcdoc",
}
_ACTIVE_TAGS = {"iframe", "frame", "object", "embed", "meta", "base", "form", "applet", "portal"}
_DANGEROUS_URL = ("javascript:", "vbscript:", "data:text/html", "data:application", "data:image/svg")


class _ActiveContent(HTMLParser):
    """Collects everything in a page that can run script or navigate the reader."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script: list[str] | None = None
        self._script_attrs = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        for name, value in attrs:
            name, value = name.lower(), (value or "")
            compact = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            elif name in _URL_ATTRIBUTES and compact.startswith(_DANGEROUS_URL):
                if not (tag == "img" and compact.startswith("data:image/svg")):  # inert inside <img>
                    self.found.append(f"<{tag} {name}={value[:80]!r}>")
            elif name == "srcdoc":
                self.found.append(f"<{tag} srcdoc={value[:80]!r}>")
        if tag in _ACTIVE_TAGS:
            described = " ".join(f"{n}={(v or '')[:60]!r}" for n, v in attrs)
            self.found.append(f"<{tag} {described}>")
        if tag == "script":
            self._script, self._script_attrs = [], " ".join(f"{n}={v!r}" for n, v in attrs)

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "script" and self._script is not None:
            body = " ".join("".join(self._script).split())
            digest = hashlib.sha256(body.encode()).hexdigest()[:12]
            self.found.append(f"<script {self._script_attrs}>{digest}: {body[:80]}")
            self._script = None


def script_openings(page: str) -> list[str]:
    """One label per ``<script`` in the page (how pages too big to parse are compared)."""
    return [f"<script> #{i}" for i in range(len(re.findall(r"<script\b", page, re.IGNORECASE)))]


def active_content(page: str) -> list[str]:
    if len(page) > MAX_FILE_BYTES:  # too big to parse quickly: count script openings instead
        return script_openings(page)
    parser = _ActiveContent()
    parser.feed(page)
    parser.close()
    return parser.found


def output_texts(path: Path) -> list[str]:
    """Every text an autograded notebook's outputs hold (streams, plain text, errors)."""
    try:
        notebook = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return []
    texts = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            for value in (
                output.get("text"),
                (output.get("data") or {}).get("text/plain"),
                output.get("evalue"),
            ):
                if value:
                    texts.append("".join(value) if isinstance(value, list) else str(value))
    return texts


# --------------------------------------------------------------------------------------------------
# The run and its verdicts
# --------------------------------------------------------------------------------------------------
@dataclass
class RedTeamRun:
    course: Path
    context: Context
    report: ClassReport
    attacks: list[Attack]
    feedback_failures: dict[str, str]  # student -> why nbgrader made no feedback page for them
    seconds: dict[str, float]
    commit: str  # the repository's HEAD when the run started
    canary_changes: list[str]
    tagged: list[Path]
    received: list[str]
    problems: dict[str, list[str]] = field(default_factory=dict)
    global_problems: dict[str, list[str]] = field(default_factory=dict)

    def result(self, student: str) -> StudentResult | None:
        return next((r for r in self.report.results if r.student == student), None)

    def feedback_path(self, student: str) -> Path:
        return self.course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"

    def autograded_path(self, student: str) -> Path:
        return self.course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _cleanup_tagged(context: Context) -> None:
    for path in tagged_files(context):
        if context.course not in path.parents:
            try:
                path.unlink()
            except OSError:
                pass


def run_class(base: Path, attacks: list[Attack] | None = None) -> RedTeamRun:
    """Build the class in ``base`` (the controls and ``attacks``, default all), grade it, generate the
    feedback, and judge every attack."""
    commit = _git("rev-parse", "HEAD")[0].strip()
    listener = Listener()
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    course = make_graded_course(base / "course", (ASSIGNMENT,))
    site_packages = Path(sysconfig.get_paths()["purelib"])
    context = Context(course, ROOT, site_packages, secrets.token_hex(4), listener.port, LIMITS.memory_mb)
    attacks = all_attacks() if attacks is None else attacks
    release = release_notebook(course, ASSIGNMENT)
    _submit_controls(course, release, context.token)
    for attack in attacks:
        folder = submit(course, attack.name, ASSIGNMENT, attack_notebook(attack, release, context))
        if attack.files is not None:
            attack.files(folder, context)
    seconds["build"] = time.perf_counter() - start
    before = snapshot(course, site_packages)
    try:
        start = time.perf_counter()
        report = grade_class(ASSIGNMENT, course=load_course(course), jobs=2, limits=LIMITS, progress=False)
        seconds["grade"] = time.perf_counter() - start
        start = time.perf_counter()
        autograded = [r.student for r in report.results if (course / "autograded" / r.student).is_dir()]
        feedback_failures = generate_feedback(course, autograded)
        seconds["feedback"] = time.perf_counter() - start
        time.sleep(1)  # a connection made at the very end is recorded too
    finally:
        listener.close()
    after = snapshot(course, site_packages)
    tagged = tagged_files(context)
    _cleanup_tagged(context)
    run = RedTeamRun(
        course, context, report, attacks, feedback_failures, seconds, commit,
        _explainable_changes_removed(changed(before, after), report), tagged, listener.received,
    )  # fmt: skip
    judge(run)
    return run


#: Seconds ``nbgrader generate_feedback`` may take for one student (a hostile notebook must not stall
#: everyone's feedback: each student's page is made by a call of its own).
FEEDBACK_TIMEOUT_S = 240


def generate_feedback(course: Path, students: list[str], jobs: int = 2) -> dict[str, str]:
    """``nbgrader generate_feedback`` once per student (``jobs`` at a time, each under a time limit);
    returns, for each student whose call failed or ran out of time, why."""
    from concurrent.futures import ThreadPoolExecutor

    def one(student: str) -> tuple[str, str]:
        command = [sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--student", student,
                   "--force"]  # fmt: skip
        try:
            done = subprocess.run(
                command, cwd=course, env=nbgrader_env(), capture_output=True, text=True,
                timeout=FEEDBACK_TIMEOUT_S,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return student, f"nbgrader generate_feedback ran past {FEEDBACK_TIMEOUT_S} s"
        if done.returncode != 0:
            return (
                student,
                f"nbgrader generate_feedback exited {done.returncode}: {(done.stdout + done.stderr)[-200:]}",
            )
        return student, ""

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return {student: why for student, why in pool.map(one, students) if why}


def _explainable_changes_removed(changes: list[str], report: ClassReport) -> list[str]:
    """Drop the grader's own repairs: preflight rewrites a notebook whose test cells it restored and
    keeps the original as ``<name>.ipynb.submitted``."""
    repaired = {r.student for r in report.results if "restored" in r.message}
    kept = []
    for change in changes:
        parts = change.split("/")
        if parts[:2] == ["course", "submitted"] and parts[2] in repaired and parts[3] == ASSIGNMENT:
            if parts[4].split(":")[0] in (f"{ASSIGNMENT}.ipynb", f"{ASSIGNMENT}.ipynb.submitted"):
                continue
        kept.append(change)
    return kept


def judge(run: RedTeamRun) -> None:
    """Fill ``run.problems`` (per attack) and ``run.global_problems``."""
    source, release = course_notebooks(run.course)
    hidden = hidden_test_lines(source, release)
    controls = [run.feedback_path(s) for s in CONTROLS if run.feedback_path(s).is_file()]
    control_text = "\n".join(page_text(p.read_text(errors="replace")) for p in controls)
    checks = {line for line in checks_lines(source, release) if line not in control_text}
    baseline_path = run.feedback_path("control_solution")
    baseline_page = baseline_path.read_text(errors="replace") if baseline_path.is_file() else ""
    baseline = set(active_content(baseline_page)) | set(script_openings(baseline_page))
    bounds = {
        base: (run.result(student).score if run.result(student) else 0.0)
        for student, base in CONTROLS.items()
    }
    max_score = run.report.results[0].max_score if run.report.results else 0.0

    for attack in run.attacks:
        problems: list[str] = []
        result = run.result(attack.name)
        bound = bounds[attack.bounded_by]
        if result is None:
            problems.append("no result: the grade was lost")
        else:
            if result.score > bound:
                problems.append(f"scored {result.score:g}/{result.max_score:g}, at most {bound:g} allowed "
                                f"(what its {attack.bounded_by} part earns)")  # fmt: skip
            if result.max_score != max_score:
                problems.append(f"max score {result.max_score:g}, the assignment's is {max_score:g}")
            if result.status not in ("graded", "failed") or (
                result.score < result.max_score and not result.message
            ):
                problems.append(f"no clear result (status {result.status!r}, message {result.message!r})")
            elif UNCLEAR in result.message:
                problems.append(f"its result does not say why it lost points: {result.message[:100]!r}")
        problems += _outside_effects(run, attack)
        problems += _output_problems(run, attack.name, result)
        problems += _feedback_problems(run, attack.name, result, hidden, checks, baseline)
        run.problems[attack.name] = problems

    run.global_problems = _global_problems(run, bounds, hidden)


def _outside_effects(run: RedTeamRun, attack: Attack) -> list[str]:
    tag = run.context.tag(attack.name)
    found = [f"wrote {path}" for path in run.tagged if tag in path.name]
    found += [f"canary changed: {change}" for change in run.canary_changes if attack.name in change]
    found += [f"reached the host's listener: {line}" for line in run.received if attack.name in line]
    return found


def _output_problems(run: RedTeamRun, student: str, result: StudentResult | None) -> list[str]:
    path = run.autograded_path(student)
    if not path.is_file():
        return []
    problems = []
    if path.stat().st_size > MAX_FILE_BYTES:
        problems.append(f"autograded notebook is {path.stat().st_size / 2**20:.0f} MB")
    escaped = [
        line.strip() for text in output_texts(path) for line in text.splitlines() if "ESCAPED:" in line
    ]
    problems += [f"kernel reports {line[:200]}" for line in dict.fromkeys(escaped)][:5]
    return problems


def _feedback_problems(
    run: RedTeamRun, student: str, result: StudentResult | None, hidden: set[str], checks: set[str],
    baseline: set[str],
) -> list[str]:  # fmt: skip
    path = run.feedback_path(student)
    if not path.is_file():
        if run.autograded_path(student).is_file():
            why = run.feedback_failures.get(student, "no page written")
            return [f"autograded, but its feedback could not be generated ({why})"]
        return []
    page = path.read_text(errors="replace")
    problems = []
    if len(page) > MAX_FILE_BYTES:
        problems.append(f"feedback page is {len(page) / 2**20:.0f} MB")
    text = page_text(page)
    leaked = sorted(line for line in hidden if line in text)
    if leaked:
        problems.append(f"feedback shows {len(leaked)} hidden test line(s), e.g. {leaked[0]!r}")
    leaked = sorted(line for line in checks if line in text)
    if leaked:
        problems.append(f"feedback shows {len(leaked)} line(s) of autograder/checks, e.g. {leaked[0]!r}")
    if student != "control_solution" and SECRET in text:
        problems.append("feedback shows another student's submission")
    live = [item for item in dict.fromkeys(active_content(page)) if item not in baseline]
    if live:
        problems.append(f"feedback has {len(live)} live script/handler/frame(s), e.g. {live[0][:120]}")
    return problems


def _global_problems(run: RedTeamRun, bounds: dict[str, float], hidden: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    max_score = run.report.results[0].max_score if run.report.results else 0.0
    expected = {"solution": max_score, "stub": 0.0, "mask_only": _mask_points(run.course)}
    found["controls"] = [
        f"control_{base} scored {bounds[base]:g}, expected {value:g}"
        for base, value in expected.items()
        if bounds[base] != value
    ] + ([f"control_wrong scored {bounds['wrong']:g}, a wrong answer must lose points"]
         if bounds["wrong"] >= max_score else [])  # fmt: skip
    students = {p.name for p in (run.course / "submitted").iterdir()}
    graded = {r.student for r in run.report.results}
    found["results"] = [f"no result for {s}" for s in sorted(students - graded)]
    csv_path = run.course / "grades" / f"{ASSIGNMENT}.csv"
    rows = csv_path.read_text().splitlines()[1:] if csv_path.is_file() else []
    in_csv = {row.split(",")[0] for row in rows}
    found["results"] += [f"{s} missing from grades/{ASSIGNMENT}.csv" for s in sorted(students - in_csv)]
    course = load_course(run.course)
    mismatched = []
    for result in run.report.results:
        recorded = read_score(course, ASSIGNMENT, result.student)
        if result.status == "graded" and (recorded is None or recorded[0] != result.score):
            mismatched.append(f"{result.student}: report {result.score:g}, gradebook {recorded}")
    found["gradebook"] = mismatched
    found["canaries"] = list(run.canary_changes) + [f"wrote {p}" for p in run.tagged]
    found["network"] = [f"connection to the host: {line}" for line in run.received]
    found["feedback"] = [f"{student}: {why}" for student, why in sorted(run.feedback_failures.items())]
    return found


def _mask_points(course: Path) -> float:
    """Points of the test cells that grade dropout_mask alone (what the mask_only control earns)."""
    release = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return float(
        sum(
            cell.metadata["nbgrader"].get("points", 0)
            for cell in release.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_dropout_mask")
        )
    )


def clean(base: Path, run: RedTeamRun | None) -> None:
    """Remove what the run left (the course stays for inspection when ``REDTEAM_KEEP`` is set)."""
    if run is not None:
        _cleanup_tagged(run.context)
    if os.environ.get("REDTEAM_KEEP"):
        print(f"red-team course kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The report (tests/redteam/BEFORE.md and its successors)
# --------------------------------------------------------------------------------------------------
def format_report(run: RedTeamRun, command: str) -> str:
    held = sum(1 for problems in run.problems.values() if not problems)
    lines = [
        "# Red-team suite: results",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, at commit "
        f"`{run.commit[:12]}` (plus any uncommitted change), by `tests/redteam/harness.py` "
        "(do not edit by hand).",
        "",
        f"Isolation reported by the grader: {run.report.isolation}.",
        f"Timing: build {run.seconds.get('build', 0):.0f} s, grading {run.seconds.get('grade', 0):.0f} s "
        f"(2 jobs), feedback {run.seconds.get('feedback', 0):.0f} s.",
        "",
        f"**{held} of {len(run.attacks)} attacks held; {len(run.attacks) - held} broke the grader.**",
        "",
        "An attack *held* when it scored no more than its bound (the score of the control submission "
        "with the same honest part), ended with a clear result, changed no file outside its private "
        "copy, reached nothing on the network, and its feedback shows no hidden test line, no line of "
        "`autograder/checks/`, no other student's work and no live script.",
        "",
        "| attack | kind | bound | score | result | what it achieved |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for attack in run.attacks:
        result = run.result(attack.name)
        score = f"{result.score:g}/{result.max_score:g} ({result.status})" if result else "none"
        problems = run.problems.get(attack.name, [])
        verdict = "held" if not problems else "**broke**"
        detail = "; ".join(problems) if problems else (result.message[:120] if result else "")
        detail = detail.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{attack.name}` | {attack.kind} | {attack.bounded_by} | {score} | {verdict} | {detail} |"
        )
    lines += ["", "Controls and class-wide checks:", ""]
    for student in CONTROLS:
        result = run.result(student)
        if result is None:
            lines.append(f"- `{student}`: no result")
        else:
            message = " ".join(result.message.split())[:200].replace("|", "\\|")
            lines.append(f"- `{student}`: {result.score:g}/{result.max_score:g} ({result.status}) {message}")
    for name, problems in run.global_problems.items():
        lines.append(f"- {name}: {'ok' if not problems else '; '.join(problems[:8]).replace(chr(10), ' ')}")
    lines += ["", "What each attack tries:", ""]
    lines += [f"- `{a.name}` ({a.kind}, base {a.base}): {a.summary}" for a in run.attacks]
    return "\n".join(lines) + "\n"


def write_report(run: RedTeamRun, path: Path, command: str) -> None:
    path.write_text(format_report(run, command))


def report_path_from_env() -> Path | None:
    value = os.environ.get("REDTEAM_REPORT")
    return Path(value) if value else None
