"""``python -m autograder export``: the gradebook as a file a learning management system imports.

Built on nbgrader's exporter plug-in mechanism (``nbgrader export --exporter=...``), so it reads the
same gradebook as every other nbgrader command (SQLite or PostgreSQL, ``--db-url``).

:class:`CanvasExportPlugin` writes Canvas's gradebook CSV: the columns ``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID`` and ``Section`` identify a student (Canvas matches a row by any one of
the three ids; nbgrader's student id goes in the column ``--id-column`` names, ``SIS Login ID`` by
default), then one column per assignment holding the score after late penalties, and a second row
``Points Possible`` with each assignment's maximum. This is the layout Canvas's own gradebook export
has and its import accepts (Canvas Instructor Guide, "How do I import grades in the Gradebook?"; the
required columns are also listed at
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades).

As in nbgrader's own CSV export, a student with no submission for an assignment gets 0, except where
a submission was collected but has no grade yet (the last ``grade`` run had a grader error for it,
:data:`~autograder.grading.results.GRADER_ERROR`, or stopped before it): that cell is left blank
(Canvas's import leaves a blank cell's grade as it is) and ``export`` says so.
Every cell is written with the ``csv`` module (commas and quotes in names stay inside their cell),
and a cell that a spreadsheet would read as a formula (one starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is prefixed with ``'`` so that opening the file cannot run it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Enum, List, Unicode

from .course import ASSIGNMENTS, ROOT, Course, load_course, run_nbgrader

#: The columns that identify a student, in Canvas's order.
IDENTITY_COLUMNS: tuple[str, ...] = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """``value`` as CSV cell text that no spreadsheet evaluates as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float) -> str:
    return f"{value:g}"


class CanvasExportPlugin(ExportPlugin):
    """nbgrader exporter: Canvas's gradebook import CSV (see the module docstring)."""

    id_column = Enum(
        ["SIS Login ID", "SIS User ID", "ID"],
        default_value="SIS Login ID",
        help="the Canvas column that holds nbgrader's student id",
    ).tag(config=True)
    ungraded = List(
        Unicode(), default_value=[], help="'assignment/student' pairs collected but not graded: left blank"
    ).tag(config=True)

    def rows(self, gradebook: Any) -> list[list[str]]:
        """The CSV rows: header, points possible, one row per student (sorted by id)."""
        assignments = [a for a in gradebook.assignments if not self.assignment or a.name in self.assignment]
        students = [s for s in gradebook.students if not self.student or s.id in self.student]
        header = [*IDENTITY_COLUMNS, *(a.name for a in assignments)]
        blanks = [""] * (len(IDENTITY_COLUMNS) - 1)
        points = [POINTS_POSSIBLE, *blanks, *(_number(a.max_score) for a in assignments)]
        rows = [header, points]
        for student in sorted(students, key=lambda s: s.id):
            name = ", ".join(part for part in (student.last_name, student.first_name) if part) or student.id
            identity = dict.fromkeys(IDENTITY_COLUMNS, "")
            identity["Student"] = name
            identity[self.id_column] = student.id
            scores = []
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    blank = f"{assignment.name}/{student.id}" in self.ungraded
                    scores.append("" if blank else _number(0.0))
                else:
                    penalty = submission.late_submission_penalty or 0.0
                    scores.append(_number(max(0.0, submission.score - penalty)))
            rows.append([spreadsheet_safe(v) for v in (*identity.values(), *scores)])
        return rows

    def export(self, gradebook: Any) -> None:
        destination = self.to or "canvas-grades.csv"
        self.log.info("Exporting grades in Canvas's gradebook format to %s", destination)
        with open(destination, "w", newline="") as handle:
            csv.writer(handle).writerows(self.rows(gradebook))


#: --format -> nbgrader exporter class.
EXPORTERS = {
    "canvas": f"{__name__}.CanvasExportPlugin",
    "nbgrader": "nbgrader.plugins.export.CsvExportPlugin",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=sorted(EXPORTERS), default="canvas", help="file format (default canvas)"
    )
    parser.add_argument(
        "--to", type=Path, help="output file (default: <workspace>/grades/<format>-grades.csv)"
    )
    parser.add_argument("--assignment", action="append", default=[], help="only this assignment (repeatable)")
    parser.add_argument(
        "--id-column",
        choices=["SIS Login ID", "SIS User ID", "ID"],
        default="SIS Login ID",
        help="Canvas column for nbgrader's student id (default 'SIS Login ID')",
    )
    parser.add_argument("--course", type=Path, default=ROOT, help="course root (holds nbgrader_config.py)")
    parser.add_argument("--db-url", help="gradebook URL (default: the course's)")


def run(args: argparse.Namespace) -> int:
    try:
        course = load_course(args.course, args.db_url)
    except (LookupError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    target = (args.to or course.grades_dir() / f"{args.format}-grades.csv").resolve()
    command = ["export", f"--exporter={EXPORTERS[args.format]}", f"--to={target}",
               f"--CourseDirectory.db_url={course.db_url}"]  # fmt: skip
    if args.assignment:
        command += [f"--ExportPlugin.assignment={name}" for name in args.assignment]
    ungraded = ungraded_submissions(course)
    if args.format == "canvas":
        command.append(f"--CanvasExportPlugin.id_column={args.id_column}")
        command += [f"--CanvasExportPlugin.ungraded={pair}" for pair in ungraded]
    result = run_nbgrader(command, course.root, check=False)
    if result.returncode != 0 or not target.is_file():
        print(f"error: nbgrader export failed:\n{(result.stdout + result.stderr)[-2000:]}", file=sys.stderr)
        return 1
    print(f"wrote {target}")
    if ungraded:
        print(
            f"warning: {len(ungraded)} collected submission(s) have no grade (a grader error, or a run "
            f"that stopped before them: {', '.join(ungraded)}); "
            + ("their cells are blank" if args.format == "canvas" else "nbgrader's CSV shows them as 0")
            + ": fix the cause and run grade again",
            file=sys.stderr,
        )
    return 0


def ungraded_submissions(course: Course) -> list[str]:
    """'assignment/student' for every collected submission that ``grade`` has not given a result: its
    last grading was a grader error, or no run has reached it yet."""
    from .results import GRADER_ERROR
    from .state import load_state, students_with_submissions

    found = []
    for assignment in ASSIGNMENTS:
        state = load_state(course, assignment)
        for student in students_with_submissions(course, assignment):
            row = state.get(student)
            if row is None or row.get("status") == GRADER_ERROR:
                found.append(f"{assignment}/{student}")
    return found
