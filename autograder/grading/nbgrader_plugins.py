"""nbgrader plug-ins of the course: feedback without hidden tests or live student HTML, bounded output.

:func:`configure` installs them in an nbgrader configuration; the course's ``nbgrader_config.py`` and
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
100 MB, and a byte cap on text alone let PNG and HTML outputs of any size through. :class:`LimitOutputBytes`
runs after it during autograding, and again before feedback is rendered, and bounds every output of
every MIME type per cell and per notebook (:mod:`~autograder.grading.output_limits`).

Feedback is also an attack on its reader: :class:`SanitiseFeedback`, the last step before rendering,
shows the student's HTML, JavaScript, SVG and markdown scripts as text or strips them
(:mod:`~autograder.grading.feedback_sanitise`, with ``nh3``).
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, default

from .cells import is_test_cell
from .feedback_sanitise import sanitise_notebook
from .output_limits import OutputLimits, limit_cell_outputs, size_of

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
    """Bound every output of every MIME type: ``max_bytes`` of text per cell, ``max_cell_bytes`` of
    anything per cell, ``max_notebook_bytes`` per notebook (see :mod:`~autograder.grading.output_limits`)."""

    enabled = Bool(True).tag(config=True)
    max_bytes = Integer(OutputLimits.text_bytes, help="bytes of text output kept per cell").tag(config=True)
    max_cell_bytes = Integer(OutputLimits.cell_bytes, help="bytes of output of any type per cell").tag(
        config=True
    )
    max_notebook_bytes = Integer(OutputLimits.notebook_bytes, help="bytes of output per notebook").tag(
        config=True
    )
    max_outputs = Integer(OutputLimits.max_outputs, help="outputs kept per cell").tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        limits = OutputLimits(
            text_bytes=self.max_bytes,
            cell_bytes=self.max_cell_bytes,
            notebook_bytes=self.max_notebook_bytes,
            max_outputs=self.max_outputs,
        )
        left = limits.notebook_bytes
        for cell in nb.cells:
            if cell.get("cell_type") == "code":
                left = limit_cell_outputs(cell, limits, left)
        return nb, resources


class BoundedExecute(Execute):
    """nbgrader's ``Execute`` that stops keeping a cell's outputs once they pass ``max_streamed_bytes``.

    nbclient keeps every output message of a running cell in the grader's memory until the cell ends,
    so ``while True: print('x' * 10**6)`` fills the grading process (not the sandboxed kernel) for as
    long as the cell's time limit allows. Past the budget, per cell or per notebook, further outputs are
    dropped as they arrive and one line says so; errors still pass (``LimitOutputBytes`` cuts them).
    It also waits longer (30 s, not nbclient's 4 s) for a finished cell's last outputs.
    """

    max_streamed_bytes = Integer(32 * 2**20, help="output bytes kept per cell while it runs").tag(config=True)
    max_streamed_notebook_bytes = Integer(128 * 2**20, help="output bytes kept per notebook").tag(config=True)

    @default("iopub_timeout")
    def _iopub_timeout_default(self) -> int:
        # nbclient waits 4 s for a finished cell's last outputs and then fails the whole notebook; on a
        # loaded machine that zeroed every test of correct submissions. The cell time limit is unchanged.
        return 30

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> tuple[Any, dict]:
        self._streamed: dict[int, int] = {}
        self._stopped: set[int] = set()
        return super().preprocess(nb, resources, km)

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        if msg.get("msg_type") == "error":
            return super().output(outs, msg, display_id, cell_index)
        streamed, stopped = getattr(self, "_streamed", {}), getattr(self, "_stopped", set())
        self._streamed, self._stopped = streamed, stopped
        size = size_of(msg.get("content", {}), self.max_streamed_bytes)
        streamed[cell_index] = streamed.get(cell_index, 0) + size
        if (
            streamed[cell_index] > self.max_streamed_bytes
            or sum(streamed.values()) > self.max_streamed_notebook_bytes
        ):
            if cell_index not in stopped:
                stopped.add(cell_index)
                note = (
                    f"[further output of this cell was dropped by the grader: over "
                    f"{self.max_streamed_bytes // 2**20} MiB per cell or "
                    f"{self.max_streamed_notebook_bytes // 2**20} MiB per notebook]\n"
                )
                outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)


class SanitiseFeedback(Preprocessor):
    """nbconvert preprocessor: the student's HTML, scripts and metadata made harmless before rendering."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        return sanitise_notebook(nb), resources


#: Where the plug-ins go in nbgrader's pipelines (nbgrader's defaults plus ours).
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.grading.nbgrader_plugins.HideHiddenTests",
    "autograder.grading.nbgrader_plugins.LimitOutputBytes",
    "autograder.grading.nbgrader_plugins.SanitiseFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
AUTOGRADE_PREPROCESSORS = [
    "autograder.grading.nbgrader_plugins.BoundedExecute",
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
    # The feedback page: SVG only as <img> (no script runs there), no local files read into the page;
    # SanitiseFeedback has cleaned the HTML already (nbconvert's own bleach pass would mangle tables).
    c.HTMLExporter.skip_svg_encoding = False
    c.HTMLExporter.embed_images = False
