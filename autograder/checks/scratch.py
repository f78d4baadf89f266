"""From-scratch enforcement: does an answer call built-in dropout or the course's reference?

Two independent detectors, both needed:

* **Source inspection** (:func:`source_violations`): the answer's own source is parsed and any
  ``torch``/``F``/``nn`` attribute with "dropout" in its name, a ``torch`` import of one, any use of
  ``autograder`` (the reference lives there) or a subclass of a built-in dropout layer is reported.
* **Call-time tracing** (:func:`watching`): while a check runs the answer, a ``TorchFunctionMode``
  sees every torch function called (``F.dropout``, ``torch.dropout``, ``torch.native_dropout``,
  ``nn.Dropout`` through ``F.dropout``, ...), and a profile hook sees every Python call into
  ``autograder/reference`` and every C function whose name contains "dropout". Hiding the call
  (``getattr(F, "drop" + "out")``, a helper defined elsewhere) does not escape this one.

Both hold their own references to ``sys.setprofile`` and friends, captured at import.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

import autograder.reference as _reference

_setprofile = sys.setprofile
_getprofile = sys.getprofile
_REFERENCE_DIR = str(Path(_reference.__file__).resolve().parent)
_TORCH_ROOTS = frozenset({"torch", "F", "nn", "functional", "_VF", "th", "Fn"})
_BUILTIN_DROPOUT_LAYERS: tuple[type, ...] = (torch.nn.modules.dropout._DropoutNd,)


_FILE_IS_REFERENCE: dict[str, bool] = {}


def _calls_reference(filename: str) -> bool:
    """Whether a code object's file is part of ``autograder/reference`` (cached: the hook is hot)."""
    known = _FILE_IS_REFERENCE.get(filename)
    if known is None:
        try:
            known = str(Path(filename).resolve()).startswith(_REFERENCE_DIR)
        except (OSError, ValueError):
            known = False
        _FILE_IS_REFERENCE[filename] = known
    return known


class _DropoutSpy(TorchFunctionMode):
    """Records every torch function with "dropout" in its name that is called while active."""

    def __init__(self, found: list[str]) -> None:
        super().__init__()
        self.found = found

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = getattr(func, "__name__", "") or ""
        if "dropout" in name.lower():
            module = getattr(func, "__module__", None) or "torch"
            self.found.append(f"calls built-in dropout {module}.{name}")
        return func(*args, **(kwargs or {}))


class Watch:
    """What :func:`watching` found; ``paused()`` lets a check call the reference itself."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.active = True

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.active = False
        try:
            yield
        finally:
            self.active = True


@contextmanager
def watching(*, builtin_allowed: bool = False) -> Iterator[Watch]:
    """Trace calls to built-in dropout (unless allowed) and to the reference while the block runs."""
    watch = Watch()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if not watch.active:
            return
        if event == "call" and _calls_reference(frame.f_code.co_filename):
            watch.found.append(f"calls the course's reference implementation ({frame.f_code.co_name})")
        elif event == "c_call" and not builtin_allowed:
            name = getattr(arg, "__name__", "") or ""
            if "dropout" in name.lower():
                watch.found.append(f"calls built-in dropout {name}")

    previous = _getprofile()
    spy = None if builtin_allowed else _DropoutSpy(watch.found)
    _setprofile(profile)
    try:
        if spy is None:
            yield watch
        else:
            with spy:
                yield watch
    finally:
        _setprofile(previous)


def _sources(answer: object) -> list[str]:
    """Source of a function, or of every function defined in a class body."""
    targets: list[object] = []
    if inspect.isclass(answer):
        for value in vars(answer).values():
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                targets.append(value)
    elif inspect.isfunction(answer) or inspect.ismethod(answer):
        targets.append(answer)
    sources = []
    for target in targets:
        try:
            sources.append(textwrap.dedent(inspect.getsource(target)))  # type: ignore[arg-type]
        except (OSError, TypeError):
            continue  # no source available: the call-time tracing still applies
    return sources


def _dotted(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _scan(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _dotted(node)
            if chain and chain[0] in _TORCH_ROOTS and "dropout" in node.attr.lower():
                found.append(f"uses built-in dropout {'.'.join(chain)}")
            if chain and chain[0] == "autograder":
                found.append(f"uses the course's reference ({'.'.join(chain)})")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("autograder"):
                found.append(f"imports from {module}")
            elif module.startswith("torch"):
                for alias in node.names:
                    if "dropout" in alias.name.lower():
                        found.append(f"imports built-in dropout {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("autograder"):
                    found.append(f"imports {alias.name}")
        elif isinstance(node, ast.Name) and node.id == "autograder":
            found.append("uses the autograder package (the reference lives there)")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and any(
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and "dropout" in arg.value.lower()
                for arg in node.args
            )
        ):
            found.append("looks up a dropout function by name with getattr")
    return found


def source_violations(answer: object, *, builtin_allowed: bool = False) -> list[str]:
    """Reasons (possibly none) why ``answer``'s own code is not from scratch."""
    found: list[str] = []
    if inspect.isclass(answer):
        for base in answer.__mro__[1:]:
            if not builtin_allowed and issubclass(base, _BUILTIN_DROPOUT_LAYERS):
                found.append(f"subclasses the built-in {base.__module__}.{base.__name__}")
                break
            if (getattr(base, "__module__", "") or "").startswith("autograder.reference"):
                found.append(f"subclasses the course's reference {base.__name__}")
                break
    for source in _sources(answer):
        for reason in _scan(source):
            if builtin_allowed and "built-in dropout" in reason:
                continue
            if reason not in found:
                found.append(reason)
    return found


_VERDICT_MARK = "is not written from scratch"


def is_verdict(message: str) -> bool:
    """Whether a failure message is the from-scratch verdict (not a behavioural failure)."""
    return _VERDICT_MARK in message


def verdict(parts: list[str], reasons: list[str]) -> str:
    """The message a student sees when an answer is not from scratch."""
    unique = list(dict.fromkeys(reasons))
    return (
        f"{' / '.join(parts)} {_VERDICT_MARK}: it {'; it '.join(unique[:3])}. "
        "This exercise asks you to build dropout yourself (a mask from torch.rand or bernoulli_, "
        "the 1/(1-p) scale), so every test of this part scores zero."
    )
