"""Before nbgrader sees a submission: can it be graded at all, and what must be repaired first?

:func:`preflight` reads each notebook of a submission as hostile input. A missing or invalid notebook,
an empty one or one from another assignment cannot be graded: the result says why, and nothing runs.
Deleted test cells are put back from the released notebook (the student's original is kept as
``<name>.ipynb.submitted``), so the tests still run and count.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import nbformat

from .cells import grade_id
from .course import Course
from .gradebook import AssignmentCells


@dataclass(frozen=True)
class Preflight:
    """The verdict of :func:`preflight`: ``problem`` is set when the submission cannot be graded."""

    problem: str | None = None
    repairs: tuple[str, ...] = ()

    @property
    def gradable(self) -> bool:
        return self.problem is None


def preflight(course: Course, assignment: str, student: str, cells: AssignmentCells) -> Preflight:
    """Check (and where possible repair) a submission before nbgrader sees it.

    Returns a :class:`Preflight`: gradable (with the repairs made, if any) or the reason it is not.
    """
    folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
    notes = []
    for name, grade_ids in cells.notebooks.items():
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            found = sorted(p.name for p in folder.glob("*.ipynb"))
            listed = ", ".join(found) or "no notebook"
            return Preflight(f"no {name}.ipynb in the submission (found: {listed})")
        try:
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as error:  # noqa: BLE001 - any parse failure is the student's broken file
            reason = " ".join(str(error).split())[:200]
            return Preflight(f"{name}.ipynb is not a valid notebook ({type(error).__name__}: {reason})")
        present = {grade_id(cell) for cell in notebook.cells} - {None}
        if not present & grade_ids:
            return Preflight(
                f"{name}.ipynb has none of the cells of assignment {assignment!r}: "
                f"it is empty or belongs to another assignment"
            )
        missing_tests = [test for test in cells.tests[name] if test not in present]
        if missing_tests:
            release = nbformat.read(course.release / assignment / f"{name}.ipynb", as_version=4)
            originals = {grade_id(cell): cell for cell in release.cells}
            restorable = [g for g in missing_tests if g in originals]
            if restorable:
                shutil.copy2(path, path.with_name(path.name + ".submitted"))
                for test in restorable:  # appended: they run after every solution cell
                    notebook.cells.append(originals[test])
                nbformat.write(notebook, path)
                notes.append(f"restored deleted test cells {', '.join(restorable)}")
    return Preflight(repairs=tuple(notes))
