"""Structure tampering: edits of the notebook's cells and metadata that change what runs or what counts."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from . import Attack, Context
from .snippets import NO_OP_CHECKS, WRITE_OUTSIDE


def _meta(cell: Any) -> dict[str, Any]:
    return cell.metadata.get("nbgrader", {})


def _index(notebook: Any, grade_id: str) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if _meta(cell).get("grade_id") == grade_id)


def _code_cell(source: str, **metadata: Any) -> Any:
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.update(metadata)
    return cell


_FAKE_SETUP = "import torch\n" + NO_OP_CHECKS


def _strip_setup_metadata(notebook: Any, context: Context) -> None:
    setup = notebook.cells[_index(notebook, "setup")]
    setup.metadata.pop("nbgrader")
    setup.source = _FAKE_SETUP


def _markdown_setup(notebook: Any, context: Context) -> None:
    import nbformat

    at = _index(notebook, "setup")
    old = notebook.cells[at]
    markdown = nbformat.v4.new_markdown_cell(old.source, metadata=copy.deepcopy(old.metadata))
    markdown.id = old.id
    notebook.cells[at] = markdown
    notebook.cells.insert(at + 1, _code_cell(_FAKE_SETUP))


def _setup_id_on_student_cell(notebook: Any, context: Context) -> None:
    at = _index(notebook, "setup")
    old = notebook.cells[at]
    impostor = _code_cell(_FAKE_SETUP, nbgrader=copy.deepcopy(_meta(old)))
    impostor.id = old.id
    old.metadata.pop("nbgrader")
    old.id = uuid.uuid4().hex[:8]
    notebook.cells.insert(at + 1, impostor)


def _test_id_on_student_cell(notebook: Any, context: Context) -> None:
    at = _index(notebook, "test_dropout_mask_rate")
    test = notebook.cells[at]
    impostor = _code_cell(NO_OP_CHECKS)
    impostor.id = test.id
    test.id = uuid.uuid4().hex[:8]
    notebook.cells.insert(_index(notebook, "setup") + 1, impostor)


def _duplicate_ids(notebook: Any, context: Context) -> None:
    at = _index(notebook, "setup")
    impostor = _code_cell(NO_OP_CHECKS)
    impostor.id = notebook.cells[at].id
    notebook.cells.insert(at + 1, impostor)


def _reorder(notebook: Any, context: Context) -> None:
    forward = notebook.cells.pop(_index(notebook, "dropout_forward"))
    notebook.cells.insert(_index(notebook, "setup"), forward)


_FORWARD_TESTS = ("test_forward_values", "test_forward_modes", "test_forward_dtype_device_input",
                  "test_forward_randomness", "test_backward", "test_forward_backward_visible")  # fmt: skip


def _delete_tests(notebook: Any, context: Context) -> None:
    notebook.cells = [cell for cell in notebook.cells if _meta(cell).get("grade_id") not in _FORWARD_TESTS]


def _extra_grade_cell(notebook: Any, context: Context) -> None:
    bonus = {"grade": True, "grade_id": "bonus", "locked": True, "points": 50, "schema_version": 3,
             "solution": False, "task": False}  # fmt: skip
    notebook.cells.append(_code_cell("pass", nbgrader=bonus))


def _inflate_points(notebook: Any, context: Context) -> None:
    for cell in notebook.cells:
        if "points" in _meta(cell):
            cell.metadata["nbgrader"]["points"] = 10 * cell.metadata["nbgrader"]["points"]


def _answer_cell_as_test(notebook: Any, context: Context) -> None:
    for grade_id in ("dropout_mask", "dropout_forward", "dropout_backward"):
        meta = notebook.cells[_index(notebook, grade_id)].metadata["nbgrader"]
        meta.update({"grade": True, "solution": False, "points": 10, "locked": True})


def _swap_kernel(notebook: Any, context: Context) -> None:
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}


ATTACKS = [
    Attack(
        "strip_setup_metadata",
        "structure",
        "the locked setup cell loses its nbgrader metadata and defines no-op checks instead",
        edit=_strip_setup_metadata,
    ),
    Attack(
        "markdown_setup",
        "structure",
        "the setup cell is turned into markdown; a new code cell after it defines no-op checks",
        edit=_markdown_setup,
    ),
    Attack(
        "setup_id_on_student_cell",
        "structure",
        "a student cell carries the setup cell's id and metadata (and defines no-op checks); the real "
        "setup cell loses both",
        edit=_setup_id_on_student_cell,
    ),
    Attack(
        "test_id_on_student_cell",
        "structure",
        "a student cell after the setup cell carries a hidden test cell's id and defines no-op checks",
        edit=_test_id_on_student_cell,
    ),
    Attack(
        "duplicate_ids",
        "structure",
        "a cell defining no-op checks carries the setup cell's id (two cells, one id)",
        edit=_duplicate_ids,
    ),
    Attack(
        "reordered_cells",
        "structure",
        "a wrong answer whose dropout_forward cell (which patches torch.allclose/equal) is moved above "
        "the setup cell",
        base="wrong",
        before={
            "dropout_forward": "import torch\n"
            "torch.equal = lambda *args, **kwargs: True\n"
            "torch.allclose = lambda *args, **kwargs: True\n"
        },
        edit=_reorder,
    ),
    Attack(
        "deleted_test_cells",
        "structure",
        "a wrong answer with the test cells of dropout_forward and dropout_backward deleted",
        base="wrong",
        edit=_delete_tests,
    ),
    Attack(
        "extra_grade_cell",
        "structure",
        "a blank answer plus a new autograded cell worth 50 points that always passes",
        edit=_extra_grade_cell,
    ),
    Attack(
        "inflated_points",
        "structure",
        "the correct answer with every test cell's points multiplied by 10 in the metadata",
        base="solution",
        edit=_inflate_points,
    ),
    Attack(
        "answer_cells_as_tests",
        "structure",
        "a blank answer whose answer cells are marked as locked autograded cells worth 10 points each",
        edit=_answer_cell_as_test,
    ),
    Attack(
        "kernelspec_swap",
        "structure",
        "the notebook asks for the plain `python3` kernel (no sandbox) and writes outside its folder",
        base="solution",
        edit=_swap_kernel,
        before={
            "dropout_mask": WRITE_OUTSIDE
            + """
for _target in ("@COURSE@/@TAG@.txt", "@REPO@/@TAG@.txt"):
    _try_write(_target)
"""
        },
    ),
]
