"""The environment a child process of this interpreter needs: this interpreter's ``bin`` first on PATH.

nbgrader calls ``alembic`` and jupyter-book calls ``jupyter`` by name, so the virtual environment's
scripts must come before anything else on PATH even when it was never activated. Every caller that
starts such a child (the book build, nbgrader runs, class grading) builds its environment here; none
changes ``os.environ``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def interpreter_bin() -> str:
    """The folder holding this interpreter and its environment's scripts."""
    return str(Path(sys.executable).parent)


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) with :func:`interpreter_bin` first on PATH."""
    env = dict(os.environ if base is None else base)
    parts = [part for part in env.get("PATH", "").split(os.pathsep) if part and part != interpreter_bin()]
    env["PATH"] = os.pathsep.join([interpreter_bin(), *parts])
    return env


def put_interpreter_on_path() -> None:
    """Put :func:`interpreter_bin` first on this process's own PATH (idempotent).

    The one exception to "build a child's environment, do not change ours": nbgrader's ``Gradebook``,
    opened in this process, runs ``alembic`` by name to create a new database.
    """
    os.environ["PATH"] = child_env()["PATH"]
