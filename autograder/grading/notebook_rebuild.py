"""A submitted notebook rebuilt on the released notebook's skeleton, before anything of it runs.

A student can edit a notebook's JSON freely: strip the setup cell's nbgrader metadata, turn it into
markdown, move it, insert cells above it, give their own cell a test cell's name or id, delete test
cells. nbgrader's own sanitising (``DeduplicateIds``, ``OverwriteCells``) restores a locked cell only
when it still carries its name, so such edits used to let student code run before the setup cell or in
its place. :func:`rebuild` therefore does not repair the student's notebook: it builds a new one.

The rule
--------
The *anchors* of the released notebook are its cells with an nbgrader name: the locked cells (the
setup cell, the test cells) and the answer (solution) cells. The rebuilt notebook holds

1. every anchor exactly once, in the released order. A locked cell is always the instructor's copy
   (type, metadata, source, id); an answer cell is the released cell with the source of the student's
   cell of that name (the last one when several carry it, as nbgrader's ``DeduplicateIds`` decides; its
   type and metadata are the release's). A missing answer cell runs the released stub.
2. the student's other cells ("free" cells: markdown, their own code, the release's unmarked cells as
   they edited them), each placed right after the anchor it followed in the submission, in the
   submission's order. A student cell that carries a locked cell's nbgrader name or cell id is not a
   free cell: it is dropped (the instructor's copy takes its place), and free cells after it follow
   that locked cell. Free cells keep no nbgrader metadata, no other metadata and no outputs, and get a
   fresh id if theirs is taken or invalid.
3. Cells before the student's first anchor: a leading run of markdown or raw cells stays on top; from
   the first code cell on they are placed after the released notebook's leading locked cells (the
   setup cell), so nothing the student wrote runs before the setup.

An unchanged notebook is rebuilt into itself (minus outputs and cell metadata of free cells), and
rebuilding is idempotent. Each departure from the release is reported in a short note (the notes end
up in the student's grade message).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import nbformat

from .cells import grade_id, nbgrader_meta

_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FREE_TYPES = ("code", "markdown", "raw")


@dataclass
class Rebuilt:
    """The rebuilt notebook and what was changed on the way (each note one short phrase)."""

    notebook: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)


def _is_locked_anchor(cell: Any) -> bool:
    return grade_id(cell) is not None and not nbgrader_meta(cell).get("solution")


def _numbers(indices: list[int]) -> str:
    return ", ".join(f"#{index + 1}" for index in indices)


def _free_cell(cell: Any, taken: set[str]) -> nbformat.NotebookNode | None:
    """A student's free cell with only its type, source and (markdown) attachments; None if unusable."""
    kind = cell.get("cell_type")
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(part) for part in source)
    if kind not in _FREE_TYPES or not isinstance(source, str):
        return None
    # Built as plain nodes: nbformat's constructors validate each cell, which costs more than the rest.
    new = nbformat.NotebookNode(cell_type=kind, metadata=nbformat.NotebookNode(), source=source)
    if kind == "code":
        new["outputs"], new["execution_count"] = [], None
    attachments = cell.get("attachments")
    if kind == "markdown" and isinstance(attachments, dict) and attachments:
        new["attachments"] = nbformat.from_dict(copy.deepcopy(attachments))
    wanted = cell.get("id")
    if isinstance(wanted, str) and _CELL_ID.match(wanted) and wanted not in taken:
        new["id"] = wanted
    else:
        counter = len(taken)
        while f"student-{counter}" in taken:
            counter += 1
        new["id"] = f"student-{counter}"
    taken.add(new["id"])
    return new


def rebuild(submitted: nbformat.NotebookNode, release: nbformat.NotebookNode) -> Rebuilt:
    """The submission rebuilt on the release's skeleton (see the module docstring for the rule)."""
    anchors = [(index, cell) for index, cell in enumerate(release.cells) if grade_id(cell) is not None]
    by_name = {grade_id(cell): cell for _, cell in anchors}
    locked_by_id = {cell.get("id"): grade_id(cell) for _, cell in anchors if _is_locked_anchor(cell)}
    solution_by_id = {cell.get("id"): grade_id(cell) for _, cell in anchors if not _is_locked_anchor(cell)}
    order = [grade_id(cell) for _, cell in anchors]
    head = []  # the release's leading locked anchors (the setup cell): nothing runs before them
    for name in order:
        if not _is_locked_anchor(by_name[name]):
            break
        head.append(name)

    cells = list(submitted.get("cells", []))

    def claim(cell: Any) -> tuple[str | None, str | None]:
        """(kind, anchor name) the student's cell stands for: ("locked"|"solution", name) or (None, None)."""
        name = grade_id(cell)
        if name in by_name:
            return ("locked" if _is_locked_anchor(by_name[name]) else "solution"), name
        cell_id = cell.get("id")
        if cell_id in locked_by_id:
            return "locked", locked_by_id[cell_id]
        if cell_id in solution_by_id and grade_id(cell) is None:
            return "solution", solution_by_id[cell_id]
        return None, None

    claims = [claim(cell) for cell in cells]
    chosen: dict[str, int] = {}  # answer name -> index of the student's cell used (the last one)
    for index, (kind, name) in enumerate(claims):
        if kind == "solution" and name is not None:
            chosen[name] = index

    notes: list[str] = []
    taken: set[str] = {str(cell.get("id")) for _, cell in anchors}
    top: list[nbformat.NotebookNode] = []
    after: dict[str, list[nbformat.NotebookNode]] = {name: [] for name in order}
    current: str | None = None
    seen_code = False
    moved_up, dropped, duplicates, retyped, unusable = [], [], [], [], []
    locked_seen: dict[str, list[int]] = {}
    for index, (cell, (kind, name)) in enumerate(zip(cells, claims, strict=True)):
        if kind == "locked" and name is not None:
            locked_seen.setdefault(name, []).append(index)
            current = name
            continue
        if kind == "solution" and name is not None and chosen[name] == index:
            if cell.get("cell_type") != by_name[name].get("cell_type"):
                retyped.append(name)
            current = name
            continue
        if kind == "solution":
            duplicates.append(index)
        free = _free_cell(cell, taken)
        if free is None:
            unusable.append(index)
            continue
        if current is None:
            if free.cell_type == "code":
                seen_code = True
            if not seen_code or not head:
                top.append(free)
                continue
            moved_up.append(index)
            after[head[-1]].append(free)
        else:
            after[current].append(free)

    rebuilt = nbformat.v4.new_notebook()
    rebuilt.nbformat, rebuilt.nbformat_minor = release.nbformat, release.nbformat_minor
    rebuilt.metadata = copy.deepcopy(release.metadata)
    rebuilt.cells = list(top)
    # Release cells before the first anchor that the student deleted are not put back (they are free).
    restored_tests, edited_locked, missing_answers = [], [], []
    for name in order:
        original = by_name[name]
        if _is_locked_anchor(original):
            cell = copy.deepcopy(original)
            claimed = locked_seen.get(name, [])
            if not claimed:
                if nbgrader_meta(original).get("grade"):
                    restored_tests.append(name)
                else:
                    edited_locked.append(name)
            else:
                own = cells[claimed[0]]
                same = (
                    own.get("cell_type") == original.get("cell_type")
                    and own.get("source") == original.get("source")
                    and nbgrader_meta(own) == nbgrader_meta(original)
                )
                if not same or len(claimed) > 1:
                    edited_locked.append(name)
                dropped.extend(claimed[1:])
        else:
            cell = copy.deepcopy(original)
            cell.pop("outputs", None)
            if original.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
            if name in chosen:
                source = cells[chosen[name]].get("source", "")
                cell["source"] = "".join(source) if isinstance(source, list) else str(source)
            else:
                missing_answers.append(name)
        rebuilt.cells.append(cell)
        rebuilt.cells.extend(after[name])

    if restored_tests:
        notes.append(f"restored deleted test cells {', '.join(restored_tests)}")
    if edited_locked:
        notes.append(f"restored locked cells from the released notebook: {', '.join(edited_locked)}")
    if dropped:
        notes.append(f"ignored copies of locked cells ({_numbers(dropped)}): only the instructor's copy runs")
    if moved_up:
        notes.append(f"your cells above the setup cell ({_numbers(moved_up)}) were run after it")
    if duplicates:
        notes.append(
            f"several cells carried an answer cell's name; the last is graded, the others "
            f"({_numbers(duplicates)}) ran as ordinary cells"
        )
    if retyped:
        notes.append(f"answer cells {', '.join(retyped)} had their type changed; they ran as released")
    if missing_answers:
        missing = ", ".join(missing_answers)
        notes.append(f"answer cells {missing} were missing; the released stubs ran instead")
    if unusable:
        notes.append(f"cells of an unknown kind were left out ({_numbers(unusable)})")
    student_order = [name for name, _ in sorted(chosen.items(), key=lambda item: item[1])]
    if student_order != [name for name in order if name in chosen]:
        notes.append("answer cells were put back in the released order")
    return Rebuilt(rebuilt, notes)
