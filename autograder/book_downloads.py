"""Sphinx extension for the book: every executed chapter offers its ``.ipynb``, outputs included.

sphinx-book-theme's download menu lists a page's ``.ipynb`` only when the page's context has an
``ipynb_source``, and the theme sets that only while building launch buttons (Binder, JupyterHub, ...),
which this offline book has none of. myst-nb already writes each executed notebook, outputs included,
to ``_build/jupyter_execute/<page>.ipynb``. This extension copies that file next to the page's other
sources (``_build/html/_sources/``) and sets ``ipynb_source``, before the theme builds its buttons
(priority 400 < the theme's 501). Pages that are not notebooks (the notation page) get no ``.ipynb``.

For a page whose outputs came from the execution cache (its code did not change since the last build),
myst-nb writes that file *without* outputs: it merges the cached outputs into its own copy only. The
extension then takes the executed notebook from the cache (jupyter-cache's
``merge_match_into_notebook``), so the download always holds the outputs the page shows.

``_config.yml`` loads it with ``sphinx: extra_extensions: [autograder.book_downloads]``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

#: The folder, next to the HTML output, where myst-nb writes executed notebooks.
EXECUTED_FOLDER = "jupyter_execute"
#: myst-nb's jupyter-cache, next to the HTML output (``execute_notebooks: cache``).
CACHE_FOLDER = ".jupyter_cache"


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
    merged = _from_cache(executed, outdir.parent / CACHE_FOLDER)
    if merged is None:
        shutil.copy2(executed, target)
    else:
        target.write_text(merged, encoding="utf-8")
    context["ipynb_source"] = f"{pagename}.ipynb"


def _from_cache(executed: Path, cache_dir: Path) -> str | None:
    """The executed notebook as JSON text from the execution cache, when ``executed`` (myst-nb's copy)
    has code cells that never ran; None when it is complete or the cache holds no match."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if all(cell.get("execution_count") for cell in code) or not cache_dir.is_dir():
        return None
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(cache_dir)).merge_match_into_notebook(notebook)
    except KeyError:  # no cached run of this code: leave myst-nb's copy as it is
        return None
    return nbformat.writes(merged)


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", add_notebook_download, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
