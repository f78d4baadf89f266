"""The parallel book build's page order: Sphinx's chunks of the dealt list carry balanced costs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sphinx.util.parallel import make_chunks

from autograder.book_parallel import balance_read_order, deal

PAGES = {
    "intro": 0.0, "notation": 0.0, "instructors": 0.0,
    "chapters/01": 3.0, "chapters/02": 0.0, "chapters/03": 0.0, "chapters/04": 5.0,
    "chapters/05": 1.0, "chapters/06": 2.0, "chapters/07": 4.0,
}  # fmt: skip


def _chunk_costs(order: list[str], costs: dict[str, float], jobs: int) -> list[float]:
    return [sum(costs[name] for name in chunk) for chunk in make_chunks(order, jobs)]


@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_each_of_sphinx_chunks_gets_a_fair_share_of_the_heavy_pages(jobs: int) -> None:
    order = deal(PAGES, jobs)
    assert sorted(order) == sorted(PAGES)  # a permutation: nothing dropped or read twice
    chunks = _chunk_costs(order, PAGES, jobs)
    assert len(chunks) == len(make_chunks(sorted(PAGES), jobs))  # Sphinx cuts the same chunk sizes
    # Alphabetically 04, 05, 06 and 07 share a chunk; the deal beats that, and no chunk exceeds a
    # fair share by more than the heaviest page (the greedy bound).
    alphabetical = _chunk_costs(sorted(PAGES), PAGES, jobs)
    assert max(chunks) <= max(alphabetical)
    if jobs == 2:  # CI's machine: the heavy chapters split between the two processes
        assert max(chunks) < max(alphabetical)
    assert max(chunks) <= sum(PAGES.values()) / jobs + max(PAGES.values())


def test_one_process_or_few_pages_keep_the_alphabetical_order() -> None:
    assert deal(PAGES, 1) == sorted(PAGES)
    assert deal({"b": 1.0, "a": 2.0}, 2) == ["a", "b"]


def test_the_handler_reorders_only_a_parallel_read(tmp_path) -> None:
    config = SimpleNamespace(book_page_costs={"chapters/04": 85, "chapters/07": 180, "chapters/01": 25})
    app = SimpleNamespace(parallel=2, config=config, srcdir=str(tmp_path), outdir=str(tmp_path / "html"))
    names = sorted(PAGES)
    balance_read_order(app, None, names)  # no cache: the listed costs count
    first, second = make_chunks(names, 2)
    assert ("chapters/04" in first) != ("chapters/07" in second) or "chapters/01" not in first
    assert {"chapters/04", "chapters/07"} - set(first) and {"chapters/04", "chapters/07"} - set(second)
    serial = sorted(PAGES)
    balance_read_order(SimpleNamespace(**{**vars(app), "parallel": 1}), None, serial)
    assert serial == sorted(PAGES)
