"""The grading kernel's deferral of ``torch._dynamo`` (:mod:`autograder.probe.lazy_dynamo`).

Each case runs in a fresh interpreter (``python -I``), as a grading kernel does: whether
``torch._dynamo`` was imported is a property of the whole process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_without_deferral_a_meta_comparison_imports_dynamo() -> None:
    # The cost the module removes exists: if PyTorch stops importing dynamo here, the module is moot.
    out = _run("""
        import sys, torch
        torch.rand(4, device="meta") < 0.5
        print("torch._dynamo" in sys.modules)
    """)
    assert out == "True"


def test_deferred_meta_ops_and_zero_grad_do_not_import_dynamo_and_behave_the_same() -> None:
    code = """
        import sys, torch
        from autograder.probe import lazy_dynamo
        n = lazy_dynamo.defer() if DEFER else 1
        m = torch.rand(4, 5, device="meta") < 0.5
        w = torch.nn.Parameter(torch.ones(2))
        (w * 3).sum().backward()
        opt = torch.optim.SGD([w], lr=0.1)
        opt.zero_grad()
        print(n > 0, "torch._dynamo" in sys.modules, m.device, m.dtype, tuple(m.shape), w.grad)
    """
    deferred = _run(code.replace("DEFER", "True"))
    plain = _run(code.replace("DEFER", "False"))
    assert deferred.split(maxsplit=2)[:2] == ["True", "False"]
    assert plain.split(maxsplit=2)[:2] == ["True", "True"]
    assert deferred.split(maxsplit=2)[2] == plain.split(maxsplit=2)[2]  # same results, printed alike


def test_deferral_prints_nothing() -> None:
    assert _run("from autograder.probe import lazy_dynamo; lazy_dynamo.defer()") == ""


def test_once_dynamo_is_imported_the_real_disable_takes_over() -> None:
    out = _run("""
        import gc, sys, types, torch
        from autograder.probe import lazy_dynamo

        def stand_ins():
            return sum(
                1 for o in gc.get_objects()
                if type(o) is types.FunctionType
                and getattr(getattr(o, "__dynamo_disable", None), "__qualname__", "").startswith("_stand_in")
            )

        assert lazy_dynamo.defer() > 0
        before = stand_ins()
        import torch._dynamo
        torch.rand(4, device="meta") < 0.5
        after = stand_ins()
        compiled = torch.compile(lambda x: (x * 2).sum(), backend="eager")
        print(before > after, compiled(torch.ones(3)).item())
    """)
    assert out.split() == ["True", "6.0"]


def test_an_unexpected_pytorch_changes_nothing() -> None:
    out = _run("""
        import sys, torch, torch._compile
        from autograder.probe import lazy_dynamo
        torch._compile._disable_dynamo = lambda fn=None, recursive=True: fn  # another PyTorch's shape
        print(lazy_dynamo.defer())
    """)
    assert out == "0"


def test_nothing_is_deferred_once_dynamo_is_loaded() -> None:
    out = _run("""
        import torch, torch._dynamo
        from autograder.probe import lazy_dynamo
        print(lazy_dynamo.defer())
    """)
    assert out == "0"
