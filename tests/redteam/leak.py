"""Leaks: a correct answer whose outputs carry the hidden tests or the checks' source into the feedback."""

from __future__ import annotations

from . import Attack
from .snippets import PRINT_INTERESTING

ATTACKS = [
    Attack(
        "history_leak",
        "leak",
        "prints `In` in a cell that runs after hidden tests, and registers a post_run_cell hook that "
        "prints `_ih[-1]` (each test cell's own source) into every later cell's output",
        base="solution",
        after={
            "dropout_backward": """
print(In)
get_ipython().events.register("post_run_cell", lambda result: print(_ih[-1]))
"""
        },
    ),
    Attack(
        "stack_leak",
        "leak",
        "dropout_forward prints the call stack (test cell and checks' lines) the first times a check "
        "calls it",
        base="solution",
        after={
            "dropout_forward": """
import traceback

_honest_forward = dropout_forward
_printed = []


def dropout_forward(x, p=0.5, training=True, generator=None):
    if len(_printed) < 30:
        _printed.append(1)
        print("".join(traceback.format_stack()))
    return _honest_forward(x, p, training, generator)
"""
        },
    ),
    Attack(
        "error_message_leak",
        "leak",
        "dropout_forward raises an error whose message is the source of the calling lines (the feedback "
        "keeps error messages of test cells)",
        base="solution",
        after={
            "dropout_forward": """
import traceback


def dropout_forward(x, p=0.5, training=True, generator=None):
    lines = [frame.line for frame in traceback.extract_stack()[:-1] if frame.line]
    raise ValueError(" | ".join(reversed(lines))[:290])
"""
        },
    ),
    Attack(
        "checks_source",
        "leak",
        "prints `inspect.getsource(checks)` and the checks package's files read from disk (found from "
        "the package's own location when the notebook holds no `checks`)",
        base="solution",
        before={
            "dropout_mask": """
import glob
import inspect
import os

try:
    print(inspect.getsource(checks))
except Exception as _error:
    print("no checks in the notebook:", type(_error).__name__)
try:
    import autograder.checks.masks as _masks

    print(inspect.getsource(_masks))
except Exception as _error:
    print("cannot import the checks:", type(_error).__name__)
import autograder as _package

_folder = os.path.join(os.path.dirname(_package.__file__), "checks")
for _path in glob.glob(os.path.join(_folder, "*.py")):
    try:
        print(open(_path).read()[:20_000])
    except OSError as _error:
        print("cannot read", _path, type(_error).__name__)
print("files in the checks folder:", len(glob.glob(os.path.join(_folder, "*.py"))))
"""
        },
    ),
    Attack(
        "notebook_from_disk",
        "leak",
        "reads the notebook being graded from its working folder (the hidden tests are restored in it)",
        base="solution",
        before={
            "dropout_mask": PRINT_INTERESTING
            + """
import glob as _glob

for _path in _glob.glob("*.ipynb"):
    _show(_path)
"""
        },
    ),
    Attack(
        "traceback_formatting_crash",
        "leak",
        "a wrong answer plus a module in sys.modules whose __file__ is not a string: IPython cannot format "
        "the failing tests' errors and prints the raw tracebacks (hidden test lines) as plain output",
        base="wrong",
        before={
            "dropout_forward": """
import sys
import types

_poison = types.ModuleType("_poison")
_poison.__file__ = object()
sys.modules["_poison"] = _poison
"""
        },
    ),
]
