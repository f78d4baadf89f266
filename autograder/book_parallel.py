"""Sphinx extension for the book: read (and so execute) the chapters in parallel, balanced by cost.

myst-nb executes a chapter while Sphinx *reads* it, so a clean build costs the sum of the chapters'
run times when pages are read one after another. ``python -m autograder build-book`` starts Sphinx
with one reading process per core (``build_sphinx(jobs=N)``), and Sphinx hands each process a
contiguous chunk of the page list (``sphinx.util.parallel.make_chunks``). In alphabetical order the
expensive chapters can land in the same chunk, so this extension reorders the list before it is cut
(``env-before-read-docs``): pages are dealt to ``N`` bins, most expensive first, each to the bin with
the least cost so far (bins hold equal numbers of pages, as the chunks do), and the list is the bins
one after another.

A page costs nothing when the book's jupyter-cache already holds outputs for its current code (a
rebuild executes nothing for it); otherwise its cost is its entry in ``book_page_costs``
(``_config.yml``: rough seconds of a clean run), and zero for pages not listed.
The order changes only which process reads a page, never what is read or the HTML written. With
one process nothing is reordered.

``_config.yml`` loads it with ``sphinx: extra_extensions: [autograder.book_parallel]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def deal(costs: dict[str, float], bins: int) -> list[str]:
    """The page names in an order whose chunks, as Sphinx cuts them for ``bins`` processes
    (``make_chunks``), have costs as equal as a greedy deal makes them."""
    from sphinx.util.parallel import make_chunks

    if bins <= 1 or len(costs) <= bins:
        return sorted(costs)
    sizes = [len(chunk) for chunk in make_chunks(sorted(costs), bins)]
    chosen: list[list[str]] = [[] for _ in sizes]
    load = [0.0] * len(sizes)
    for name in sorted(costs, key=lambda name: (-costs[name], name)):
        open_bins = [i for i, size in enumerate(sizes) if len(chosen[i]) < size]
        target = min(open_bins, key=lambda i: (load[i], i))
        chosen[target].append(name)
        load[target] += costs[name]
    return [name for group in chosen for name in group]


def cached_pages(srcdir: Path, cache_dir: Path) -> set[str]:
    """Pages whose current code already has outputs in myst-nb's jupyter-cache (reading them executes
    nothing); empty when there is no cache or it cannot be read."""
    if not cache_dir.is_dir():
        return set()
    try:
        from jupyter_cache import get_cache

        cache = get_cache(str(cache_dir))
        found = set()
        for record in cache.list_project_records():
            try:
                name = Path(record.uri).relative_to(srcdir).with_suffix("").as_posix()
                if cache.get_cached_project_nb(record.uri) is not None:
                    found.add(name)
            except Exception:  # noqa: BLE001, S112 - a page the cache cannot match simply runs
                continue
        return found
    except Exception:  # noqa: BLE001 - the order is a hint; a cache it cannot read changes nothing
        return set()


def balance_read_order(app: Any, env: Any, docnames: list[str]) -> None:
    """``env-before-read-docs`` handler: reorder ``docnames`` in place for a balanced parallel read."""
    jobs = int(getattr(app, "parallel", 0) or 0)
    if jobs <= 1 or len(docnames) <= 5:  # Sphinx reads serially then
        return
    listed = dict(app.config.book_page_costs or {})
    srcdir = Path(app.srcdir)
    cached = cached_pages(srcdir, Path(app.outdir).parent / ".jupyter_cache")
    costs = {}
    for name in docnames:
        if name in listed and name not in cached:
            costs[name] = float(listed[name])
        else:
            costs[name] = 0.0
    docnames[:] = deal(costs, jobs)


def setup(app: Any) -> dict[str, Any]:
    app.add_config_value("book_page_costs", {}, "env")
    app.connect("env-before-read-docs", balance_read_order)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
