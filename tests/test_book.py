"""The book: it builds offline with zero warnings, every chapter executes, and a real browser shows it.

The build is the one ``python -m autograder build-book`` runs (:func:`autograder.book_build.build`),
into ``book/_build/html`` with its execution cache, so after ``make book`` this is quick and on a fresh
clone it executes every chapter. The browser test opens every page in headless Chromium (Debian's
``chromium``, installed by ``.ci/system-deps.sh``) from a server on 127.0.0.1 and checks that the math
was typeset, every image loaded and no request left the machine; it saves one screenshot per page
under ``book/_build/screenshots/``. It also reads each page as a reader would: no table left as
run-on pipe text, a title that names the page (not the book's title twice), no ``glue()`` plumbing
in the code a chapter shows, and, on every executed chapter, a working ``.ipynb`` download.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from autograder import book_build

BOOK = book_build.default_book_dir()


def _toc_pages() -> tuple[str, ...]:
    """Every page of the book, in the order of ``_toc.yml`` (the root first)."""
    import yaml

    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    return (toc["root"], *(entry["file"] for entry in toc.get("chapters", [])))


PAGES = _toc_pages()
CHAPTERS = tuple(page for page in PAGES if page.startswith("chapters/"))
#: The first test pays for a clean build (every chapter executed: about 7 minutes on 2 free cores).
pytestmark = pytest.mark.timeout(1800)
CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SCREENSHOTS = BOOK / "_build" / "screenshots"


@pytest.fixture(scope="module")
def built_book() -> book_build.BuildResult:
    result = book_build.build(BOOK, echo=False)
    assert result.returncode == 0, f"the book build failed:\n{result.log[-6000:]}"
    return result


@pytest.mark.slow
def test_book_builds_with_zero_warnings(built_book: book_build.BuildResult) -> None:
    assert built_book.warnings == [], "\n".join(built_book.warnings)
    assert built_book.ok
    for page in PAGES:
        assert (built_book.html_dir / f"{page}.html").is_file(), page


@pytest.mark.slow
def test_every_chapter_executed_without_errors(built_book: book_build.BuildResult) -> None:
    """The execution cache holds a run of each chapter's *current* code, every cell run, no error."""
    import jupytext
    from jupyter_cache import get_cache

    cache = get_cache(BOOK / "_build" / ".jupyter_cache")
    for chapter in CHAPTERS:
        source = jupytext.read(BOOK / f"{chapter}.md")
        record = cache.match_cache_notebook(source)  # KeyError: this code was never executed
        executed = cache.get_cache_bundle(record.pk).nb
        code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
        assert len(code_cells) == sum(cell.cell_type == "code" for cell in source.cells), chapter
        for index, cell in enumerate(code_cells):
            assert cell.execution_count is not None, f"{chapter}: code cell {index} did not run"
            errors = [out for out in cell.outputs if out.get("output_type") == "error"]
            assert not errors, f"{chapter}: code cell {index} raised {errors[0].get('ename')}"
            stderr = [out for out in cell.outputs if out.get("name") == "stderr"]
            assert not stderr, f"{chapter}: code cell {index} wrote to stderr: {stderr[0].get('text')}"
        html = (built_book.html_dir / f"{chapter}.html").read_text()
        assert 'class="pasted-text"' in html, f"{chapter}: no computed number was pasted into the prose"
        assert "cell_output" in html, f"{chapter}: the page shows no output"


_TAG = re.compile(r"<(script|img|link)\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'\b(src|href|rel)="([^"]*)"', re.IGNORECASE)
_LOADED_LINKS = {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "shortcut icon"}


def _loaded_urls(html: str) -> list[str]:
    """What a page *loads* through its markup: script and image sources, style sheets, preloads, icons."""
    urls = []
    for tag in _TAG.finditer(html):
        attrs = {name.lower(): value for name, value in _ATTR.findall(tag.group(0))}
        if tag.group(1).lower() == "link":
            if attrs.get("rel", "").lower() in _LOADED_LINKS and "href" in attrs:
                urls.append(attrs["href"])
        elif "src" in attrs:
            urls.append(attrs["src"])
    return urls


@pytest.mark.slow
def test_pages_reference_no_other_host(built_book: book_build.BuildResult) -> None:
    """Static check of what the markup loads (links to other sites are fine: they load nothing)."""
    pages_with_math = 0
    for page in PAGES:
        html = (built_book.html_dir / f"{page}.html").read_text()
        external = [url for url in _loaded_urls(html) if re.match(r"^(https?:)?//", url)]
        assert not external, f"{page} loads from another host: {external}"
        if 'class="math' in html:
            pages_with_math += 1
            assert "_static/mathjax/tex-mml-chtml.js" in html, f"{page} does not use the local MathJax"
    assert pages_with_math >= 2
    assert (built_book.html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


# --------------------------------------------------------------------------------------------------
# The browser test.
# --------------------------------------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served_book(built_book: book_build.BuildResult) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(built_book.html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/system-deps.sh, run by make test)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic",
            ],  # playwright gives the browser a fresh temporary profile of its own
        )
        try:
            yield browser
        finally:
            browser.close()


_RAW_TEX_IN_PROSE = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_output, .highlight')
      .forEach(node => node.remove());
  const text = copy.innerText;
  return ['$$', '\\\\(', '\\\\)', '\\\\[', '\\\\]', '\\\\frac'].filter(marker => text.includes(marker));
}"""

_PIPE_TEXT = """() => Array.from(document.querySelectorAll('main p, main li'))
  .filter(node => !node.closest('pre, code, table, .highlight'))
  .flatMap(node => node.innerText.split('\\n').map(line => line.trim()))
  .filter(line => /\\|\\s*:?-{3,}:?\\s*\\|/.test(line))"""  # a table's | --- | row, left as text

_VISIBLE_GLUE = """() => Array.from(document.querySelectorAll('.cell:not(.tag_hide-input) .cell_input'))
  .flatMap(cell => cell.innerText.split('\\n'))
  .filter(line => /^\\s*glue\\(/.test(line))"""

_NOTEBOOK_LINKS = """() => Array.from(document.querySelectorAll('a'))
  .map(a => a.getAttribute('href') || '').filter(href => href.endsWith('.ipynb'))"""

_IMAGES = """() => Array.from(document.images).map(img => ({
  src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth }))"""


@pytest.mark.slow
@pytest.mark.parametrize("page_name", PAGES)
def test_page_in_a_browser(browser: object, served_book: str, page_name: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    requests: list[str] = []
    failed: list[str] = []

    def route(route_: object) -> None:
        url = route_.request.url  # type: ignore[attr-defined]
        requests.append(url)
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in LOCAL_HOSTS:
            route_.abort()  # type: ignore[attr-defined]  # recorded above; the test fails below
        else:
            route_.continue_()  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))

    def on_response(response: object) -> None:
        if response.status >= 400:  # type: ignore[attr-defined]
            failed.append(f"{response.status} {response.url}")  # type: ignore[attr-defined]

    page.on("response", on_response)
    try:
        page.goto(f"{served_book}/{page_name}.html", wait_until="networkidle", timeout=90_000)
        has_math = page.evaluate("() => document.querySelectorAll('.math, div.math, span.math').length") > 0
        if has_math:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000
            )
            page.evaluate("() => MathJax.startup.promise")
            typeset = page.evaluate("() => document.querySelectorAll('mjx-container').length")
            assert typeset > 0, f"{page_name}: MathJax typeset nothing"
            errors = page.evaluate("() => document.querySelectorAll('mjx-merror, [data-mjx-error]').length")
            assert errors == 0, f"{page_name}: {errors} formulas failed to typeset"
        raw = page.evaluate(_RAW_TEX_IN_PROSE)
        assert not raw, f"{page_name}: raw TeX left in the prose: {raw}"
        pipes = page.evaluate(_PIPE_TEXT)
        assert not pipes, f"{page_name}: Markdown table syntax shown as text (not rendered): {pipes[:3]}"
        _check_title(page_name, page.title(), page.evaluate("() => document.querySelector('h1').innerText"))
        if page_name in CHAPTERS:
            glue_lines = page.evaluate(_VISIBLE_GLUE)
            assert not glue_lines, (
                f"{page_name}: {len(glue_lines)} lines of glue() plumbing shown to readers (tag their cell "
                f"remove-cell): {glue_lines[:3]}"
            )
            _check_notebook_download(page, served_book, page_name)
        page.wait_for_load_state("networkidle")
        images = page.evaluate(_IMAGES)
        broken = [image["src"] for image in images if not image["complete"] or image["width"] == 0]
        assert not broken, f"{page_name}: images that did not load: {broken}"
        if page_name in CHAPTERS:
            figures = [image for image in images if image["src"].endswith(".png")]
            assert figures, f"{page_name}: no figure on the page"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(page_name).name}.png"), full_page=True)
    finally:
        context.close()
    external = [
        url for url in requests
        if urlparse(url).scheme not in ("data", "blob", "about") and urlparse(url).hostname not in LOCAL_HOSTS
    ]
    assert not external, f"{page_name} made requests that left the machine: {external}"
    assert not failed, f"{page_name}: failed requests: {failed}"


def _check_title(page_name: str, title: str, heading: str) -> None:
    """The tab title is "<this page's heading> — <book title>", never the book's title twice."""
    parts = [part.strip() for part in title.split("—")]
    assert len(set(parts)) == len(parts), f"{page_name}: the title repeats itself: {title!r}"
    assert heading.strip().rstrip("#").strip() in title, f"{page_name}: title {title!r} lacks {heading!r}"


def _check_notebook_download(page: object, served_book: str, page_name: str) -> None:
    """The download menu offers this chapter's executed notebook, and the file is one, with outputs."""
    import json

    links = page.evaluate(_NOTEBOOK_LINKS)  # type: ignore[attr-defined]
    wanted = f"{Path(page_name).name}.ipynb"
    assert any(link.endswith(wanted) for link in links), f"{page_name}: no .ipynb download: {links}"
    link = next(link for link in links if link.endswith(wanted))
    response = page.request.get(urljoin(page.url, link))  # type: ignore[attr-defined]
    assert response.status == 200, f"{page_name}: {link} answered {response.status}"
    notebook = json.loads(response.text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code and all(cell.get("execution_count") for cell in code), f"{page_name}: {link} is not executed"
    assert any(cell["outputs"] for cell in code), f"{page_name}: {link} has no outputs"


@pytest.mark.slow
def test_reader_checks_catch_what_they_look_for(browser: object) -> None:
    """The table and plumbing checks fire on a run-on table and on shown glue(), and only there."""
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.set_content("<main><p>| check | rate |\n| --- | --- |\n| keep | 1e-10 |</p></main>")
        assert page.evaluate(_PIPE_TEXT) == ["| check | rate | | --- | --- | | keep | 1e-10 |"]
        page.set_content("<main><table><tr><td>| --- |</td></tr></table><p>|x| and |y|</p>"
                         "<pre>| a | --- | c |</pre></main>")
        assert page.evaluate(_PIPE_TEXT) == []
        shown = '<div class="cell"><div class="cell_input"><pre>x = 1\nglue("a", x)</pre></div></div>'
        hidden = ('<div class="cell tag_hide-input"><div class="cell_input"><pre>glue("b", 1)</pre>'
                  '</div></div>')
        page.set_content(f"<main>{shown}{hidden}</main>")
        assert page.evaluate(_VISIBLE_GLUE) == ['glue("a", x)']
    finally:
        page.close()


def test_title_check_catches_a_doubled_title() -> None:
    """The check above fails on the intro page's old title and passes on a proper one."""
    with pytest.raises(AssertionError, match="repeats itself"):
        book = "Dropout, from the mask up"
        _check_title("intro", f"{book} — {book}", book)
    _check_title("intro", "How to use this book — Dropout, from the mask up", "How to use this book#")


def test_chromium_is_a_declared_system_dependency() -> None:
    """CI installs the browser through the project's own set-up script."""
    script = (Path(__file__).resolve().parent.parent / ".ci" / "system-deps.sh").read_text()
    assert re.search(r"^\s*need chromium chromium\b", script, re.MULTILINE)
    assert shutil.which("npm") or (BOOK / "_mathjax_static" / "mathjax" / ".version").is_file()
