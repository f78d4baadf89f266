"""Outputs are bounded for every MIME type, and feedback HTML never runs what the student wrote.

The unit tests (well under a second) attack the output limits and the sanitiser directly. One class is
then graded through the real pipeline (``grade_class``, then ``nbgrader generate_feedback``; about two
minutes on two cores) with hostile submissions: notebooks whose markdown, outputs and metadata try to
run script in the reader's browser, outputs of tens of megabytes in PNG and HTML, a restructured
notebook, and submission folders holding links and special files. The generated pages are parsed and
every script, event attribute and URL in them is checked against those of an honest student's page.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.cells import grade_id
from autograder.grading.classroom import ClassReport, format_report, grade_class, load_course
from autograder.grading.course import nbgrader_env
from autograder.grading.feedback_sanitise import clean_html, sanitise_notebook
from autograder.grading.output_limits import OutputLimits, limit_cell_outputs
from autograder.grading.sandbox import Limits
from autograder.grading.synthetic_class import (
    make_graded_course,
    release_notebook,
    solution_submission,
    submit,
)

ASSIGNMENT = "masks"
MiB = 2**20


# --- output limits ---------------------------------------------------------------------------------------


def _display(mime: str, value: object, metadata: dict | None = None) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={mime: value}, metadata=metadata or {})


@pytest.mark.parametrize(
    "mime", ["image/png", "text/html", "image/svg+xml", "application/json", "text/latex"]
)
def test_an_output_of_any_type_over_the_cell_limit_is_replaced_by_a_note(mime: str) -> None:
    value = {"k": "x" * (3 * MiB)} if mime == "application/json" else "A" * (3 * MiB)
    cell = nbformat.v4.new_code_cell("big()")
    cell.outputs = [_display(mime, value), _display("image/png", "iVBORw0KGgo=")]
    left = limit_cell_outputs(cell, OutputLimits(), OutputLimits().notebook_bytes)
    first, second = cell.outputs
    assert (
        mime not in first.data
        and f"an output of type {mime} (3,072 KiB) was removed" in first.data["text/plain"]
    )
    assert second.data == {"image/png": "iVBORw0KGgo="}, "a small figure after a big one is kept"
    assert OutputLimits().notebook_bytes - left < 1000


def test_text_is_cut_and_the_notebook_budget_spans_cells() -> None:
    limits = OutputLimits(text_bytes=1000, cell_bytes=4000, notebook_bytes=10_000)
    cells = []
    for _ in range(5):
        cell = nbformat.v4.new_code_cell("print(...)")
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="t" * 5000),
            _display("image/png", "A" * 2500),
        ]
        cells.append(cell)
    left = limits.notebook_bytes
    for cell in cells:
        left = limit_cell_outputs(cell, limits, left)
    texts = [cell.outputs[0].text for cell in cells]
    assert texts[0].startswith("t" * 1000 + "\n[output cut by the grader: 4,000 more characters]")
    runs = [len(text) - len(text.lstrip("t")) for text in texts]
    assert all(run <= 1000 for run in runs)
    kept = [cell for cell in cells if "image/png" in cell.outputs[1].data]
    assert len(kept) == 2, "the notebook budget (10,000) holds two cells of about 4,000 bytes"
    stored = sum(runs) + 2500 * len(kept)
    assert stored <= limits.notebook_bytes


def test_errors_metadata_and_the_number_of_outputs_are_bounded() -> None:
    limits = OutputLimits(text_bytes=1000, max_outputs=50)
    cell = nbformat.v4.new_code_cell("spam()")
    cell.outputs = [
        nbformat.v4.new_output(
            "error", ename="ValueError", evalue="e" * 10_000, traceback=["line" * 1000] * 100
        ),
        _display("image/png", "iVBORw0KGgo=", metadata={"image/png": {"junk": "m" * 100_000}}),
        *[_display("text/plain", "x") for _ in range(1000)],
    ]
    limit_cell_outputs(cell, limits, limits.notebook_bytes)
    error, figure = cell.outputs[0], cell.outputs[1]
    assert len(error.evalue) < 1100 and len("".join(error.traceback)) < 200
    assert figure.metadata == {}
    assert len(cell.outputs) == 51 and "952 more outputs removed" in cell.outputs[-1].text


# --- the sanitiser ---------------------------------------------------------------------------------------

ATTACKS_HTML = [
    "<script>PWNED()</script>",
    '<img src="x" onerror="PWNED()">',
    '<a href="javascript:PWNED()">x</a>',
    '<a href=" JaVaScRiPt:PWNED()">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5QV05FRCgpPC9zY3JpcHQ+">x</a>',
    '<iframe src="https://example.org" srcdoc="<script>PWNED()</script>"></iframe>',
    '<object data="x.svg"></object><embed src="x.svg">',
    '<svg onload="PWNED()"><script>PWNED()</script></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror="PWNED()">',
    '<form action="javascript:PWNED()"><button formaction="javascript:PWNED()">b</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:PWNED()"><base href="javascript:PWNED()//">',
    '<div style="background:url(javascript:PWNED())" id="notebook" class="mermaid">x</div>',
    "<details open ontoggle=PWNED()>x</details>",
    '<img src="data:image/png;base64,AAAA" width="1 onerror=PWNED()">',
]


_ANSI_STYLE = re.compile(r"^((background-)?color: rgb\(\d{1,3},\d{1,3},\d{1,3}\);? ?)+$")


def _live(fragment: str) -> list[str]:
    """What in an HTML fragment could run script: script elements, event attributes, script URLs."""
    soup = BeautifulSoup(fragment, "html.parser")
    found = [
        f"<{tag.name}>" for tag in soup.find_all(["script", "iframe", "object", "embed", "form", "base"])
    ]
    found += [f"<{tag.name}>" for tag in soup.find_all("meta") if tag.get("http-equiv")]
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            lowered = "".join(text.split()).lower()
            if name.lower() == "style" and tag.name == "span" and _ANSI_STYLE.match(text):
                continue  # nbconvert's own colouring of escaped text (numbers only)
            if name.lower().startswith("on") or name.lower() in ("style", "srcdoc", "formaction"):
                found.append(f"{tag.name}[{name}]")
            elif lowered.startswith(("javascript:", "vbscript:", "data:text")) or (
                lowered.startswith("data:") and not (tag.name == "img" and name == "src")
            ):
                found.append(f"{tag.name}[{name}={text[:40]}]")
    return found


@pytest.mark.parametrize("attack", ATTACKS_HTML)
def test_clean_html_leaves_nothing_live(attack: str) -> None:
    cleaned = clean_html(attack)
    assert _live(cleaned) == []
    assert "pwned" not in cleaned.lower(), cleaned  # not even as text: every carrier was removed whole


def test_clean_html_keeps_what_notebooks_show() -> None:
    table = "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
    assert clean_html(table) == table
    figure = '<img src="data:image/png;base64,iVBORw0KGgo=" width="300" alt="f">'
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in clean_html(figure) and 'width="300"' in clean_html(
        figure
    )
    assert 'href="https://pytorch.org"' in clean_html('<a href="https://pytorch.org">docs</a>')


def test_sanitise_notebook_turns_every_student_part_into_text_or_clean_html() -> None:
    evil_svg = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="PWNED()"/>').decode()
    markdown = nbformat.v4.new_markdown_cell(
        "# Title\n\n![a](attachment:e.svg)\n\n" + "\n\n".join(ATTACKS_HTML)
    )
    markdown.attachments = {"e.svg": {"image/svg+xml": evil_svg}}
    code = nbformat.v4.new_code_cell("x")
    code.metadata = {
        "tags": ['x" onmouseover="PWNED()'],
        "nbgrader": {"grade_id": '"><script>PWNED()</script>'},
    }
    code.outputs = [
        _display("application/javascript", "PWNED()"),
        _display("application/vnd.jupyter.widget-view+json", {"model_id": "m"}),
        _display("text/html", ATTACKS_HTML[1], metadata={"text/html": {"isolated": True}}),
        _display("image/png", 'x" onerror="PWNED()'),
        _display(
            "image/png", "iVBORw0KGgo=", metadata={"image/png": {"width": "1 onerror=PWNED()", "height": 40}}
        ),
        _display("image/svg+xml", '<svg onload="PWNED()"/>'),
        _display("text/markdown", "[x](javascript:PWNED())"),
    ]
    raw = nbformat.v4.new_raw_cell("<script>PWNED()</script>")
    notebook = nbformat.v4.new_notebook(cells=[markdown, code, raw])
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    clean = sanitise_notebook(notebook)
    nbformat.validate(clean)
    assert clean.metadata == {"language_info": {"name": "python"}}
    assert _live(clean.cells[0].source) == [] and "<h1>Title" in clean.cells[0].source
    assert 'src="data:image/svg+xml;base64,' in clean.cells[0].source, (
        "an SVG attachment is shown as an image"
    )
    assert "nbgrader" not in clean.cells[1].metadata and "tags" not in clean.cells[1].metadata
    datas = [output.data for output in clean.cells[1].outputs]
    assert "not shown in the feedback" in datas[0]["text/plain"] and "not shown" in datas[1]["text/plain"]
    assert all(_live(data.get("text/html", "")) == [] for data in datas)
    assert "image/png" not in datas[3], "non-base64 PNG data is dropped"
    assert clean.cells[1].outputs[4].metadata == {"image/png": {"height": 40}}
    assert datas[5]["text/html"].startswith('<img src="data:image/svg+xml;base64,')
    assert clean.cells[2].cell_type == "markdown" and "&lt;script&gt;" in clean.cells[2].source


# --- a class graded through the real pipeline, then its feedback ------------------------------------------

# Generous: a loaded CI machine must not turn a slow `import torch` into lost points here.
LIMITS = Limits(cell_timeout_s=90, notebook_timeout_s=400, memory_mb=4096)

_XSS_CELLS = [
    "from IPython.display import HTML, SVG, Javascript, Markdown, display",
    "display(HTML('<script>window.PWNED=1</script><b onclick=\"window.PWNED=1\">bold</b>'))",
    "display(Javascript('window.PWNED=2'))",
    'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" onload="window.PWNED=3"></svg>\'))',
    "display(Markdown('<script>window.PWNED=4</script>[x](javascript:window.PWNED=4)'))",
    "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'm', 'version_major': 2,"
    " 'version_minor': 0}, 'text/plain': 'w'}, raw=True)",
    "display({'image/png': 'x\" onerror=\"window.PWNED=5'}, raw=True)",
    "display({'image/png': 'iVBORw0KGgo='}, raw=True,"
    " metadata={'image/png': {'width': '1 onerror=window.PWNED=6'}})",
    "display({'text/html': '<b>iso</b><script>window.PWNED=7</script>'}, raw=True,"
    " metadata={'text/html': {'isolated': True}})",
    "class Evil:\n    def _repr_html_(self):\n"
    "        return '<img src=x onerror=\"window.PWNED=8\">'\nEvil()",
    "print('<script>window.PWNED=9</script>')",
    "raise ValueError('<script>window.PWNED=10</script>')",
]
_XSS_MARKDOWN = "\n\n".join([
    "<script>window.PWNED=11</script>",
    '<img src="x" onerror="window.PWNED=12">',
    "[click](javascript:window.PWNED=13)",
    '<iframe srcdoc="<script>parent.PWNED=14</script>"></iframe>',
    '<object data="attachment:evil.svg"></object>',
    "![figure](attachment:evil.svg)",
])  # fmt: skip
_EVIL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.PWNED=15"><script>window.PWNED=16</script></svg>'
)
_FIGURE = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "from IPython.display import Image, display\nimport io\n"
    "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1], [1, 0])\nbuffer = io.BytesIO()\n"
    "fig.savefig(buffer, format='png')\ndisplay(Image(buffer.getvalue()))\n"
    "print('HONEST TEXT OUTPUT')"
)
_PNG = "display({'image/png': base64.b64encode(random.randbytes(%d)).decode()}, raw=True)"
_HUGE = [
    "import base64, random\nfrom IPython.display import HTML, display\n" + _PNG % 15_000_000,
    "display(HTML('<p>' + 'h' * 3_000_000 + '</p>'))",
    *[_PNG % 1_200_000] * 6,  # each fits in a cell; together they pass the notebook's budget
    "for _ in range(100):\n    print('f' * 1_000_000)",  # streamed past the budget while it runs
]


def _with_cells(notebook: nbformat.NotebookNode, sources: list[str], after: str = "setup") -> None:
    index = next(i for i, cell in enumerate(notebook.cells) if grade_id(cell) == after) + 1
    notebook.cells[index:index] = [nbformat.v4.new_code_cell(source) for source in sources]


def _restructured(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Setup stripped and made markdown, code above it, a test deleted, a student cell with a test's
    name, answers moved to the end in reverse."""
    setup = next(cell for cell in notebook.cells if grade_id(cell) == "setup")
    setup.metadata, setup.cell_type = {}, "markdown"
    del setup["outputs"], setup["execution_count"]
    notebook.cells.insert(0, nbformat.v4.new_code_cell("early = 'ran before the setup?'"))
    notebook.cells = [cell for cell in notebook.cells if grade_id(cell) != "test_backward"]
    test = next(cell for cell in notebook.cells if grade_id(cell) == "test_forward_values")
    fake = nbformat.v4.new_code_cell("pass  # a cell that claims to be test_forward_values")
    fake.metadata = dict(test.metadata)
    notebook.cells.insert(3, fake)
    answers = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    notebook.cells = [cell for cell in notebook.cells if cell not in answers] + answers[::-1]
    return notebook


def _students(course: Path, secrets: Path) -> dict[str, nbformat.NotebookNode]:
    release = release_notebook(course, ASSIGNMENT)
    wrong = next(entry for entry in entries(ASSIGNMENT) if entry.name == "missing_rescale")
    honest = filled_notebook(release, submission_cells(ASSIGNMENT, wrong))
    _with_cells(honest, [_FIGURE], after="dropout_mask")
    xss = solution_submission(course, ASSIGNMENT)
    _with_cells(xss, _XSS_CELLS)
    evil = nbformat.v4.new_markdown_cell(_XSS_MARKDOWN)
    evil.attachments = {"evil.svg": {"image/svg+xml": base64.b64encode(_EVIL_SVG.encode()).decode()}}
    xss.cells.append(evil)
    xss.cells.append(nbformat.v4.new_raw_cell("<script>window.PWNED=17</script>"))
    huge = solution_submission(course, ASSIGNMENT)
    _with_cells(huge, _HUGE)
    return {
        "honest_wrong": honest,
        "xss": xss,
        "huge_outputs": huge,
        "restructured_good": _restructured(solution_submission(course, ASSIGNMENT)),
        "restructured_wrong": _restructured(filled_notebook(release, submission_cells(ASSIGNMENT, wrong))),
    }


def _add_file_attacks(course: Path, secrets: Path) -> None:
    solutions = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    folder = submit(course, "symlinked_notebook", ASSIGNMENT, nbformat.v4.new_notebook())
    (folder / f"{ASSIGNMENT}.ipynb").unlink()
    os.symlink(solutions, folder / f"{ASSIGNMENT}.ipynb")
    folder = submit(course, "hard_link", ASSIGNMENT, solution_submission(course, ASSIGNMENT))
    os.link(course / "gradebook.db", folder / "notes.db")
    folder = submit(course, "fifo", ASSIGNMENT, solution_submission(course, ASSIGNMENT))
    os.mkfifo(folder / "pipe")
    folder = submit(course, "symlinked_data", ASSIGNMENT, solution_submission(course, ASSIGNMENT))
    os.symlink(secrets, folder / "data.csv")


@pytest.fixture(scope="module")
def graded() -> Iterator[tuple[Path, ClassReport]]:
    base = Path(tempfile.mkdtemp(prefix="feedback-test-", dir="/var/tmp"))
    try:
        course = make_graded_course(base / "course", (ASSIGNMENT,))
        secrets = base / "secret.txt"
        secrets.write_text("a secret the grader must not read")
        for student, notebook in _students(course, secrets).items():
            submit(course, student, ASSIGNMENT, notebook)
        _add_file_attacks(course, secrets)
        report = grade_class(ASSIGNMENT, course=load_course(course), jobs=2, limits=LIMITS, progress=False)
        print(format_report(report))
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
            cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield course, report
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _result(report: ClassReport, student: str):
    results = {result.student: result for result in report.results}
    return results[student]


def _page(course: Path, student: str) -> Path:
    return course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def _scripts(page: Path) -> set[tuple[str, str]]:
    soup = BeautifulSoup(page.read_text(), "html.parser")
    return {(str(tag.get("src", "")), tag.get_text()) for tag in soup.find_all("script")}


@pytest.mark.parametrize(
    ("student", "words"),
    [
        ("symlinked_notebook", "masks.ipynb is a symbolic link"),
        ("hard_link", "notes.db is a hard link"),
        ("fifo", "pipe is a FIFO"),
        ("symlinked_data", "data.csv is a symbolic link"),
    ],
)
def test_links_and_special_files_fail_that_student_only(graded, student: str, words: str) -> None:
    course, report = graded
    result = _result(report, student)
    assert (result.status, result.score) == ("failed", 0.0) and words in result.message, result.message
    assert not (course / "autograded" / student).exists(), "nothing of a refused submission ran"
    assert _result(report, "restructured_good").score == _result(report, "restructured_good").max_score


def test_restructuring_changes_no_score_and_says_what_was_restored(graded) -> None:
    course, report = graded
    good, wrong, plain = (
        _result(report, s) for s in ("restructured_good", "restructured_wrong", "honest_wrong")
    )
    assert good.score == good.max_score, good.message
    assert wrong.score == plain.score < plain.max_score, (wrong.message, plain.message)
    for words in ("restored deleted test cells test_backward", "restored locked cells", "setup cell (#1"):
        assert words in good.message, good.message
    autograded = nbformat.read(course / "autograded" / "restructured_good" / ASSIGNMENT / "masks.ipynb", 4)
    codes = [cell for cell in autograded.cells if cell.cell_type == "code"]
    assert grade_id(codes[0]) == "setup" and "early" in codes[1].source
    assert not any("claims to be" in cell.source for cell in autograded.cells)


def test_autograded_notebooks_and_feedback_are_bounded_for_every_mime_type(graded) -> None:
    course, report = graded
    assert _result(report, "huge_outputs").score == _result(report, "huge_outputs").max_score
    notebook = course / "autograded" / "huge_outputs" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert notebook.stat().st_size < 10 * MiB, notebook.stat().st_size
    assert _page(course, "huge_outputs").stat().st_size < 12 * MiB
    text = notebook.read_text()
    for words in ("an output of type image/png", "an output of type text/html", "dropped by the grader"):
        assert words in text, words


def test_feedback_runs_no_student_script(graded) -> None:
    course, _ = graded
    template_scripts = _scripts(_page(course, "honest_wrong"))
    for student in ("xss", "honest_wrong", "restructured_good", "huge_outputs"):
        page = _page(course, student)
        assert _scripts(page) <= template_scripts, f"{student}: a script that is not the template's"
        soup = BeautifulSoup(page.read_text(), "html.parser")
        body = soup.find("body")
        for tag in soup.find_all("script"):
            tag.decompose()  # the template's own scripts, checked above
        assert _live(str(body)) == [], student
        assert not body.find_all("svg"), "an SVG element is live in the page"
    text = _page(course, "xss").read_text()
    assert "PWNED=9" in text and "PWNED=10" in text, "printed text and error messages are still shown"


def test_an_honest_feedback_shows_text_figures_and_check_messages(graded) -> None:
    course, report = graded
    soup = BeautifulSoup(_page(course, "honest_wrong").read_text(), "html.parser")
    text = soup.get_text()
    assert "HONEST TEXT OUTPUT" in text
    assert "should be" in text, "the checks' messages are in the feedback"
    assert f"{_result(report, 'honest_wrong').score:g}" in text
    figures = [img for img in soup.find_all("img") if img.get("src", "").startswith("data:image/png;base64,")]
    assert figures and len(figures[0]["src"]) > 1000, "the matplotlib figure is shown"
    headings = [h.get_text() for h in soup.find_all("h1")]
    assert any("Assignment 1" in heading for heading in headings), "markdown is still rendered"


def test_outputs_stop_being_kept_while_a_cell_streams_past_its_budget() -> None:
    from autograder.grading.nbgrader_plugins import BoundedExecute

    executor = BoundedExecute(max_streamed_bytes=10_000, max_streamed_notebook_bytes=25_000)
    executor.reset_execution_trackers()
    executor.clear_before_next_output = False  # set when a cell starts
    outs: list = []

    def stream(text: str, cell: int = 0) -> None:
        message = {
            "msg_type": "stream",
            "parent_header": {"msg_id": "m"},
            "header": {"msg_type": "stream"},
            "content": {"name": "stdout", "text": text},
        }
        executor.output(outs, message, None, cell)

    for _ in range(100):
        stream("x" * 1000)
    *kept, note = outs
    assert 9 <= len(kept) <= 10 and sum(len(out.text) for out in kept) <= 10_000, len(kept)
    assert "dropped by the grader" in note.text
    other: list = []
    outs = other
    for _ in range(30):
        stream("y" * 1000, cell=1)
    assert sum(out.text.count("y") for out in other) < 15_000, "the notebook budget counts every cell"
