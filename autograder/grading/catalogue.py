"""The catalogue of known-wrong answers: how the grader proves it catches real mistakes.

Each :class:`WrongAnswer` replaces one or more solution cells of an assignment (by nbgrader
``grade_id``) with code that is wrong in one specific, realistic way; the other cells keep the
solution. ``python -m autograder selfcheck`` grades a submission built from each entry with nbgrader
and fails unless every entry loses points, and the test suite checks that every check in
:mod:`autograder.checks` catches at least one entry. Every misconception of COURSE.md is here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WrongAnswer:
    """A wrong implementation: ``cells`` maps solution-cell grade ids to the code that replaces them."""

    name: str
    assignment: str
    mistake: str
    cells: dict[str, str]
    tampers: bool = False  # monkeypatches torch or the checks (run last in-process: it pollutes)


# ---------------------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------------------
_CHECK_P = """    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
"""


def _mask(body: str, *, validate: bool = True) -> str:
    return (
        "def dropout_mask(shape, p, generator=None, device=None):\n" + (_CHECK_P if validate else "") + body
    )


def _forward(body: str, *, validate: bool = True) -> str:
    return (
        "def dropout_forward(x, p=0.5, training=True, generator=None):\n"
        + (_CHECK_P if validate else "")
        + body
    )


_FORWARD_STANDARD = """    if not training or p == 0.0:
        return x, (None, 1.0)
    if p == 1.0:
        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
"""

MASKS: list[WrongAnswer] = [
    WrongAnswer(
        "randn_mask",
        "masks",
        "mask from torch.randn(shape) > p: keeps P(N(0,1) > p), about 31% at p = 0.5, not 1 - p",
        {"dropout_mask": _mask("    return torch.randn(shape, generator=generator, device=device) > p\n")},
    ),
    WrongAnswer(
        "keep_drop_swapped",
        "masks",
        "keeps a unit with probability p (cs231n's convention) while PyTorch's p is the drop probability",
        {
            "dropout_mask": _mask("    return torch.rand(shape, generator=generator, device=device) < p\n"),
            # no shortcut for p = 0 either: the swapped mask then drops everything
            "dropout_forward": _forward(
                "    if not training:\n        return x, (None, 1.0)\n"
                "    if p == 1.0:\n"
                "        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)\n"
                "    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)\n"
                "    return x * mask / (1.0 - p), (mask, 1.0 / (1.0 - p))\n"
            ),
        },
    ),
    WrongAnswer(
        "missing_rescale",
        "masks",
        "no 1/(1-p) scale (the 'stochastic ReLU' of the d2l exercise): E[out] = (1-p) x in training",
        {
            "dropout_forward": _forward(_FORWARD_STANDARD + "    return x * mask, (mask, 1.0)\n"),
            "dropout_backward": "def dropout_backward(grad_output, cache):\n    mask, scale = cache\n"
            "    return grad_output if mask is None else grad_output * mask\n",
        },
    ),
    WrongAnswer(
        "wrong_rescale",
        "masks",
        "multiplies by the keep probability 1 - p instead of dividing by it",
        {"dropout_forward": _forward(_FORWARD_STANDARD + "    return x * mask * (1 - p), (mask, 1 - p)\n")},
    ),
    WrongAnswer(
        "mask_on_cpu",
        "masks",
        "torch.rand(shape) ignores device: the mask is on the CPU whatever device x is on",
        {"dropout_mask": _mask("    return torch.rand(shape, generator=generator) < 1.0 - p\n")},
    ),
    WrongAnswer(
        "dtype_promoted",
        "masks",
        "multiplies by a float32 mask: a float16/bfloat16 input comes back as float32",
        {
            "dropout_forward": _forward(
                _FORWARD_STANDARD
                + "    scale = 1.0 / (1.0 - p)\n    return x * mask.float() * scale, (mask, scale)\n"
            ),
            "dropout_backward": "def dropout_backward(grad_output, cache):\n    mask, scale = cache\n"
            "    return grad_output if mask is None else grad_output * mask.float() * scale\n",
        },
    ),
    WrongAnswer(
        "input_mutated",
        "masks",
        "x.mul_(mask): modifies the caller's tensor in place",
        {
            "dropout_forward": _forward(
                _FORWARD_STANDARD
                + "    scale = 1.0 / (1.0 - p)\n    x.mul_(mask).mul_(scale)\n    return x, (mask, scale)\n"
            )
        },
    ),
    WrongAnswer(
        "backward_redraws_mask",
        "masks",
        "backward draws a new mask instead of using the forward's",
        {
            "dropout_backward": "def dropout_backward(grad_output, cache):\n    mask, scale = cache\n"
            "    if mask is None:\n        return grad_output\n"
            "    if scale == 0.0:\n        return grad_output * 0.0\n"
            "    fresh = dropout_mask(grad_output.shape, 1.0 - 1.0 / scale, device=grad_output.device)\n"
            "    return grad_output * fresh * scale\n"
        },
    ),
    WrongAnswer(
        "mask_shared_across_rows",
        "masks",
        "one mask row broadcast over the batch: every sample drops the same units",
        {
            "dropout_mask": _mask(
                "    shape = tuple(shape)\n"
                "    row = torch.rand(shape[-1:], generator=generator, device=device) < 1.0 - p\n"
                "    return row.expand(shape)\n"
            )
        },
    ),
    WrongAnswer(
        "mask_reused_across_calls",
        "masks",
        "draws the mask once and caches it: every call drops the same units",
        {
            "dropout_mask": "_MASKS = {}\n\n\n"
            + _mask(
                "    key = (tuple(shape), float(p), str(device))\n"
                "    if key not in _MASKS:\n"
                "        _MASKS[key] = torch.rand(shape, generator=generator, device=device) < 1.0 - p\n"
                "    return _MASKS[key]\n"
            )
        },
    ),
    WrongAnswer(
        "ignores_training",
        "masks",
        "drops even when training=False (evaluation)",
        {
            "dropout_forward": _forward(
                "    if p == 0.0:\n        return x, (None, 1.0)\n"
                "    if p == 1.0:\n"
                "        return torch.zeros_like(x), (torch.zeros_like(x, dtype=torch.bool), 0.0)\n"
                "    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)\n"
                "    return x * mask / (1.0 - p), (mask, 1.0 / (1.0 - p))\n"
            )
        },
    ),
    WrongAnswer(
        "p_one_nan",
        "masks",
        "no special case for p = 1: x * mask / (1 - p) is 0 / 0 = NaN",
        {
            "dropout_forward": _forward(
                "    if not training or p == 0.0:\n        return x, (None, 1.0)\n"
                "    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)\n"
                "    return x * mask / (1.0 - p), (mask, p)\n"
            ),
            "dropout_backward": "def dropout_backward(grad_output, cache):\n    mask, p = cache\n"
            "    return grad_output if mask is None else grad_output * mask / (1.0 - p)\n",
        },
    ),
    WrongAnswer(
        "no_validation",
        "masks",
        "accepts p outside [0, 1] silently",
        {
            "dropout_mask": _mask(
                "    return torch.rand(shape, generator=generator, device=device) < 1.0 - p\n", validate=False
            ),
            "dropout_forward": _forward(
                _FORWARD_STANDARD + "    return x * mask / (1.0 - p), (mask, 1.0 / (1.0 - p))\n",
                validate=False,
            ),
        },
    ),
    WrongAnswer(
        "builtin_dropout",
        "masks",
        "calls torch.nn.functional.dropout instead of implementing it",
        {
            "dropout_forward": _forward(
                "    out = torch.nn.functional.dropout(x, p, training)\n"
                "    mask = out != 0\n"
                "    return out, (mask, 1.0 / (1.0 - p) if p < 1 else 0.0)\n"
            )
        },
    ),
    WrongAnswer(
        "hidden_builtin_dropout",
        "masks",
        "reaches built-in dropout through getattr and a helper, hoping to hide it",
        {
            "dropout_forward": "def _helper(t, q, flag):\n"
            "    return getattr(torch, 'drop' + 'out')(t, q, flag)\n\n\n"
            + _forward(
                "    out = _helper(x, p, training)\n"
                "    return out, (out != 0, 1.0 / (1.0 - p) if p < 1 else 0.0)\n"
            )
        },
    ),
    WrongAnswer(
        "numpy_mask",
        "masks",
        "seeds and draws with NumPy (np.random.seed, np.random.rand): ignores the torch generator "
        "and the device",
        {
            "dropout_mask": "import numpy as np\n\n\n"
            + _mask("    return torch.from_numpy(np.random.rand(*tuple(shape)) < 1.0 - p)\n")
        },
    ),
    WrongAnswer(
        "calls_reference",
        "masks",
        "calls the course's reference implementation",
        {
            "dropout_forward": _forward(
                "    from autograder.reference import dropout_forward as reference_forward\n"
                "    out, cache = reference_forward(x, p, training, generator=generator)\n"
                "    return out, (cache.mask, cache.scale)\n"
            )
        },
    ),
    WrongAnswer(
        "tamper_with_grader",
        "masks",
        "no rescale, and monkeypatches torch.equal/allclose/count_nonzero and the checks to hide it",
        {
            "dropout_forward": "torch.equal = lambda *args, **kwargs: True\n"
            "torch.allclose = lambda *args, **kwargs: True\n"
            "torch.count_nonzero = lambda t, *args, **kwargs: torch.tensor(t.numel())\n"
            "torch.Tensor.__ne__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)\n"
            "for _name in [n for n in dir(checks) if n.startswith('check_')]:\n"
            "    try:\n"
            "        setattr(checks, _name, lambda *args, **kwargs: None)\n"
            "    except AttributeError:\n"
            "        pass\n\n\n" + _forward(_FORWARD_STANDARD + "    return x * mask, (mask, 1.0)\n")
        },
        tampers=True,
    ),
]

# ---------------------------------------------------------------------------------------------------
# autograd
# ---------------------------------------------------------------------------------------------------


def _function(forward: str, backward: str) -> str:
    return (
        "class DropoutFunction(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(ctx, x, p, generator=None):\n"
        + forward
        + "\n    @staticmethod\n    def backward(ctx, grad_output):\n"
        + backward
    )


_FN_BACKWARD = (
    "        (mask,) = ctx.saved_tensors\n        return grad_output * mask * ctx.scale, None, None\n"
)


def _fn_forward(mask_line: str, out_line: str = "        return x * mask * ctx.scale\n") -> str:
    return mask_line + "        ctx.save_for_backward(mask)\n        ctx.scale = 1.0 / (1.0 - p)\n" + out_line


_RAND = "        mask = torch.rand(x.shape, generator=generator, device=x.device) < 1.0 - p\n"


def _module(init: str, forward: str) -> str:
    return (
        "class Dropout(nn.Module):\n    def __init__(self, p=0.5):\n        super().__init__()\n"
        + init
        + "\n    def forward(self, x):\n"
        + forward
    )


_INIT = (
    "        if not 0.0 <= p <= 1.0:\n            raise ValueError(f'p must be in [0, 1], got {p}')\n"
    "        self.p = float(p)\n"
)
_MODULE_FORWARD = (
    "        if not self.training or self.p == 0.0:\n            return x\n"
    "        if self.p == 1.0:\n            return x * 0.0\n"
    "        return DropoutFunction.apply(x, self.p, None)\n"
)

AUTOGRAD: list[WrongAnswer] = [
    WrongAnswer(
        "float_mask_saved",
        "autograd",
        "saves the scaled float mask (4 bytes per element) instead of the bool mask",
        {
            "dropout_function": _function(
                _RAND
                + "        scaled = mask.to(x.dtype) / (1.0 - p)\n        ctx.save_for_backward(scaled)\n"
                "        return x * scaled\n",
                "        (scaled,) = ctx.saved_tensors\n        return grad_output * scaled, None, None\n",
            )
        },
    ),
    WrongAnswer(
        "autograd_backward_redraws",
        "autograd",
        "backward draws a fresh mask instead of reading ctx.saved_tensors",
        {
            "dropout_function": _function(
                _fn_forward(_RAND),
                "        keep = 1.0 - 1.0 / ctx.scale\n"
                "        mask = torch.rand(grad_output.shape, device=grad_output.device) < keep\n"
                "        return grad_output * mask * ctx.scale, None, None\n",
            )
        },
    ),
    WrongAnswer(
        "autograd_keep_drop_swapped",
        "autograd",
        "keeps with probability p instead of 1 - p",
        {
            "dropout_function": _function(
                _fn_forward("        mask = torch.rand(x.shape, generator=generator, device=x.device) < p\n"),
                _FN_BACKWARD,
            )
        },
    ),
    WrongAnswer(
        "module_ignores_training",
        "autograd",
        "forward never reads self.training: keeps dropping after model.eval()",
        {
            "dropout_module": _module(
                _INIT,
                "        if self.p == 0.0:\n"
                "            return x\n        if self.p == 1.0:\n            return x * 0.0\n"
                "        return DropoutFunction.apply(x, self.p, None)\n",
            )
        },
    ),
    WrongAnswer(
        "functional_without_training",
        "autograd",
        "F.dropout(x, self.p) without training=self.training: built-in, and drops in eval mode",
        {"dropout_module": _module(_INIT, "        return torch.nn.functional.dropout(x, self.p)\n")},
    ),
    WrongAnswer(
        "subclasses_nn_dropout",
        "autograd",
        "subclasses nn.Dropout and lets it do the work",
        {
            "dropout_module": "class Dropout(nn.Dropout):\n    def __init__(self, p=0.5):\n"
            "        super().__init__(p)\n"
        },
    ),
    WrongAnswer(
        "module_no_validation",
        "autograd",
        "Dropout(p) accepts p outside [0, 1]",
        {"dropout_module": _module("        self.p = float(p)\n", _MODULE_FORWARD)},
    ),
    WrongAnswer(
        "module_p_one_division",
        "autograd",
        "no special case for p = 1: 1 / (1 - p) divides by zero",
        {
            "dropout_module": _module(
                _INIT,
                "        if not self.training or self.p == 0.0:\n            return x\n"
                "        return DropoutFunction.apply(x, self.p, None)\n",
            )
        },
    ),
    WrongAnswer(
        "module_mask_on_cpu",
        "autograd",
        "torch.rand(x.shape) in forward: the mask is made on the CPU whatever x's device",
        {
            "dropout_function": _function(
                _fn_forward("        mask = torch.rand(x.shape, generator=generator) < 1.0 - p\n"),
                _FN_BACKWARD,
            )
        },
    ),
    WrongAnswer(
        "module_dtype_promoted",
        "autograd",
        "multiplies by mask.float(): half-precision inputs come back as float32",
        {
            "dropout_function": _function(
                _fn_forward(_RAND, "        return x * mask.float() * ctx.scale\n"),
                "        (mask,) = ctx.saved_tensors\n"
                "        return grad_output * mask.float() * ctx.scale, None, None\n",
            )
        },
    ),
    WrongAnswer(
        "module_input_mutated",
        "autograd",
        "x.mul_(mask) in forward: modifies the caller's tensor",
        {
            "dropout_module": _module(
                _INIT,
                "        if not self.training or self.p == 0.0:\n            return x\n"
                "        if self.p == 1.0:\n            return x * 0.0\n"
                "        mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p\n"
                "        return x.mul_(mask).mul_(1.0 / (1.0 - self.p))\n",
            )
        },
    ),
    WrongAnswer(
        "module_mask_per_feature",
        "autograd",
        "one mask of shape x.shape[-1:] shared by every row of the batch",
        {
            "dropout_function": _function(
                _fn_forward(
                    "        mask = (torch.rand(x.shape[-1:], generator=generator, device=x.device)"
                    " < 1.0 - p)"
                    ".expand(x.shape)\n"
                ),
                _FN_BACKWARD,
            )
        },
    ),
    WrongAnswer(
        "module_mask_cached",
        "autograd",
        "draws a mask at the first call and reuses it while the shape stays the same",
        {
            "dropout_module": _module(
                _INIT + "        self.mask = None\n",
                "        if not self.training or self.p == 0.0:\n            return x\n"
                "        if self.p == 1.0:\n            return x * 0.0\n"
                "        if self.mask is None or self.mask.shape != x.shape:\n"
                "            self.mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p\n"
                "        return x * self.mask / (1.0 - self.p)\n",
            )
        },
    ),
    WrongAnswer(
        "module_missing_rescale",
        "autograd",
        "no 1/(1-p) scale in DropoutFunction",
        {
            "dropout_function": _function(
                _fn_forward(_RAND, "        return x * mask\n"),
                "        (mask,) = ctx.saved_tensors\n        return grad_output * mask, None, None\n",
            )
        },
    ),
]

# ---------------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------------


def _dropconnect(forward: str, init_extra: str = "") -> str:
    return (
        "class DropConnectLinear(nn.Linear):\n"
        "    def __init__(self, in_features, out_features, p=0.5, bias=True):\n"
        "        super().__init__(in_features, out_features, bias=bias)\n"
        "        self.p = float(p)\n" + init_extra + "\n    def forward(self, x):\n" + forward
    )


def _weight_dropout(dropped: str, init_extra: str = "") -> str:
    return (
        "class WeightDropout(nn.Module):\n"
        "    def __init__(self, module, weight_p=0.5, layer_names=('weight_hh_l0',)):\n"
        "        super().__init__()\n        self.module = module\n"
        "        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)\n"
        "        self.weight_p = float(weight_p)\n"
        "        for name in self.layer_names:\n"
        "            weight = getattr(module, name)\n            delattr(module, name)\n"
        "            self.register_parameter(f'{name}_raw', nn.Parameter(weight.detach().clone()))\n"
        "            setattr(module, name, weight.detach().clone())\n"
        + init_extra
        + "\n    def dropped(self, raw):\n"
        + dropped
        + "\n    def forward(self, *args):\n"
        "        for name in self.layer_names:\n"
        "            setattr(self.module, name, self.dropped(getattr(self, f'{name}_raw')))\n"
        "        return self.module(*args)\n"
    )


_DC_MASK = "            mask = torch.rand(weight.shape, device=weight.device) < 1.0 - self.p\n"

WEIGHTS: list[WrongAnswer] = [
    WrongAnswer(
        "dropconnect_eval_drops",
        "weights",
        "DropConnectLinear drops weights in eval mode too",
        {
            "dropconnect": _dropconnect(
                "        weight = self.weight\n        if self.p > 0.0:\n"
                + _DC_MASK
                + "            weight = weight * mask / (1.0 - self.p)\n"
                "        return F.linear(x, weight, self.bias)\n"
            )
        },
    ),
    WrongAnswer(
        "dropconnect_drops_inputs",
        "weights",
        "drops the inputs (ordinary dropout, one mask per sample) instead of the weights",
        {
            "dropconnect": _dropconnect(
                "        if self.training and self.p > 0.0:\n"
                "            mask = torch.rand(x.shape, device=x.device) < 1.0 - self.p\n"
                "            x = x * mask / (1.0 - self.p)\n"
                "        return F.linear(x, self.weight, self.bias)\n"
            )
        },
    ),
    WrongAnswer(
        "dropconnect_detached",
        "weights",
        "computes the dropped weight from self.weight.detach(): the weight gets no gradient",
        {
            "dropconnect": _dropconnect(
                "        weight = self.weight\n        if self.training and self.p > 0.0:\n"
                + _DC_MASK
                + "            weight = weight.detach() * mask / (1.0 - self.p)\n"
                "        return F.linear(x, weight, self.bias)\n"
            )
        },
    ),
    WrongAnswer(
        "dropconnect_mask_on_cpu",
        "weights",
        "torch.rand(self.weight.shape): the weight mask is made on the CPU",
        {
            "dropconnect": _dropconnect(
                "        weight = self.weight\n        if self.training and self.p > 0.0:\n"
                "            mask = torch.rand(weight.shape) < 1.0 - self.p\n"
                "            weight = weight * mask / (1.0 - self.p)\n"
                "        return F.linear(x, weight, self.bias)\n"
            )
        },
    ),
    WrongAnswer(
        "dropconnect_keep_drop_swapped",
        "weights",
        "keeps each weight with probability p instead of 1 - p",
        {
            "dropconnect": _dropconnect(
                "        weight = self.weight\n        if self.training and self.p > 0.0:\n"
                "            mask = torch.rand(weight.shape, device=weight.device) < self.p\n"
                "            weight = weight * mask / (1.0 - self.p)\n"
                "        return F.linear(x, weight, self.bias)\n"
            )
        },
    ),
    WrongAnswer(
        "dropconnect_mask_once",
        "weights",
        "draws the weight mask once in __init__ and reuses it every forward",
        {
            "dropconnect": _dropconnect(
                "        weight = self.weight\n        if self.training and self.p > 0.0:\n"
                "            weight = weight * self.mask.to(weight.device) / (1.0 - self.p)\n"
                "        return F.linear(x, weight, self.bias)\n",
                init_extra="        mask = torch.rand(out_features, in_features) < 1.0 - self.p\n"
                "        self.register_buffer('mask', mask)\n",
            )
        },
    ),
    WrongAnswer(
        "weight_dropout_data",
        "weights",
        "the .data bug: the dropped weight is computed from raw.data, so weight_raw never gets a gradient",
        {
            "weight_dropout": _weight_dropout(
                "        if not self.training:\n            return raw.data\n"
                "        mask = torch.rand(raw.shape, device=raw.device) < 1.0 - self.weight_p\n"
                "        return raw.data * mask / (1.0 - self.weight_p)\n"
            )
        },
    ),
    WrongAnswer(
        "weight_dropout_builtin",
        "weights",
        "F.dropout(raw, ...) on the raw weight: built-in dropout",
        {
            "weight_dropout": _weight_dropout(
                "        return F.dropout(raw, self.weight_p, training=self.training)\n"
            )
        },
    ),
    WrongAnswer(
        "weight_dropout_eval_drops",
        "weights",
        "WeightDropout keeps dropping weights in eval mode",
        {
            "weight_dropout": _weight_dropout(
                "        mask = torch.rand(raw.shape, device=raw.device) < 1.0 - self.weight_p\n"
                "        return raw * mask / (1.0 - self.weight_p)\n"
            )
        },
    ),
    WrongAnswer(
        "weight_dropout_mask_once",
        "weights",
        "draws the weight mask once and reuses it every forward",
        {
            "weight_dropout": _weight_dropout(
                "        if not self.training:\n            return raw * 1.0\n"
                "        if self.mask is None:\n"
                "            self.mask = torch.rand(raw.shape, device=raw.device) < 1.0 - self.weight_p\n"
                "        return raw * self.mask / (1.0 - self.weight_p)\n",
                init_extra="        self.mask = None\n",
            )
        },
    ),
    WrongAnswer(
        "weight_dropout_no_rescale",
        "weights",
        "no 1/(1-p) scale on the dropped weight",
        {
            "weight_dropout": _weight_dropout(
                "        if not self.training:\n            return raw * 1.0\n"
                "        mask = torch.rand(raw.shape, device=raw.device) < 1.0 - self.weight_p\n"
                "        return raw * mask\n"
            )
        },
    ),
]

# ---------------------------------------------------------------------------------------------------
# practice
# ---------------------------------------------------------------------------------------------------


def _mc(body: str) -> str:
    return "def mc_predict(model, x, samples=30):\n" + body


_MC_DROPOUT_ON = (
    "    flags = {m: m.training for m in model.modules()}\n"
    "    model.eval()\n"
    "    for m in model.modules():\n"
    "        if isinstance(m, nn.modules.dropout._DropoutNd):\n            m.train()\n"
)
_MC_RESTORE = "    for m, flag in flags.items():\n        m.training = flag\n"

PRACTICE: list[WrongAnswer] = [
    WrongAnswer(
        "accuracy_without_eval",
        "practice",
        "measures accuracy in training mode: dropout is still on",
        {
            "accuracy": "def accuracy(model, dataset, batch_size=1024):\n    correct = 0\n"
            "    with torch.no_grad():\n"
            "        for images, labels in torch.utils.data.DataLoader(dataset, batch_size=batch_size):\n"
            "            correct += int((model(images).argmax(dim=1) == labels).sum())\n"
            "    return correct / len(dataset)\n"
        },
    ),
    WrongAnswer(
        "gap_reversed",
        "practice",
        "test accuracy minus training accuracy",
        {
            "generalization_gap": "def generalization_gap(history):\n    final = history.epochs[-1]\n"
            "    return float(final.test_accuracy - final.train_accuracy)\n"
        },
    ),
    WrongAnswer(
        "mc_dropout_off",
        "practice",
        "runs the passes in whatever mode the model is in: after model.eval() every pass is identical",
        {
            "mc_predict": _mc(
                "    with torch.no_grad():\n"
                "        outputs = torch.stack([model(x) for _ in range(samples)])\n"
                "    return outputs.mean(0), outputs.std(0, correction=0)\n"
            )
        },
    ),
    WrongAnswer(
        "mc_whole_model_train",
        "practice",
        "model.train() for the passes: batch norm uses batch statistics and updates its running ones",
        {
            "mc_predict": _mc(
                "    flags = {m: m.training for m in model.modules()}\n    model.train()\n"
                "    with torch.no_grad():\n"
                "        outputs = torch.stack([model(x) for _ in range(samples)])\n"
                + _MC_RESTORE
                + "    return outputs.mean(0), outputs.std(0, correction=0)\n"
            )
        },
    ),
    WrongAnswer(
        "mc_not_restored",
        "practice",
        "leaves the dropout layers in training mode afterwards",
        {
            "mc_predict": _mc(
                _MC_DROPOUT_ON + "    with torch.no_grad():\n"
                "        outputs = torch.stack([model(x) for _ in range(samples)])\n"
                "    return outputs.mean(0), outputs.std(0, correction=0)\n"
            )
        },
    ),
    WrongAnswer(
        "mc_seed_in_loop",
        "practice",
        "reseeds the generator before every pass 'for reproducibility': every pass draws the same mask",
        {
            "mc_predict": _mc(
                _MC_DROPOUT_ON + "    outputs = []\n    with torch.no_grad():\n"
                "        for _ in range(samples):\n            torch.manual_seed(0)\n"
                "            outputs.append(model(x))\n"
                + _MC_RESTORE
                + "    outputs = torch.stack(outputs)\n"
                "    return outputs.mean(0), outputs.std(0, correction=0)\n"
            )
        },
    ),
    WrongAnswer(
        "mc_calls_reference",
        "practice",
        "calls the course's reference mc_predict",
        {
            "mc_predict": _mc(
                "    from autograder.reference import mc_predict as reference_mc\n"
                "    result = reference_mc(model, x, samples)\n    return result.mean, result.std\n"
            )
        },
    ),
]

#: Every entry, in course order.
CATALOGUE: tuple[WrongAnswer, ...] = (*MASKS, *AUTOGRAD, *WEIGHTS, *PRACTICE)


def entries(assignment: str | None = None) -> list[WrongAnswer]:
    """The catalogue, or one assignment's part of it."""
    return [entry for entry in CATALOGUE if assignment is None or entry.assignment == assignment]


#: What :data:`CAUGHT_BY` says of an entry that only the from-scratch verdict catches.
FROM_SCRATCH_VERDICT: tuple[str, ...] = ("from-scratch verdict",)

#: Which checks catch each entry on their merits (kept equal to the actual verdicts by the tests;
#: regenerate with ``python -m autograder.grading.autograde``).
CAUGHT_BY: dict[str, tuple[str, ...]] = {
    "randn_mask": (
        "masks.check_forward_expectation",
        "masks.check_forward_fresh_masks",
        "masks.check_forward_keep_rate",
        "masks.check_mask_edge_cases",
        "masks.check_mask_fresh_each_call",
        "masks.check_mask_independent",
        "masks.check_mask_keep_rate",
    ),
    "keep_drop_swapped": (
        "masks.check_forward_expectation",
        "masks.check_forward_keep_rate",
        "masks.check_forward_p_zero",
        "masks.check_mask_edge_cases",
        "masks.check_mask_keep_rate",
    ),
    "missing_rescale": (
        "masks.check_backward_same_mask",
        "masks.check_forward_expectation",
        "masks.check_forward_output",
    ),
    "wrong_rescale": (
        "masks.check_backward_same_mask",
        "masks.check_forward_expectation",
        "masks.check_forward_output",
    ),
    "mask_on_cpu": (
        "masks.check_forward_device",
        "masks.check_mask_device",
    ),
    "dtype_promoted": ("masks.check_forward_dtype",),
    "input_mutated": (
        "masks.check_forward_fresh_masks",
        "masks.check_forward_generator",
        "masks.check_forward_no_mutation",
    ),
    "backward_redraws_mask": ("masks.check_backward_same_mask",),
    "mask_shared_across_rows": (
        "masks.check_forward_fresh_masks",
        "masks.check_mask_fresh_each_call",
        "masks.check_mask_independent",
        "masks.check_mask_keep_rate",
    ),
    "mask_reused_across_calls": (
        "masks.check_forward_fresh_masks",
        "masks.check_mask_fresh_each_call",
        "masks.check_mask_generator",
    ),
    "ignores_training": ("masks.check_forward_eval",),
    "p_one_nan": ("masks.check_forward_p_one",),
    "no_validation": (
        "masks.check_forward_invalid_p",
        "masks.check_mask_edge_cases",
    ),
    "builtin_dropout": FROM_SCRATCH_VERDICT,
    "hidden_builtin_dropout": FROM_SCRATCH_VERDICT,
    "numpy_mask": (
        "masks.check_forward_device",
        "masks.check_forward_generator",
        "masks.check_mask_device",
        "masks.check_mask_generator",
    ),
    "calls_reference": FROM_SCRATCH_VERDICT,
    "tamper_with_grader": (
        "masks.check_backward_same_mask",
        "masks.check_forward_expectation",
        "masks.check_forward_output",
    ),
    "float_mask_saved": ("autograd.check_function_saves_bool_mask",),
    "autograd_backward_redraws": (
        "autograd.check_function_output_and_gradient",
        "autograd.check_module_gradient",
    ),
    "autograd_keep_drop_swapped": (
        "autograd.check_function_keep_rate",
        "autograd.check_module_keep_rate",
    ),
    "module_ignores_training": ("autograd.check_module_eval",),
    "functional_without_training": FROM_SCRATCH_VERDICT,
    "subclasses_nn_dropout": FROM_SCRATCH_VERDICT,
    "module_no_validation": ("autograd.check_module_invalid_p",),
    "module_p_one_division": ("autograd.check_module_p_zero_one",),
    "module_mask_on_cpu": ("autograd.check_module_device",),
    "module_dtype_promoted": ("autograd.check_module_dtype",),
    "module_input_mutated": (
        "autograd.check_module_dtype",
        "autograd.check_module_fresh_masks",
        "autograd.check_module_gradient",
        "autograd.check_module_no_mutation",
    ),
    "module_mask_per_feature": (
        "autograd.check_module_fresh_masks",
        "autograd.check_module_independent",
        "autograd.check_module_keep_rate",
    ),
    "module_mask_cached": ("autograd.check_module_fresh_masks",),
    "module_missing_rescale": (
        "autograd.check_function_output_and_gradient",
        "autograd.check_module_gradient",
        "autograd.check_module_keep_rate",
    ),
    "dropconnect_eval_drops": ("weights.check_dropconnect_eval_full_weights",),
    "dropconnect_drops_inputs": (
        "weights.check_dropconnect_keep_rate",
        "weights.check_dropconnect_weight_mask",
    ),
    "dropconnect_detached": ("weights.check_dropconnect_gradients",),
    "dropconnect_mask_on_cpu": ("weights.check_dropconnect_dtype_device",),
    "dropconnect_keep_drop_swapped": ("weights.check_dropconnect_keep_rate",),
    "dropconnect_mask_once": ("weights.check_dropconnect_fresh_masks",),
    "weight_dropout_data": ("weights.check_weight_dropout_raw_gradient",),
    "weight_dropout_builtin": FROM_SCRATCH_VERDICT,
    "weight_dropout_eval_drops": ("weights.check_weight_dropout_eval_full",),
    "weight_dropout_mask_once": ("weights.check_weight_dropout_fresh_masks",),
    "weight_dropout_no_rescale": (
        "weights.check_weight_dropout_keep_rate",
        "weights.check_weight_dropout_raw_gradient",
    ),
    "accuracy_without_eval": ("practice.check_accuracy",),
    "gap_reversed": ("practice.check_generalization_gap",),
    "mc_dropout_off": ("practice.check_mc_predict_samples",),
    "mc_whole_model_train": ("practice.check_mc_predict_only_dropout",),
    "mc_not_restored": ("practice.check_mc_predict_restores_modes",),
    "mc_seed_in_loop": ("practice.check_mc_predict_samples",),
    "mc_calls_reference": FROM_SCRATCH_VERDICT,
}
