"""Feedback scripts: a correct answer whose outputs or markdown put live script into the feedback HTML
(cross-site scripting against whoever opens it: the instructor, or the student's classmates)."""

from __future__ import annotations

import base64
from typing import Any

from . import Attack, Context

_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.redteam=1">'
    '<script>window.redteam=2</script><rect width="1" height="1"/></svg>'
)


def _markdown(source: str, **extra: Any):  # noqa: ANN202 - an Edit
    def edit(notebook: Any, context: Context) -> None:
        import nbformat

        cell = nbformat.v4.new_markdown_cell(context.fill(source), **extra)
        notebook.cells.insert(3, cell)

    return edit


def _output(code: str) -> dict[str, str]:
    return {"dropout_mask": "from IPython.display import HTML, SVG, Javascript, Markdown, display\n" + code}


ATTACKS = [
    Attack(
        "html_output_script",
        "feedback-script",
        "an HTML output with a <script> element and an <img onerror> handler",
        base="solution",
        before=_output(
            'display(HTML(\'<script>window.redteam = "@TOKEN@"</script>'
            '<img src="x" onerror="window.redteam=1">\'))\n'
        ),
    ),
    Attack(
        "javascript_output",
        "feedback-script",
        "an application/javascript output (rendered as a <script> element)",
        base="solution",
        before=_output("display(Javascript('window.redteam = \"@TOKEN@\"'))\n"),
    ),
    Attack(
        "markdown_script",
        "feedback-script",
        "a markdown cell holding a <script> element and an <img onerror> handler",
        base="solution",
        edit=_markdown(
            'My notes.\n\n<script>window.redteam = 1</script>\n\n<img src="x" onerror="window.redteam=1">\n'
        ),
    ),
    Attack(
        "markdown_output_script",
        "feedback-script",
        "a text/markdown output holding a <script> element and an event handler",
        base="solution",
        before=_output(
            "display(Markdown('<script>window.redteam = 1</script>\\n\\n"
            '<b onmouseover="window.redteam=1">hi</b>\'))\n'
        ),
    ),
    Attack(
        "svg_output_onload",
        "feedback-script",
        "an image/svg+xml output (inlined into the page) with an onload handler and a <script>",
        base="solution",
        before=_output(f"display(SVG({_SVG!r}))\n"),
    ),
    Attack(
        "svg_attachment_onload",
        "feedback-script",
        "a markdown cell showing an SVG attachment with an onload handler and a <script>",
        base="solution",
        edit=_markdown(
            "![chart](attachment:chart.svg)\n",
            attachments={"chart.svg": {"image/svg+xml": base64.b64encode(_SVG.encode()).decode()}},
        ),
    ),
    Attack(
        "javascript_links",
        "feedback-script",
        "`javascript:` URLs in a markdown link, an HTML anchor and an HTML output",
        base="solution",
        edit=_markdown(
            '[my grades](javascript:window.redteam=1)\n\n<a href="javascript:window.redteam=1">here</a>\n'
        ),
        before=_output("display(HTML('<a href=\"javascript:window.redteam=1\">details</a>'))\n"),
    ),
    Attack(
        "frames_and_redirects",
        "feedback-script",
        "an HTML output with an <iframe srcdoc> script, an <object> of HTML and a <meta refresh> redirect",
        base="solution",
        before=_output(
            'display(HTML(\'<iframe srcdoc="&lt;script&gt;parent.redteam=1&lt;/script&gt;"></iframe>'
            '<object data="data:text/html,&lt;script&gt;parent.redteam=1&lt;/script&gt;"></object>'
            '<meta http-equiv="refresh" content="0; url=https://example.com/login">\'))\n'
        ),
    ),
]
