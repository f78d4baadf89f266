"""Bounds on what a notebook's outputs may weigh, for every output type and MIME type.

nbgrader's ``LimitOutput`` counts lines of text, and a byte cap on text alone let a 90 MB PNG or HTML
output through into the autograded notebook and the feedback file. :func:`limit_cell_outputs` bounds
one code cell's outputs in place, given the budget that is left for the whole notebook:

* text (streams, ``text/plain``, error messages and tracebacks) is cut to ``text_bytes`` per cell, with
  a line saying how much was cut;
* every other MIME type (``image/png``, ``text/html``, ``image/svg+xml``, JSON, ...) is kept whole or
  removed whole: a representation that does not fit in what is left of ``cell_bytes`` (per cell) or of
  the notebook's budget is replaced by a ``text/plain`` note naming its type and size;
* output metadata over ``metadata_bytes`` is dropped, and a cell keeps at most ``max_outputs`` outputs.

The sizes are UTF-8 bytes of the stored strings (what the notebook file and the feedback page hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MiB = 2**20


@dataclass(frozen=True)
class OutputLimits:
    """What one notebook's outputs may weigh after autograding (and again before feedback is written)."""

    text_bytes: int = 100_000
    cell_bytes: int = 2 * MiB
    notebook_bytes: int = 8 * MiB
    metadata_bytes: int = 16_384
    max_outputs: int = 200


def size_of(value: Any, limit: int) -> int:
    """UTF-8 size of a JSON-like value's strings plus a little per item; stops counting past ``limit``."""
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) if item.isascii() else len(item.encode("utf-8", "surrogatepass"))
        elif isinstance(item, dict):
            total += 2 * len(item) + 2
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            total += len(item) + 2
            pending.extend(item)
        else:
            total += 8
    return total


class _Budget:
    """What one cell may still add: text (``text``) and anything at all (``total``, text included)."""

    def __init__(self, text: int, total: int) -> None:
        self.text, self.total = text, total

    def cut(self, text: str) -> str:
        """``text`` within the budget (with a note saying how much was cut); the budget is charged."""
        allowed = min(self.text, self.total)
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if size <= allowed:
            self.text -= size
            self.total -= size
            return text
        kept = text[:allowed]
        self.total -= allowed
        self.text = 0
        return kept + f"\n[output cut by the grader: {len(text) - len(kept):,} more characters]\n"


def _note(mime: str, size: int, why: str) -> str:
    return f"[an output of type {mime} ({size / 1024:,.0f} KiB) was removed by the grader: {why}]"


def _as_text(value: Any) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def limit_cell_outputs(cell: Any, limits: OutputLimits, notebook_left: int) -> int:
    """Bound ``cell``'s outputs in place; return what is left of the notebook's budget."""
    import nbformat

    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return notebook_left
    start = min(limits.cell_bytes, notebook_left)
    budget = _Budget(limits.text_bytes, start)
    why = (
        f"over the limit of {limits.cell_bytes // 1024:,} KiB per cell "
        f"or {limits.notebook_bytes // MiB} MiB per notebook"
    )
    kept: list[Any] = []
    for output in outputs[: limits.max_outputs]:
        if not isinstance(output, dict):
            continue
        for key in ("text", "evalue"):
            if key in output:
                output[key] = budget.cut(_as_text(output[key]))
        if isinstance(output.get("traceback"), list):
            lines = []
            for line in output["traceback"]:
                if min(budget.text, budget.total) <= 0:
                    lines.append("[traceback cut by the grader]")
                    break
                lines.append(budget.cut(str(line)))
            output["traceback"] = lines
        metadata_size = size_of(output.get("metadata", {}), limits.metadata_bytes)
        if metadata_size > min(limits.metadata_bytes, budget.total):
            output["metadata"] = {}
        else:
            budget.total -= metadata_size
        data = output.get("data")
        if isinstance(data, dict):
            for mime in [m for m in data if m != "text/plain"]:
                size = size_of(data[mime], budget.total)
                if size > budget.total:
                    del data[mime]
                    plain = _as_text(data.get("text/plain", ""))
                    data["text/plain"] = (plain + "\n" + _note(mime, size, why)).strip()
                else:
                    budget.total -= size
            if "text/plain" in data:
                data["text/plain"] = budget.cut(_as_text(data["text/plain"]))
        kept.append(output)
    if len(outputs) > limits.max_outputs:
        dropped = len(outputs) - limits.max_outputs
        text = f"[{dropped:,} more outputs removed by the grader: at most {limits.max_outputs} per cell]\n"
        kept.append(nbformat.v4.new_output("stream", name="stdout", text=text))
    cell["outputs"] = kept
    return max(0, notebook_left - (start - max(0, budget.total)))
