"""``python -m autograder blind-score FOLDER``: the grader's power on answers written by a blind examiner.

Mutants are neighbours of the solution; students write other code. A blind examiner, who has seen only
the released notebooks (never the checks, the catalogue, the styles or the requirements table), writes
realistic wrong answers, each breaking one quoted sentence of a notebook, and correct answers in
unusual styles. This command grades every one of them the way a class is graded (a throwaway course,
``grade_class``: preflight, sandbox, judge) and reports

* power: the share of wrong answers that lose at least one point, and
* fairness: the share of correct answers that score full marks,

per assignment, listing every wrong answer that kept full marks and every correct one that lost points.

A set is a folder of ``<assignment>/<name>.json`` files with the keys ``kind`` (``wrong`` or
``correct``), ``assignment``, ``violates`` (the quoted sentence), ``why`` and ``cells`` (grade id ->
the cell's full source). ``--json PATH`` writes the scores (what the instructors' chapter prints).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import ASSIGNMENTS


@dataclass(frozen=True)
class BlindAnswer:
    """One answer of a blind set."""

    name: str
    assignment: str
    kind: str  # "wrong" or "correct"
    violates: str
    why: str
    cells: dict[str, str]


@dataclass
class BlindScore:
    """What one assignment's answers scored."""

    assignment: str
    wrong: int = 0
    caught: int = 0
    correct: int = 0
    full_marks: int = 0
    missed: list[str] = field(default_factory=list)  # wrong answers with full marks: "name: why"
    unfair: list[str] = field(default_factory=list)  # correct answers that lost points: "name: message"


def load_set(folder: Path) -> list[BlindAnswer]:
    """Every answer of the set in ``folder`` (a clear error naming a malformed file)."""
    answers = []
    for path in sorted(folder.glob("*/*.json")):
        try:
            data = json.loads(path.read_text())
            answer = BlindAnswer(
                path.stem, str(data["assignment"]), str(data["kind"]), str(data.get("violates", "")),
                str(data.get("why", "")), {str(k): str(v) for k, v in dict(data["cells"]).items()},
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a blind answer ({type(error).__name__}: {error})") from None
        if answer.assignment not in ASSIGNMENTS or answer.kind not in ("wrong", "correct"):
            raise ValueError(f"{path}: unknown assignment {answer.assignment!r} or kind {answer.kind!r}")
        answers.append(answer)
    return answers


def score_set(answers: list[BlindAnswer], *, jobs: int = 2, progress: bool = True) -> list[BlindScore]:
    """Grade every answer through ``grade_class`` in throwaway courses; one :class:`BlindScore` each
    assignment that has answers."""
    from .autograde import filled_notebook
    from .classroom import grade_class, load_course
    from .synthetic_class import make_graded_course, release_notebook, submit

    scores = []
    base = Path(tempfile.mkdtemp(prefix="blind-score-", dir="/var/tmp"))
    try:
        for assignment in ASSIGNMENTS:
            mine = [answer for answer in answers if answer.assignment == assignment]
            if not mine:
                continue
            course = make_graded_course(base / assignment, (assignment,))
            release = release_notebook(course, assignment)
            for answer in mine:
                submit(course, answer.name, assignment, filled_notebook(release, answer.cells))
            report = grade_class(assignment, course=load_course(course), jobs=jobs, progress=progress)
            by_name = {result.student: result for result in report.results}
            score = BlindScore(assignment)
            for answer in mine:
                result = by_name[answer.name]
                full = result.status == "graded" and result.score >= result.max_score
                if answer.kind == "wrong":
                    score.wrong += 1
                    score.caught += not full
                    if full:
                        score.missed.append(f"{answer.name}: {answer.why}")
                else:
                    score.correct += 1
                    score.full_marks += full
                    if not full:
                        points = f"{result.score:g}/{result.max_score:g}"
                        score.unfair.append(f"{answer.name}: {points} {result.message}")
            scores.append(score)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return scores


def format_scores(scores: list[BlindScore]) -> str:
    lines = [f"{'assignment':<12}{'wrong':>7}{'caught':>8}{'power':>8}{'correct':>9}{'full':>6}{'fair':>7}"]
    for s in scores:
        power = f"{s.caught / s.wrong:.0%}" if s.wrong else "-"
        fair = f"{s.full_marks / s.correct:.0%}" if s.correct else "-"
        lines.append(f"{s.assignment:<12}{s.wrong:>7}{s.caught:>8}{power:>8}{s.correct:>9}{s.full_marks:>6}{fair:>7}")
    wrong, caught = sum(s.wrong for s in scores), sum(s.caught for s in scores)
    correct, full = sum(s.correct for s in scores), sum(s.full_marks for s in scores)
    lines.append(
        f"{'all':<12}{wrong:>7}{caught:>8}{(caught / wrong if wrong else 0):>8.0%}{correct:>9}{full:>6}"
        f"{(full / correct if correct else 0):>7.0%}"
    )
    for s in scores:
        lines += [f"missed ({s.assignment}) {item}" for item in s.missed]
        lines += [f"unfair ({s.assignment}) {item}" for item in s.unfair]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="the blind set: <assignment>/<name>.json files")
    parser.add_argument("--jobs", type=int, default=2, help="parallel graders")
    parser.add_argument("--json", type=Path, help="also write the scores here")


def run(args: argparse.Namespace) -> int:
    try:
        answers = load_set(args.folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not answers:
        print(f"error: no answers in {args.folder}", file=sys.stderr)
        return 2
    scores = score_set(answers, jobs=args.jobs)
    print(format_scores(scores))
    if args.json:
        args.json.write_text(json.dumps([asdict(score) for score in scores], indent=1) + "\n")
    return 0
