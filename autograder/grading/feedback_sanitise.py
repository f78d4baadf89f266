"""Feedback HTML that cannot attack its reader: what the student wrote is shown, never run.

nbgrader's feedback page renders the autograded notebook with nbconvert, and nbconvert puts a
notebook's HTML into the page as it is: a markdown cell's ``<script>``, an ``onerror=`` attribute, a
``javascript:`` link, an ``<iframe>``, an HTML or JavaScript output, a widget's state, an image whose
metadata says ``width="1 onerror=..."`` (nbconvert writes it unquoted) all run in the browser of whoever
opens the feedback (cross-site scripting against students and instructors).

:func:`sanitise_notebook` rewrites the notebook before it is rendered, so that everything the student
controls reaches the page either escaped as text or through the maintained sanitiser ``nh3`` (Rust's
ammonia) with an allowlist of harmless tags and attributes:

* markdown cells (and ``text/markdown`` outputs) are rendered to HTML here, with nbconvert's own
  markdown renderer and the cell's image attachments, then sanitised; the page receives that HTML as a
  single HTML block, which nbconvert's markdown step passes through unchanged;
* ``text/html`` outputs are sanitised; SVG (outputs and attachments) is shown only as an ``<img>``
  with a ``data:`` URL, where browsers run no script; PNG and JPEG data must be base64;
* JavaScript, widget and every other MIME type are removed, with a line saying so; the notebook's
  widget state and all metadata but nbgrader's (checked) go; raw cells are shown as text;
* links may go to ``http``, ``https`` and ``mailto`` only; images may be ``data:image/...`` or
  ``http(s)``; no ``id``, ``class``, ``style`` or event attribute survives.

The template's own scripts (MathJax, loaded with its ``Safe`` extension, which refuses ``javascript:``
in ``\\href``) are untouched: they are not the student's.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Any

import nbformat

#: Tags a student's HTML may keep (the text, tables, lists and images a notebook normally shows).
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre",
    "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
}
#: Tags removed together with everything inside them.
REMOVED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript"}
#: Output MIME types the feedback shows (after sanitising); everything else is removed.
SHOWN_TYPES = ("text/plain", "text/html", "text/latex", "image/png", "image/jpeg")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|svg\+xml);base64,[A-Za-z0-9+/=\s]*$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NUMBER = re.compile(r"^\d{1,5}(\.\d{1,3})?$")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """nh3's per-attribute check: URLs must be harmless, sizes plain numbers."""
    value = value.strip()
    if name == "src":
        remote = value.lower().startswith(("https://", "http://"))
        return value if remote or _DATA_IMAGE.match(value) else None
    if name == "href":
        return value if value.lower().startswith(("https://", "http://", "mailto:", "#")) else None
    if name in ("width", "height", "colspan", "rowspan", "start"):
        return value if _NUMBER.match(value) else None
    return value


def clean_html(fragment: str) -> str:
    """``fragment`` sanitised by nh3: allowlisted tags and attributes, harmless URLs, no scripts."""
    import nh3

    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags=REMOVED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def is_base64(data: Any) -> bool:
    if not isinstance(data, str):
        return False
    try:
        base64.b64decode("".join(data.split()).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return True


def _image_attachments(cell: Any) -> dict[str, dict[str, str]]:
    """A markdown cell's attachments that are images with base64 data (SVG text is encoded here)."""
    kept: dict[str, dict[str, str]] = {}
    attachments = cell.get("attachments")
    for name, bundle in attachments.items() if isinstance(attachments, dict) else []:
        for mime in IMAGE_TYPES:
            data = bundle.get(mime) if isinstance(bundle, dict) else None
            if is_base64(data):
                kept[str(name)] = {mime: "".join(data.split())}
                break
    return kept


def markdown_to_html(source: str, attachments: dict[str, dict[str, str]] | None = None) -> str:
    """Markdown rendered as nbconvert renders it (math kept for MathJax), then sanitised."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    try:
        renderer = IPythonRenderer(escape=False, attachments=attachments or {})
        rendered = MarkdownWithMath(renderer=renderer).render(source)
    except Exception:  # noqa: BLE001 - a markdown the renderer rejects is shown as text
        rendered = f"<pre>{html.escape(source)}</pre>"
    return clean_html(rendered)


def as_html_block(fragment: str) -> str:
    """Safe HTML as one line inside a ``<div>``: markdown passes such a block through untouched.

    Newlines become ``&#10;`` (the same character to the browser, inside ``<pre>`` too), so no blank
    line can end the block and let the rest be read as markdown.
    """
    return "<div>" + fragment.replace("\r", "").replace("\n", "&#10;") + "</div>"


def _svg_as_image(svg: Any) -> str:
    text = "".join(svg) if isinstance(svg, list) else str(svg)
    encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{encoded}" alt="SVG figure">'


def _removed(mime: str) -> str:
    return f"[an output of type {mime} is not shown in the feedback: only text, HTML and images are]"


def sanitise_output(output: Any) -> Any | None:
    """One output made safe to render, or None to drop it."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=str(output.get("text", "")))
    if kind == "error":
        traceback = output.get("traceback")
        return nbformat.v4.new_output(
            "error",
            ename=str(output.get("ename", "Error")),
            evalue=str(output.get("evalue", "")),
            traceback=[str(line) for line in traceback] if isinstance(traceback, list) else [],
        )
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    metadata = output.get("metadata") if isinstance(output.get("metadata"), dict) else {}
    shown: dict[str, str] = {}
    notes = []
    for mime, value in data.items():
        text = "".join(map(str, value)) if isinstance(value, list) else value
        if mime == "text/html" and isinstance(text, str):
            shown["text/html"] = clean_html(text)
        elif mime == "text/markdown" and isinstance(text, str):
            shown.setdefault("text/html", markdown_to_html(text))
        elif mime == "image/svg+xml" and isinstance(text, str):
            shown.setdefault("text/html", _svg_as_image(text))
        elif mime in ("image/png", "image/jpeg") and is_base64(text):
            shown[mime] = "".join(text.split())
        elif mime in ("text/plain", "text/latex") and isinstance(text, str):
            shown[mime] = text
        else:
            notes.append(_removed(mime))
    if not shown:
        shown["text/plain"] = "\n".join(notes) or _removed("unknown")
    sizes = {}
    for mime in ("image/png", "image/jpeg"):
        given = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
        size = {k: v for k, v in given.items() if k in ("width", "height") and _NUMBER.match(str(v))}
        if mime in shown and size:
            sizes[mime] = size
    if kind == "execute_result":
        count = output.get("execution_count")
        count = count if isinstance(count, int) and not isinstance(count, bool) else None
        return nbformat.v4.new_output("execute_result", data=shown, metadata=sizes, execution_count=count)
    return nbformat.v4.new_output("display_data", data=shown, metadata=sizes)


def _nbgrader_metadata(cell: Any) -> dict[str, Any] | None:
    """The cell's nbgrader metadata if it is well formed (names the template prints must be plain)."""
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
    if not isinstance(meta, dict):
        return None
    name = meta.get("grade_id")
    if name is not None and not (isinstance(name, str) and _SAFE_NAME.match(name)):
        return None
    kept = {}
    for key, value in meta.items():
        if isinstance(value, bool | int | float) or value is None:
            kept[key] = value
        elif isinstance(value, str) and (key in ("comment", "checksum") or _SAFE_NAME.match(value)):
            kept[key] = value
    return kept


def sanitise_cell(cell: Any, index: int) -> Any:
    """One cell made safe to render: a new cell with only what the feedback template needs."""
    kind = cell.get("cell_type")
    source = cell.get("source", "")
    source = "".join(map(str, source)) if isinstance(source, list) else str(source)
    meta = _nbgrader_metadata(cell)
    if kind == "code":
        new = nbformat.v4.new_code_cell(source)
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        new.outputs = [safe for output in outputs if (safe := sanitise_output(output)) is not None]
        count = cell.get("execution_count")
        new.execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
    elif kind == "markdown":
        new = nbformat.v4.new_markdown_cell(as_html_block(markdown_to_html(source, _image_attachments(cell))))
    else:  # raw cells and anything unknown: shown as text
        new = nbformat.v4.new_markdown_cell(as_html_block(f"<pre>{html.escape(source)}</pre>"))
    if meta is not None:
        new.metadata["nbgrader"] = meta
    cell_id = cell.get("id")
    new["id"] = cell_id if isinstance(cell_id, str) and _CELL_ID.match(cell_id) else f"cell-{index}"
    return new


def sanitise_notebook(notebook: Any) -> Any:
    """The notebook with every cell sanitised and its metadata reduced to the language's name."""
    language = notebook.get("metadata", {}).get("language_info", {}).get("name", "python")
    notebook.metadata = {"language_info": {"name": language if _SAFE_NAME.match(str(language)) else "python"}}
    notebook.cells = [sanitise_cell(cell, index) for index, cell in enumerate(notebook.get("cells", []))]
    return notebook
