"""Call-time tracing: does the answer call built-in dropout or the course's reference while it runs?

While the probe runs student code, a ``TorchFunctionMode`` sees every torch function called
(``F.dropout``, ``torch.dropout``, ``torch.native_dropout``, ``nn.Dropout`` through ``F.dropout``, ...)
and a profile hook sees every Python call into ``autograder/reference`` and every C function whose
name contains "dropout". What it finds travels back with the reply.

This is the second, weaker layer of from-scratch detection: it runs in the student's process, which
can switch it off, so the judge lets it only *lower* a verdict. The first layer is the static policy
(:mod:`autograder.checks.policy`), applied by the judge to the notebook's source before anything runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch.overrides import TorchFunctionMode

_setprofile = sys.setprofile
_getprofile = sys.getprofile
#: The reference's folder, found by position (the probe must not import it).
REFERENCE_DIR = str(Path(__file__).resolve().parent.parent / "reference")
_FILE_IS_REFERENCE: dict[str, bool] = {}


def _calls_reference(filename: str) -> bool:
    """Whether a code object's file is part of ``autograder/reference`` (cached: the hook is hot)."""
    known = _FILE_IS_REFERENCE.get(filename)
    if known is None:
        try:
            known = str(Path(filename).resolve()).startswith(REFERENCE_DIR)
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
    """What :func:`watching` found; ``paused()`` lets trusted code call the reference itself."""

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
