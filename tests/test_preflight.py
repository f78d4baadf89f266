"""Preflight reads a submission as hostile input: links and special files are refused, sizes are bounded,
and the notebook is rebuilt on the release's skeleton before anything runs.

Fast: nothing here runs nbgrader or a kernel (about 3 s). The rebuild rule is attacked by hand-written
tamperings and by 300 random ones (a fixed seed, so the same cases every run).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import shutil
import socket
import stat
import threading
from pathlib import Path

import nbformat
import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.cells import grade_id, is_solution_cell, nbgrader_meta
from autograder.grading.course import ASSIGNMENTS, EXERCISES, load_course, make_course
from autograder.grading.gradebook import AssignmentCells
from autograder.grading.notebook_rebuild import rebuild
from autograder.grading.preflight import MAX_SOURCE_BYTES, preflight
from autograder.grading.results import fingerprint
from autograder.grading.submission_files import FolderLimits

ASSIGNMENT = "masks"


@functools.cache
def _release_text(assignment: str) -> str:
    return (EXERCISES / assignment / f"{assignment}.ipynb").read_text()


@functools.cache
def _solution_text(assignment: str) -> str:
    return nbformat.writes(filled_notebook(release(assignment), submission_cells(assignment, None)))


def release(assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return nbformat.reads(_release_text(assignment), as_version=4)


def solution(assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return nbformat.reads(_solution_text(assignment), as_version=4)


def assert_skeleton(rebuilt: nbformat.NotebookNode, original: nbformat.NotebookNode) -> None:
    """The rule's guarantees: anchors once each in released order, locked cells the instructor's,
    no code before the setup cell, unique valid ids, a valid notebook."""
    nbformat.validate(rebuilt)
    anchors = [cell for cell in original.cells if grade_id(cell) is not None]
    named = [cell for cell in rebuilt.cells if grade_id(cell) is not None]
    assert [grade_id(c) for c in named] == [grade_id(c) for c in anchors]
    for mine, theirs in zip(named, anchors, strict=True):
        assert mine.cell_type == theirs.cell_type and nbgrader_meta(mine) == nbgrader_meta(theirs)
        assert mine.id == theirs.id
        if not is_solution_cell(theirs):
            assert mine == theirs, f"locked cell {grade_id(theirs)} differs from the release"
    first_code = next(cell for cell in rebuilt.cells if cell.cell_type == "code")
    assert grade_id(first_code) == "setup", "student code runs before the setup cell"
    ids = [cell.id for cell in rebuilt.cells]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_untouched_notebook_is_rebuilt_into_itself(assignment: str) -> None:
    for notebook in (release(assignment), solution(assignment)):
        rebuilt = rebuild(copy.deepcopy(notebook), release(assignment))
        assert rebuilt.notes == []
        assert nbformat.writes(rebuilt.notebook) == nbformat.writes(notebook)


def _strip(cell: nbformat.NotebookNode, to: str = "markdown") -> None:
    cell.metadata = {}
    cell.cell_type = to
    if to == "markdown":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _cell(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if grade_id(cell) == name)


def test_setup_stripped_turned_markdown_and_code_above_it() -> None:
    tampered = solution()
    _strip(_cell(tampered, "setup"))
    tampered.cells.insert(0, nbformat.v4.new_code_cell("checks = 'forged'"))
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())
    codes = [cell.source for cell in rebuilt.notebook.cells if cell.cell_type == "code"]
    assert codes[0] == _cell(release(), "setup").source and codes[1] == "checks = 'forged'"
    assert "restored locked cells from the released notebook: setup" in rebuilt.notes
    assert any("above the setup cell (#1," in note for note in rebuilt.notes)


def test_setup_moved_to_the_end_still_runs_first() -> None:
    tampered = solution()
    setup = _cell(tampered, "setup")
    tampered.cells.remove(setup)
    tampered.cells.append(setup)
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())


@pytest.mark.parametrize("by", ["grade_id", "cell_id"])
@pytest.mark.parametrize("target", ["setup", "test_dropout_mask_rate"])
def test_a_student_cell_claiming_a_locked_cell_never_runs(by: str, target: str) -> None:
    tampered = solution()
    original = _cell(tampered, target)
    forged = nbformat.v4.new_code_cell("FORGED = True")
    if by == "grade_id":
        forged.metadata = copy.deepcopy(original.metadata)
    else:
        forged.id = original.id
        original.id = "renamed-by-student"
    tampered.cells.insert(3, forged)
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())
    assert not any("FORGED" in cell.source for cell in rebuilt.notebook.cells)
    assert any(
        "ignored copies of locked cells" in note or "restored locked" in note for note in rebuilt.notes
    )


def test_deleted_tests_come_back_in_their_released_places() -> None:
    tampered = solution()
    tampered.cells = [
        cell for cell in tampered.cells if not (grade_id(cell) or "").startswith("test_forward")
    ]
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())
    assert any(note.startswith("restored deleted test cells test_forward") for note in rebuilt.notes)


def test_answers_keep_their_code_whatever_their_order_type_or_metadata() -> None:
    answers = submission_cells(ASSIGNMENT, None)
    tampered = solution()
    named = [cell for cell in tampered.cells if is_solution_cell(cell)]
    for cell in named:
        tampered.cells.remove(cell)
    tampered.cells.extend(reversed(named))
    _cell(tampered, "dropout_forward").cell_type = "markdown"
    del _cell(tampered, "dropout_forward")["outputs"], _cell(tampered, "dropout_forward")["execution_count"]
    backward = _cell(tampered, "dropout_backward")
    backward.metadata = {}  # its cell id still names it
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())
    for name, code in answers.items():
        assert _cell(rebuilt.notebook, name).source == code
    assert "answer cells were put back in the released order" in rebuilt.notes


def test_of_two_cells_with_an_answers_name_the_last_is_graded_and_the_other_runs_as_a_cell() -> None:
    tampered = solution()
    copy_of = copy.deepcopy(_cell(tampered, "dropout_mask"))
    copy_of.id = "my-copy"
    copy_of.source = "# my newer version\n" + copy_of.source
    tampered.cells.append(copy_of)
    rebuilt = rebuild(tampered, release())
    assert_skeleton(rebuilt.notebook, release())
    assert _cell(rebuilt.notebook, "dropout_mask").source.startswith("# my newer version")
    assert any(cell.source == _cell(solution(), "dropout_mask").source for cell in rebuilt.notebook.cells)


def _random_tampering(rng: random.Random, notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = notebook.cells
    for _ in range(rng.randint(1, 6)):
        move = rng.choice(
            ["delete", "swap", "insert", "strip", "retype", "steal_name", "steal_id", "duplicate"]
        )
        i, j = rng.randrange(len(cells)), rng.randrange(len(cells))
        if move == "delete" and len(cells) > 2:
            del cells[i]
        elif move == "swap":
            cells[i], cells[j] = cells[j], cells[i]
        elif move == "insert":
            cells.insert(i, nbformat.v4.new_code_cell(f"inserted_{rng.randint(0, 99)} = 1"))
        elif move == "strip":
            cells[i].metadata = {}
        elif move == "retype":
            _strip(cells[i], rng.choice(["markdown", "code"]))
            cells[i].setdefault("outputs", []) if cells[i].cell_type == "code" else None
            cells[i].setdefault("execution_count", None) if cells[i].cell_type == "code" else None
        elif move == "steal_name":
            cells[i].metadata = copy.deepcopy(cells[j].metadata)
        elif move == "steal_id":
            cells[i]["id"] = cells[j]["id"]
        elif move == "duplicate":
            cells.insert(i, copy.deepcopy(cells[j]))
    return notebook


def test_random_tamperings_always_rebuild_to_the_released_skeleton() -> None:
    rng = random.Random(20261129)
    original = release()
    honest = solution()
    for _ in range(300):
        tampered = _random_tampering(rng, copy.deepcopy(honest))
        rebuilt = rebuild(tampered, original)
        assert_skeleton(rebuilt.notebook, original)
        again = rebuild(copy.deepcopy(rebuilt.notebook), original)
        assert nbformat.writes(again.notebook) == nbformat.writes(rebuilt.notebook), (
            "rebuilding is not idempotent"
        )


# --- preflight on a submission folder -------------------------------------------------------------------


@pytest.fixture
def course(tmp_path: Path):
    root = make_course(tmp_path / "course", (ASSIGNMENT,))
    shutil.copytree(EXERCISES / ASSIGNMENT, root / "release" / ASSIGNMENT)
    (root / "submitted").mkdir()
    return load_course(root)


def _cells() -> AssignmentCells:
    notebook = release()
    names = {grade_id(cell) for cell in notebook.cells} - {None, "setup"}
    tests = [name for name in names if name.startswith("test_")]
    return AssignmentCells({ASSIGNMENT: names}, {ASSIGNMENT: tests}, 23.0)


def _submit(course, student: str, notebook: nbformat.NotebookNode | None = None) -> Path:
    folder = course.submitted / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(notebook if notebook is not None else solution(), folder / f"{ASSIGNMENT}.ipynb")
    return folder


def _check(course, student: str, limits: FolderLimits | None = None):
    return preflight(course, ASSIGNMENT, student, _cells(), limits)


def test_an_honest_submission_passes_without_notes(course) -> None:
    folder = _submit(course, "honest")
    before = (folder / "masks.ipynb").read_bytes()
    result = _check(course, "honest")
    assert result.gradable and result.repairs == ()
    assert (folder / "masks.ipynb").read_bytes() == before
    assert not (folder / "masks.ipynb.submitted").exists()


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "gradebook-like.txt"
    secret.write_text("BEGIN HIDDEN TESTS")
    return secret


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("symlinked_notebook", "masks.ipynb is a symbolic link"),
        ("symlinked_file", "data.csv is a symbolic link"),
        ("symlinked_folder", "sub is a symbolic link"),
        ("hard_link", "helper.py is a hard link"),
        ("fifo", "pipe is a FIFO"),
        ("socket", "sock is a socket"),
        ("dangling_link", "gone.py is a symbolic link"),
    ],
)
def test_links_and_special_files_are_refused_by_name(course, tmp_path: Path, kind: str, words: str) -> None:
    folder = _submit(course, kind)
    secret = _secret(tmp_path)
    if kind == "symlinked_notebook":
        (folder / "masks.ipynb").unlink()
        nbformat.write(solution(), tmp_path / "elsewhere.ipynb")
        os.symlink(tmp_path / "elsewhere.ipynb", folder / "masks.ipynb")
    elif kind == "symlinked_file":
        os.symlink(secret, folder / "data.csv")
    elif kind == "symlinked_folder":
        os.symlink(tmp_path, folder / "sub")
    elif kind == "hard_link":
        os.link(secret, folder / "helper.py")
    elif kind == "fifo":
        os.mkfifo(folder / "pipe")
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(folder / "sock"))
        server.close()
    elif kind == "dangling_link":
        os.symlink(tmp_path / "missing", folder / "gone.py")
    result = _check(course, kind)
    assert not result.gradable and words in result.problem, result.problem
    assert "submission refused" in result.problem
    assert fingerprint(folder)  # hashing the same folder reads nothing through it and never blocks


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_a_device_node_is_refused(course) -> None:
    folder = _submit(course, "device")
    os.mknod(folder / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    result = _check(course, "device")
    assert not result.gradable and "zero is a character device" in result.problem


def test_a_student_folder_that_is_a_link_is_refused(course, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other" / ASSIGNMENT
    elsewhere.mkdir(parents=True)
    nbformat.write(solution(), elsewhere / "masks.ipynb")
    (course.submitted / "linked").mkdir()
    os.symlink(elsewhere, course.submitted / "linked" / ASSIGNMENT)
    result = _check(course, "linked")
    assert not result.gradable and "linked/masks is a symbolic link" in result.problem, result.problem


@pytest.mark.timeout(30)
def test_fingerprint_follows_no_link_and_opens_no_fifo(course, tmp_path: Path) -> None:
    folder = _submit(course, "prints")
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "fifo", folder / "fifo-link")
    os.mkfifo(folder / "own-fifo")
    target = tmp_path / "target.txt"
    target.write_text("one")
    os.symlink(target, folder / "link.txt")
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(fingerprint(folder)), daemon=True)
    worker.start()
    worker.join(10)
    assert done, "fingerprint blocked on a FIFO"
    target.write_text("two")  # the content behind a link is not part of the submission
    assert fingerprint(folder) == done[0]
    os.unlink(folder / "link.txt")
    os.symlink(tmp_path / "another", folder / "link.txt")
    assert fingerprint(folder) != done[0]


@pytest.mark.parametrize(
    ("limits", "extra", "words"),
    [
        (FolderLimits(max_notebook_bytes=10_000), 0, "the limit is 9.77 KiB"),
        (FolderLimits(max_files=5), 10, "more than 5 files"),
        (FolderLimits(max_total_bytes=20_000), 10_000, "more than 19.5 KiB of files"),
        (FolderLimits(max_depth=2), -1, "nested more than 2 folders deep"),
    ],
)
def test_folders_and_notebooks_over_the_limits_are_refused(course, limits, extra: int, words: str) -> None:
    folder = _submit(course, "big")
    for index in range(min(extra, 10)):
        (folder / f"file{index}.txt").write_text("x" * (extra // 10))
    if extra < 0:
        deep = folder / "a" / "b" / "c"
        deep.mkdir(parents=True)
        (deep / "x.txt").write_text("x")
    result = _check(course, "big", limits)
    assert not result.gradable and words in result.problem, result.problem


def test_text_over_the_cap_is_refused(course) -> None:
    notebook = solution()
    notebook.cells.append(nbformat.v4.new_code_cell("# " + "x" * MAX_SOURCE_BYTES))
    _submit(course, "wordy", notebook)
    result = _check(course, "wordy")
    assert not result.gradable and "of text; the limit is 2 MiB" in result.problem, result.problem


def test_outputs_are_dropped_and_only_image_attachments_kept(course) -> None:
    notebook = solution()
    code = next(cell for cell in notebook.cells if cell.cell_type == "code" and grade_id(cell) is None)
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>x</script>"})]
    note = nbformat.v4.new_markdown_cell("![a](attachment:a.png) ![b](attachment:b.html)")
    note.attachments = {"a.png": {"image/png": "iVBORw0KGgo="}, "b.html": {"text/html": "PHNjcmlwdD4="}}
    notebook.cells.append(note)
    folder = _submit(course, "outputs", notebook)
    result = _check(course, "outputs")
    assert result.gradable
    assert any("removed attachments" in note and "b.html" in note for note in result.repairs)
    rebuilt = nbformat.read(folder / "masks.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in rebuilt.cells)
    assert rebuilt.cells[-1].attachments == {"a.png": {"image/png": "iVBORw0KGgo="}}


def test_the_original_is_kept_and_a_rerun_gives_the_same_notes(course) -> None:
    tampered = solution()
    _strip(_cell(tampered, "setup"))
    tampered.cells = [cell for cell in tampered.cells if grade_id(cell) != "test_backward"]
    folder = _submit(course, "rerun", tampered)
    submitted = (folder / "masks.ipynb").read_bytes()
    first = _check(course, "rerun")
    assert first.gradable and first.repairs
    assert (folder / "masks.ipynb.submitted").read_bytes() == submitted
    assert_skeleton(nbformat.read(folder / "masks.ipynb", as_version=4), release())
    second = _check(course, "rerun")
    assert second.repairs == first.repairs
    assert (folder / "masks.ipynb.submitted").read_bytes() == submitted


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"cells": [ this is not json', "not a valid notebook"),
        (
            json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "x"}),
            "not a valid notebook",
        ),
        ("[" * 100_000, "not a valid notebook"),
        (b"\xff\xfe not utf-8", "not a valid notebook"),
    ],
)
def test_broken_notebooks_get_a_clear_reason(course, content: str | bytes, words: str) -> None:
    folder = course.submitted / "broken" / ASSIGNMENT
    folder.mkdir(parents=True)
    path = folder / "masks.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = _check(course, "broken")
    assert not result.gradable and words in result.problem, result.problem


def test_a_wrong_answer_keeps_its_code(course) -> None:
    wrong = next(entry for entry in entries(ASSIGNMENT) if entry.name == "missing_rescale")
    folder = _submit(course, "wrong", filled_notebook(release(), submission_cells(ASSIGNMENT, wrong)))
    assert _check(course, "wrong").gradable
    rebuilt = nbformat.read(folder / "masks.ipynb", as_version=4)
    for name, code in submission_cells(ASSIGNMENT, wrong).items():
        assert _cell(rebuilt, name).source == code
