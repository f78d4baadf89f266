"""``python -m autograder build-book``: build the course book into offline HTML (``book/_build/html``).

What the build guarantees:

* **Offline.** Math is typeset by a local MathJax 3 (npm's ``mathjax``, installed on first use into
  the ignored ``book/_mathjax/`` and copied into ``book/_mathjax_static/mathjax/``, which
  ``_config.yml`` serves as a static path and names in ``mathjax_path``). Nothing else on the pages
  comes from another host either (the browser test checks every request).
* **Strict.** jupyter-book runs with ``-W -n --keep-going``: every Sphinx warning (and every line a
  chapter writes to stderr, see ``execute.stderr_output``) fails the build, and a failing cell fails it
  too (``nb_execution_raise_on_error``).
* **Cached.** Chapters execute through jupyter-cache (``book/_build/.jupyter_cache``); a chapter whose
  code did not change is not executed again, so a rebuild after editing prose takes seconds.

:func:`build` is what the command and the test suite call.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.interpreter_env import child_env

#: The MathJax release the book is typeset with (npm package ``mathjax``).
MATHJAX_VERSION = "3.2.2"
#: What of MathJax's ``es5/`` folder the pages need: the combined component, its fonts, and the TeX
#: extensions it loads on demand (``\require``, autoloaded macros).
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts", "input/tex/extensions")
WARNING_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE)\b:")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def default_book_dir() -> Path:
    """``book/`` next to the package in a source checkout, else ``./book``."""
    beside_package = Path(__file__).resolve().parent.parent / "book"
    return beside_package if (beside_package / "_config.yml").is_file() else Path.cwd() / "book"


@dataclass
class BuildResult:
    """What one build did: its exit status, the warnings it printed, where the HTML is."""

    returncode: int
    seconds: float
    html_dir: Path
    log: str
    warnings: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.html_dir / "index.html"

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.warnings and self.index.is_file()


# --------------------------------------------------------------------------------------------------
# MathJax, local.
# --------------------------------------------------------------------------------------------------
def mathjax_static_dir(book_dir: Path) -> Path:
    """The static folder ``_config.yml`` lists in ``html_static_path``."""
    return book_dir / "_mathjax_static"


def ensure_mathjax(book_dir: Path, *, log: bool = True) -> Path:
    """Make ``book/_mathjax_static/mathjax/`` hold MathJax ``MATHJAX_VERSION``; return that folder.

    Installs the npm package into ``book/_mathjax/`` when it is missing (npm's registry is the one
    network access of a first build; later builds are fully offline).
    """
    target = mathjax_static_dir(book_dir) / "mathjax"
    stamp = target / ".version"
    if stamp.is_file() and stamp.read_text().strip() == MATHJAX_VERSION:
        return target
    prefix = book_dir / "_mathjax"
    package = prefix / "node_modules" / "mathjax"
    if _installed_version(package) != MATHJAX_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "the book's math needs a local MathJax, installed with npm, and npm is not on PATH; "
                "install Node.js (Debian: apt-get install nodejs npm) and build again"
            )
        prefix.mkdir(parents=True, exist_ok=True)
        if log:
            print(f"installing mathjax@{MATHJAX_VERSION} from npm into {prefix}", flush=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix),
             f"mathjax@{MATHJAX_VERSION}"],
            check=True,
            stdout=subprocess.DEVNULL if not log else None,
        )
    if target.exists():
        shutil.rmtree(target)
    for part in MATHJAX_PARTS:
        source = package / "es5" / part
        destination = target / part
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    stamp.write_text(MATHJAX_VERSION + "\n")
    return target


def _installed_version(package: Path) -> str | None:
    manifest = package / "package.json"
    if not manifest.is_file():
        return None
    import json

    return str(json.loads(manifest.read_text()).get("version"))


# --------------------------------------------------------------------------------------------------
# The build.
# --------------------------------------------------------------------------------------------------
def build(book_dir: Path | None = None, *, fresh: bool = True, echo: bool = True) -> BuildResult:
    """Build the book's HTML; return the result (never raises for a failed build, check ``.ok``).

    Args:
        book_dir: the book's source folder (default :func:`default_book_dir`).
        fresh: re-read and re-write every page (Sphinx's fresh environment; the default), so that
            every page's navigation shows the current titles. Execution stays cached either way;
            delete ``book/_build`` (``--clean``) for a clean build.
        echo: copy the build's output to this process's stdout as it runs.
    """
    book_dir = (book_dir or default_book_dir()).resolve()
    ensure_mathjax(book_dir, log=echo)
    command = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
        "build", str(book_dir), "--builder", "html", "-W", "-n", "--keep-going",
    ]
    if fresh:
        command.append("--all")
    env = child_env()
    # The kernel's interpreter is this one (ipykernel's "python3" spec runs sys.executable); its
    # scripts (jupyter, ...) go first on PATH. Quiet noise that would otherwise reach stderr.
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env.setdefault("TQDM_DISABLE", "1")
    # Half the cores for a chapter's torch threads: the rest stay free for Sphinx and the kernel's I/O.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // 2)))
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=book_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group: we can end it, and only it, on interrupt
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        returncode = process.wait()
    except BaseException:
        _end_process_group(process)
        raise
    finally:
        _end_process_group(process)  # kernels or servers it may have left behind, if any
    log = "".join(lines)
    return BuildResult(
        returncode=returncode,
        seconds=time.perf_counter() - start,
        html_dir=book_dir / "_build" / "html",
        log=log,
        warnings=[plain for plain in (ANSI_RE.sub("", line).strip() for line in lines)
                  if WARNING_RE.search(plain)],
    )


def _end_process_group(process: subprocess.Popen[str]) -> None:
    """End what the build started: the process group we created for it (by its id), nothing else."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--book-dir", type=Path, default=None, help="the book's source folder (default: book/)"
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="delete book/_build first (outputs and the execution cache): every chapter runs again",
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="re-read only changed pages (faster; other pages' navigation may show stale titles)",
    )


def run(args: argparse.Namespace) -> int:
    book_dir = (args.book_dir or default_book_dir()).resolve()
    if args.clean and (book_dir / "_build").exists():
        shutil.rmtree(book_dir / "_build")
    result = build(book_dir, fresh=not args.incremental)
    if result.ok:
        print(f"\nBook built in {result.seconds:.1f} s. Open it in a browser:\n  {result.index}\n")
        return 0
    print(
        f"\nThe book build FAILED after {result.seconds:.1f} s (exit status {result.returncode}, "
        f"{len(result.warnings)} warnings/errors; warnings count as errors):",
        file=sys.stderr,
    )
    for warning in result.warnings:
        print(f"  {warning}", file=sys.stderr)
    return result.returncode or 1
