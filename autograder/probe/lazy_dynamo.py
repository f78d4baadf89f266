"""Keep a grading kernel from importing ``torch._dynamo`` (about a second) when nothing compiles.

PyTorch wraps some of its own Python functions in ``torch._disable_dynamo`` (the decompositions behind
many operators on the ``meta`` device, ``Optimizer.zero_grad``, ...). The wrapper imports
``torch._dynamo`` the first time the function is called, to build ``torch._dynamo.disable(fn)``, and
caches it on the function as ``fn.__dynamo_disable``. On a 2-core machine that import takes about a
second (it pulls in sympy and the FX machinery), paid by every fresh grading kernel whose answer
touches the ``meta`` device of the device checks: measured with the grader's phase
profile (``python -m autograder bench-grading``), it was the largest part of the judge's time.

While ``torch._dynamo`` has never been imported, no frame can be running under dynamo, so
``torch._dynamo.disable(fn)`` behaves exactly like ``fn``. :func:`defer` therefore puts, in each
wrapped function's cache slot, a stand-in that calls ``fn`` directly as long as ``torch._dynamo`` is
not in ``sys.modules``, and otherwise builds the real ``torch._dynamo.disable(fn)``, caches it in the
slot (as PyTorch would) and calls it. Eager results are unchanged; a notebook that does use
``torch.compile`` imports dynamo as before and gets the real wrappers from then on.

It relies on how ``torch._compile._disable_dynamo`` is written (an ``inner`` closure over ``fn``, the
``__dynamo_disable`` cache attribute). When the installed PyTorch differs, :func:`defer` changes
nothing and returns 0: slower, never different. (``Optimizer.step`` imports ``torch._dynamo`` by
itself, outside these wrappers; that import is left as it is.) The grader runs it in the kernel before
the setup cell (:mod:`autograder.grading.judge.execute`); it imports only the standard library and
torch.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable
from typing import Any

_SLOT = "__dynamo_disable"


def _inner_code() -> types.CodeType | None:
    """The code object of ``_disable_dynamo``'s wrapper, or None when PyTorch is not built that way."""
    try:
        import torch._compile as compile_module
    except ImportError:
        return None
    outer = getattr(compile_module, "_disable_dynamo", None)
    code = getattr(outer, "__code__", None)
    if code is None:
        return None
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == "inner" and "fn" in const.co_freevars:
            return const
    return None


def _stand_in(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        dynamo = sys.modules.get("torch._dynamo")
        if dynamo is None:
            return fn(*args, **kwargs)
        disabled = dynamo.disable(fn, True, wrapping=False)
        setattr(fn, _SLOT, disabled)
        return disabled(*args, **kwargs)

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def defer() -> int:
    """Give every already-made ``_disable_dynamo`` wrapper the stand-in; how many were given it."""
    if "torch._dynamo" in sys.modules:
        return 0
    code = _inner_code()
    if code is None:
        return 0
    deferred = 0
    for obj in gc.get_objects():
        # type(), not isinstance(): isinstance reads __class__, which some of torch's deprecated objects
        # answer with a warning that would land in the setup cell's output.
        if type(obj) is not types.FunctionType or obj.__code__ is not code or obj.__closure__ is None:
            continue
        cells = dict(zip(code.co_freevars, obj.__closure__, strict=True))
        try:
            fn = cells["fn"].cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(fn) and getattr(fn, _SLOT, None) is None:
            try:
                setattr(fn, _SLOT, _stand_in(fn))
            except (AttributeError, TypeError):  # a builtin or a slotted object: leave it as it is
                continue
            deferred += 1
    return deferred
