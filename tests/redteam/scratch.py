"""From-scratch bypasses: built-in dropout (or the course's reference) that the detectors do not see.

Each attack keeps the solution's dropout_mask and dropout_backward and replaces dropout_forward by one
whose mask comes from built-in dropout reached some hidden way (``_builtin(t, p)``, defined at the top
of the cell, outside the answer function's own source) or from the reference. The part that cheats
must score nothing: such a submission may earn at most what the honest dropout_mask alone earns.
"""

from __future__ import annotations

from . import Attack

_FORWARD_FROM_BUILTIN = """

def dropout_forward(x, p=0.5, training=True, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    if generator is not None:
        torch.manual_seed(generator.initial_seed())
    kept = _builtin(torch.ones_like(x), p) != 0
    return x * kept * (1.0 / (1.0 - p)), (kept, 1.0 / (1.0 - p))
"""

_FORWARD_FROM_REFERENCE = """

def dropout_forward(x, p=0.5, training=True, generator=None):
    out, cache = _reference_forward(x, p, training, generator=generator)
    return out, (cache.mask, cache.scale)
"""


def _builtin(name: str, summary: str, helper: str) -> Attack:
    return Attack(
        name,
        "from-scratch",
        summary,
        base="solution",
        bound="mask_only",
        cells={"dropout_forward": "import torch.nn.functional as F\n" + helper + _FORWARD_FROM_BUILTIN},
    )


def _reference(name: str, summary: str, helper: str) -> Attack:
    return Attack(
        name, "from-scratch", summary, base="solution", bound="mask_only",
        cells={"dropout_forward": helper + _FORWARD_FROM_REFERENCE},
    )  # fmt: skip


ATTACKS = [
    _builtin(
        "dropout_via_helper",
        "F.dropout called through a helper defined outside the answer function",
        "_builtin = lambda t, p: F.dropout(t, p)\n",
    ),
    _builtin(
        "getattr_computed_name",
        "`getattr(F, 'drop' + 'out')`: the name is computed, never written",
        '_builtin = getattr(F, "drop" + "out")\n',
    ),
    _builtin(
        "importlib_lookup",
        "built-in dropout looked up through importlib and the module's __dict__",
        "import importlib\n"
        '_builtin = vars(importlib.import_module("torch.nn.functional"))["".join(["drop", "out"])]\n',
    ),
    _builtin(
        "aten_native_dropout",
        "`torch.ops.aten.native_dropout` reached with a computed attribute name",
        '_native = getattr(torch.ops.aten, "native_" + "drop" + "out")\n'
        "_builtin = lambda t, p: _native(t, p, True)[0]\n",
    ),
    _builtin(
        "vf_alias",
        "`torch._VF` imported under another name, its dropout called",
        "from torch import _VF as _fast\n_builtin = lambda t, p: _fast.dropout(t, p, True)\n",
    ),
    _builtin(
        "dropout_in_thread",
        "F.dropout run in another thread (profile hooks and torch function modes are per thread)",
        "import threading\n\n\n"
        "def _builtin(t, p):\n"
        "    box = []\n"
        "    worker = threading.Thread(target=lambda: box.append(F.dropout(t, p)))\n"
        "    worker.start()\n"
        "    worker.join()\n"
        "    return box[0]\n",
    ),
    _builtin(
        "setprofile_none_disable_torch_function",
        "`sys.setprofile(None)` plus `torch._C.DisableTorchFunction()` around F.dropout",
        "import sys\n\n\n"
        "def _builtin(t, p):\n"
        "    sys.setprofile(None)\n"
        "    with torch._C.DisableTorchFunction():\n"
        "        return F.dropout(t, p)\n",
    ),
    _builtin(
        "patch_detector_record",
        "pauses the detector's Watch and clears what it recorded after calling F.dropout",
        "from autograder.checks import harness as _harness\n\n\n"
        "def _builtin(t, p):\n"
        "    watch = _harness._WATCH.get()\n"
        "    if watch is not None:\n"
        "        watch.active = False\n"
        "    out = F.dropout(t, p)\n"
        "    if watch is not None:\n"
        "        watch.active = True\n"
        "        watch.found.clear()\n"
        "    return out\n",
    ),
    _builtin(
        "sdpa_dropout_p",
        "`F.scaled_dot_product_attention(..., dropout_p=p)` over one-token sequences is a dropout",
        "def _builtin(t, p):\n"
        "    flat = t.reshape(-1, 1, 1)\n"
        "    return F.scaled_dot_product_attention(flat, flat, flat, dropout_p=p).reshape(t.shape)\n",
    ),
    _builtin(
        "torchscript_dropout",
        "torch.dropout inside a TorchScript function (the interpreter calls aten directly)",
        "@torch.jit.script\n"
        "def _scripted(t: torch.Tensor, p: float) -> torch.Tensor:\n"
        "    return torch.dropout(t, p, True)\n\n\n"
        "_builtin = _scripted\n",
    ),
    _reference(
        "reference_source_exec",
        "the reference's source fetched with inspect and executed under another file name",
        "import inspect\nimport sys\nimport types\n\n"
        "import autograder.reference.functional as _original\n\n"
        '_notes = types.ModuleType("my_notes")\n'
        'sys.modules["my_notes"] = _notes\n'
        'exec(compile(inspect.getsource(_original), "<my notes>", "exec"), _notes.__dict__)\n'
        "_reference_forward = _notes.dropout_forward\n",
    ),
    _reference(
        "reference_code_renamed",
        "every reference function re-made from its code object with another co_filename",
        "import types\n\n"
        "import autograder.reference.functional as _original\n\n"
        "_globals = dict(vars(_original))\n"
        "for _name, _value in list(_globals.items()):\n"
        "    if isinstance(_value, types.FunctionType) and _value.__module__ == _original.__name__:\n"
        '        _code = _value.__code__.replace(co_filename="<my own work>")\n'
        "        _copy = types.FunctionType(\n"
        "            _code, _globals, _name, _value.__defaults__, _value.__closure__\n"
        "        )\n"
        "        _copy.__kwdefaults__ = _value.__kwdefaults__\n"
        "        _globals[_name] = _copy\n"
        '_reference_forward = _globals["dropout_forward"]\n',
    ),
]
