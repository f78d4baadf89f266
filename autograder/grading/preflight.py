"""Before nbgrader sees a submission: can it be graded at all, and what must be rebuilt first?

:func:`preflight` reads a submission as hostile input, before any of it runs:

1. **Files.** The submission folder and everything in it must be plain folders and plain files: a
   symbolic link, a hard link, a FIFO, a socket or a device anywhere in it, or more files, bytes or
   depth than :class:`~autograder.grading.submission_files.FolderLimits` allows, refuses the whole
   submission with a message naming the file (:mod:`~autograder.grading.submission_files`). Notebooks
   are read with ``O_NOFOLLOW`` and a size cap, never through a link.
2. **Notebooks.** A missing or invalid notebook, an empty one or one from another assignment cannot be
   graded: the result says why, and nothing runs.
3. **Structure.** Each notebook is rebuilt on the released notebook's skeleton
   (:func:`~autograder.grading.notebook_rebuild.rebuild`): the setup cell and every test cell are the
   instructor's copies at their released places, whatever the student did to their metadata, type,
   order or ids; the student's answers and own cells are kept in place, nothing runs before the setup
   cell. Outputs are dropped (nbgrader clears them anyway), the cells' text is capped at
   :data:`MAX_SOURCE_BYTES`, and markdown attachments are kept only as images within
   :data:`MAX_ATTACHMENT_BYTES`.

When the rebuilt notebook differs from the submitted one, it replaces it and the student's file is
kept beside it as ``<name>.ipynb.submitted`` (a re-run rebuilds from that original, so its notes stay
the same). Every departure from the release becomes a short note in the student's grade message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .cells import grade_id
from .course import Course
from .gradebook import AssignmentCells
from .notebook_rebuild import rebuild
from .submission_files import (
    FolderLimits,
    MiB,
    UnsafeSubmission,
    check_folder,
    check_real_directory,
    human_size,
    read_regular_file,
    shown,
    write_file_atomically,
)

#: The text of all cells of a notebook (answers, the student's own cells, markdown) together.
MAX_SOURCE_BYTES = 2 * MiB
#: Markdown attachments (pasted images) of a notebook together.
MAX_ATTACHMENT_BYTES = 4 * MiB
#: Attachment types kept: images, which the feedback shows only as ``<img>`` (no script runs there).
ATTACHMENT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
SUBMITTED_SUFFIX = ".submitted"


@dataclass(frozen=True)
class Preflight:
    """The verdict of :func:`preflight`: ``problem`` is set when the submission cannot be graded."""

    problem: str | None = None
    repairs: tuple[str, ...] = ()

    @property
    def gradable(self) -> bool:
        return self.problem is None


def parse_notebook(data: bytes, label: str) -> nbformat.NotebookNode:
    """A notebook from untrusted bytes, validated; raises ``ValueError`` saying why it is not one."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - any parse failure is the student's broken file
        reason = " ".join(str(error).split())[:200]
        raise ValueError(f"{label} is not a valid notebook ({type(error).__name__}: {reason})") from None
    return notebook


def _valid_image(mime: str, data: Any) -> bool:
    if mime not in ATTACHMENT_TYPES or not isinstance(data, str):
        return False
    try:
        base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return True


def bound_notebook(notebook: nbformat.NotebookNode, label: str) -> list[str]:
    """Cap the notebook's text and attachments in place; the notes say what was removed.

    Raises :class:`UnsafeSubmission` when the cells' text alone is over :data:`MAX_SOURCE_BYTES`.
    """
    text = sum(len(cell.get("source", "").encode("utf-8", "surrogatepass")) for cell in notebook.cells)
    if text > MAX_SOURCE_BYTES:
        raise UnsafeSubmission(
            f"the cells of {label} hold {human_size(text)} of text; "
            f"the limit is {human_size(MAX_SOURCE_BYTES)}"
        )
    budget, removed = MAX_ATTACHMENT_BYTES, []
    for cell in notebook.cells:
        attachments = cell.get("attachments")
        if attachments is None:
            continue
        kept = {}
        for name, bundle in attachments.items() if isinstance(attachments, dict) else []:
            bundle = bundle if isinstance(bundle, dict) else {}
            images = {mime: data for mime, data in bundle.items() if _valid_image(mime, data)}
            size = sum(len(d) for d in images.values())
            if images and size <= budget:
                kept[name] = images
                budget -= size
            else:
                removed.append(shown(name))
        if kept:
            cell["attachments"] = kept
        else:
            cell.pop("attachments", None)
    if removed:
        return [
            f"removed attachments of {label} that were not images or over {human_size(MAX_ATTACHMENT_BYTES)} "
            f"together: {', '.join(removed[:10])}"
        ]
    return []


def _original(path: Path, current: str, release: nbformat.NotebookNode, limits: FolderLimits) -> bytes | None:
    """The student's own notebook if ``current`` (the text of the notebook at ``path``) is an earlier
    rebuild of ``<name>.submitted``; None when ``current`` is the student's own."""
    kept = path.with_name(path.name + SUBMITTED_SUFFIX)
    try:
        earlier = read_regular_file(kept, limits.max_notebook_bytes)
        rebuilt = rebuild(parse_notebook(earlier, kept.name), release).notebook
        bound_notebook(rebuilt, kept.name)
    except (UnsafeSubmission, ValueError):
        return None
    return earlier if nbformat.writes(rebuilt) == current else None


def preflight(
    course: Course, assignment: str, student: str, cells: AssignmentCells, limits: FolderLimits | None = None
) -> Preflight:
    """Check and rebuild a submission before nbgrader sees it (see the module docstring).

    Returns a :class:`Preflight`: gradable (with the notes on what was rebuilt) or the reason it is not.
    """
    limits = limits or FolderLimits()
    folder = course.step_path(course.coursedir.submitted_directory, student, assignment)
    try:
        check_real_directory(folder, course.submitted)
        entries = check_folder(folder, limits)
    except UnsafeSubmission as refused:
        return Preflight(f"submission refused: {refused}")
    notes: list[str] = []
    for name, grade_ids in cells.notebooks.items():
        filename = f"{name}.ipynb"
        path = folder / filename
        if filename not in entries:
            found = sorted(shown(entry) for entry in entries if entry.endswith(".ipynb"))
            listed = ", ".join(found) or "no notebook"
            return Preflight(f"no {filename} in the submission (found: {listed})")
        try:
            data = read_regular_file(path, limits.max_notebook_bytes, filename)
            notebook = parse_notebook(data, filename)
        except UnsafeSubmission as refused:
            return Preflight(f"submission refused: {refused}")
        except ValueError as invalid:
            return Preflight(str(invalid))
        present = {grade_id(cell) for cell in notebook.cells} - {None}
        if not present & grade_ids:
            return Preflight(
                f"{filename} has none of the cells of assignment {assignment!r}: "
                f"it is empty or belongs to another assignment"
            )
        release = nbformat.read(course.release / assignment / filename, as_version=4)
        current = nbformat.writes(notebook)
        original = _original(path, current, release, limits)
        if original is not None:
            notebook = parse_notebook(original, filename)
        rebuilt = rebuild(notebook, release)
        try:
            notes.extend(rebuilt.notes + bound_notebook(rebuilt.notebook, filename))
        except UnsafeSubmission as refused:
            return Preflight(f"submission refused: {refused}")
        nbformat.validate(rebuilt.notebook)
        written = nbformat.writes(rebuilt.notebook)
        if written != current:
            if original is None:
                write_file_atomically(path.with_name(filename + SUBMITTED_SUFFIX), data)
            write_file_atomically(path, (written + "\n").encode())
    return Preflight(repairs=tuple(notes))
