"""nbgrader plug-ins of the course: feedback without hidden tests, and a cap on a notebook's output.

:func:`configure` installs both in an nbgrader configuration; the course's ``nbgrader_config.py`` and
the throwaway courses of :mod:`autograder.grading.course` call it.

Feedback that shows scores and the messages of failed checks, never hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook as it is, so hidden test cells are
shown with their code, and a failing test's traceback quotes the lines it failed on. The
:class:`HideHiddenTests` preprocessor, placed in ``GenerateFeedback.preprocessors`` by the course's
``nbgrader_config.py``, rewrites every autograded test cell before rendering:

* the region between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is replaced by one
  comment line saying that hidden tests ran there;
* an error output keeps its exception name and message (the checks write messages that say what was
  expected and what was found) and loses its traceback.

Scores, visible tests, the student's own cells and their outputs are left as they are.

Output: nbgrader's ``LimitOutput`` counts lines, so one ``print('x' * 10**8)`` still makes a notebook of
100 MB. :class:`LimitOutputBytes` runs after it during autograding and cuts each cell's text to a byte
budget, saying how much was cut.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer

from .cells import is_test_cell

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests ran here; their code is not part of the feedback)"


def strip_hidden_region(source: str) -> tuple[str, bool]:
    """The source with every hidden region replaced by a placeholder line, and whether one was found."""
    lines, kept, hidden, found = source.splitlines(), [], False, False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN_HIDDEN:
            hidden = found = True
            kept.append(line[: len(line) - len(line.lstrip())] + PLACEHOLDER)
        elif stripped == END_HIDDEN:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept), found


class HideHiddenTests(Preprocessor):
    """nbconvert preprocessor: hidden test code and test tracebacks out, messages and scores kept."""

    # nbgrader registers its feedback preprocessors without enabling them; this one must always run.
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        if not is_test_cell(cell):
            return cell, resources
        cell.source, _ = strip_hidden_region(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


class LimitOutputBytes(Preprocessor):
    """Cut every cell's text output (streams, plain-text results, error messages) to ``max_bytes``."""

    enabled = Bool(True).tag(config=True)
    max_bytes = Integer(100_000, help="bytes of text output kept per cell").tag(config=True)

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        if cell.get("cell_type") != "code":
            return cell, resources
        budget = self.max_bytes
        for output in cell.get("outputs", []):
            for holder, key in _texts(output):
                text = holder[key]
                if isinstance(text, list):
                    text = "".join(text)
                if len(text) > budget:
                    cut = len(text) - budget
                    holder[key] = text[:budget] + f"\n[output cut by the grader: {cut:,} more characters]\n"
                    budget = 0
                else:
                    budget -= len(text)
        return cell, resources


def _texts(output: Any) -> list[tuple[Any, str]]:
    places: list[tuple[Any, str]] = []
    if "text" in output:
        places.append((output, "text"))
    data = output.get("data", {})
    if "text/plain" in data:
        places.append((data, "text/plain"))
    if "evalue" in output:
        places.append((output, "evalue"))
    return places


#: Where the plug-ins go in nbgrader's pipelines (nbgrader's defaults plus ours).
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.grading.nbgrader_plugins.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
AUTOGRADE_PREPROCESSORS = [
    "autograder.grading.judge.execute.JudgeExecute",  # test cells judged outside the kernel
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.grading.nbgrader_plugins.LimitOutputBytes",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def configure(c: Any) -> None:
    """Install the plug-ins in an nbgrader config object (``c = get_config()`` in nbgrader_config.py)."""
    c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)
    c.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)
