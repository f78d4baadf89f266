"""Sphinx extension for the book: every executed chapter offers its ``.ipynb``, outputs included.

sphinx-book-theme's download menu lists a page's ``.ipynb`` only when the page's context has an
``ipynb_source``, and the theme sets that only while building launch buttons (Binder, JupyterHub, ...),
which this offline book has none of. myst-nb already writes each executed notebook, outputs included,
to ``_build/jupyter_execute/<page>.ipynb``. This extension copies that file next to the page's other
sources (``_build/html/_sources/``) and sets ``ipynb_source``, before the theme builds its buttons
(priority 400 < the theme's 501). Pages that are not notebooks (the notation page) get no ``.ipynb``.

``_config.yml`` loads it with ``sphinx: extra_extensions: [autograder.book_downloads]``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

#: The folder, next to the HTML output, where myst-nb writes executed notebooks.
EXECUTED_FOLDER = "jupyter_execute"


def add_notebook_download(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                          doctree: Any) -> None:
    """``html-page-context`` handler: publish the page's executed notebook and point the theme at it."""
    if doctree is None:  # a page generated from a template (search, index): no source
        return
    outdir = Path(app.outdir)
    executed = outdir.parent / EXECUTED_FOLDER / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = outdir / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", add_notebook_download, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
