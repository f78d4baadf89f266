"""Checks for the **weights** assignment: ``DropConnectLinear`` and ``WeightDropout``.

The dropped weight is read back exactly: feeding the identity matrix to a linear layer returns
``W_dropped^T + b`` row by row. From it the mask follows (weights are nonzero), and outputs and
gradients are compared exactly with what the reference formula gives for that mask. Statistical
checks use binomial intervals (rate each: intervals x :data:`~autograder.checks.core.INTERVAL_RATE`).
"""

from __future__ import annotations

import torch
from torch import nn

import autograder.reference as reference

from .common import expect_value_error, finite, gen, seed_student
from .core import T, agreement_rate, binomial, close, count, expect_tensor, fail, same
from .devices import on_other_device
from .harness import check, invoke, trusted
from .remote import session

A = "weights"
IN, OUT = 128, 128  # 16,384 weights

REFERENCE = {"DropConnectLinear": reference.DropConnectLinear, "WeightDropout": reference.WeightDropout}


def _nonzero_weights(layer: nn.Linear, seed: int) -> None:
    """Weights and bias in [0.5, 1.5): no zeros, so a zero in the dropped weight is a dropped entry."""
    with T.no_grad():
        layer.weight.copy_(T.rand(tuple(T.shape(layer.weight)), generator=gen(seed)) + 0.5)
        if layer.bias is not None:
            layer.bias.copy_(T.rand(tuple(T.shape(layer.bias)), generator=gen(seed + 1)) + 0.5)


def _dropconnect(
    DropConnectLinear: object, p: float, seed: int, **kwargs: object
) -> tuple[object, torch.Tensor, torch.Tensor]:
    """The student's layer with weights and bias in [0.5, 1.5); returns (layer, W, b) (the judge's copies)."""
    layer = invoke(f"DropConnectLinear({IN}, {OUT}, p={p})", DropConnectLinear, IN, OUT, p, **kwargs)
    if not invoke("isinstance(layer, nn.Linear)", session().isinstance, layer, "Linear"):
        fail(f"DropConnectLinear should be an nn.Linear subclass, found {getattr(layer, '__name__', layer)}")
    weight = T.rand((OUT, IN), generator=gen(seed)) + 0.5
    bias = T.rand((OUT,), generator=gen(seed + 1)) + 0.5
    if invoke("layer.bias", session().getattr, layer, "bias") is None:
        fail("DropConnectLinear(in, out, p) should have a bias like nn.Linear, found layer.bias None")
    invoke("setting the layer's weight and bias", session().assign, layer, {"weight": weight, "bias": bias})
    return layer, weight, bias


def _weight_used(
    module: nn.Module, forward: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed the identity: return (output, the weight this forward used)."""
    eye = T.zeros((IN, IN))
    eye.fill_diagonal_(1.0)
    out = expect_tensor(invoke(what, forward, eye), f"the output of {what}")
    if tuple(T.shape(out)) != (IN, OUT):
        fail(f"{what} on a ({IN}, {IN}) input should give ({IN}, {OUT}), found {tuple(T.shape(out))}")
    used = (out.detach() - (bias.detach() if bias is not None else 0.0)).t()
    return out, used


def _check_dropped(used: torch.Tensor, weight: torch.Tensor, p: float, what: str) -> torch.Tensor:
    kept = T.ne(used, 0)
    expected = trusted(
        reference.dropout_backward, weight.detach(), reference.DropoutCache(kept, 1.0 / (1.0 - p))
    )
    if not close(used, expected, atol=1e-5):
        fail(
            f"{what}: the weight used should be W * m / (1 - p) (entries W * {1 / (1 - p):.4g} or 0) and the "
            "bias should not be dropped; found other values (missing rescale, or dropping inputs or bias?)"
        )
    return kept


# --------------------------------------------------------------------------------------------------
# DropConnectLinear
# --------------------------------------------------------------------------------------------------
@check(A, "DropConnectLinear in eval mode uses the full weights: F.linear(x, W, b)")
def check_dropconnect_eval_full_weights(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    layer, weight, bias = _dropconnect(DropConnectLinear, 0.5, seed)
    invoke("layer.eval()", layer.eval)
    x = T.randn((16, IN), generator=gen(seed + 2))
    out = expect_tensor(invoke("layer.eval()(x)", layer, x), "the output")
    expected = T.linear(x, weight, bias)
    if not close(out.detach(), expected, atol=1e-5):
        fail(
            "in eval mode DropConnectLinear should compute F.linear(x, W, b) with the full weights, "
            "found other values"
        )


@check(A, "training forward uses W * m / (1 - p), one mask for the whole batch, bias kept")
def check_dropconnect_weight_mask(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.5
    layer, weight, bias = _dropconnect(DropConnectLinear, p, seed)
    _, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(x)")
    _check_dropped(used, weight, p, "DropConnectLinear in training")
    rows = T.ones((8, IN))
    out = expect_tensor(invoke("layer(x)", layer, rows), "the output").detach()
    if not same(out, out[:1].expand_as(out)):
        fail(
            "eight identical inputs should give eight identical outputs (one weight mask per forward, shared "
            "by the batch), found different rows: is the mask drawn per sample, or on the inputs?"
        )


@check(A, "DropConnectLinear keeps about 1 - p of the weights (p = 0.3)", intervals=1)
def check_dropconnect_keep_rate(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    layer, weight, bias = _dropconnect(DropConnectLinear, 0.3, seed)
    _, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(x)")
    binomial(count(T.ne(used, 0)), IN * OUT, 0.7, "weights kept by DropConnectLinear(p=0.3)")


@check(A, "DropConnectLinear draws a new weight mask every forward", intervals=1)
def check_dropconnect_fresh_masks(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    layer, weight, bias = _dropconnect(DropConnectLinear, 0.5, seed)
    _, a = _weight_used(layer, layer, weight, bias, "first forward")
    _, b = _weight_used(layer, layer, weight, bias, "second forward")
    binomial(
        count(T.eq(T.ne(a, 0), T.ne(b, 0))),
        IN * OUT,
        agreement_rate(0.5),
        "weights kept/dropped alike in two forwards",
    )


@check(A, "gradients reach the weight through the mask: W.grad = (g^T x) * m / (1 - p); b.grad = sum g")
def check_dropconnect_gradients(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.4
    layer, weight, bias = _dropconnect(DropConnectLinear, p, seed)
    out, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(x)")
    kept = _check_dropped(used, weight, p, "DropConnectLinear in training")
    g = T.randn((IN, OUT), generator=gen(seed + 3))
    invoke("backward", session().backward, out, g)
    grad = invoke("layer.weight.grad", session().path, layer, "weight.grad")
    if grad is None:
        fail(
            "layer.weight.grad should be a tensor after backward, found None: "
            "the dropped weight was detached (.data or .detach()?)"
        )
    grad = expect_tensor(grad, "layer.weight.grad")
    expected = trusted(reference.dropout_backward, g.t(), reference.DropoutCache(kept, 1.0 / (1.0 - p)))
    if not close(grad, expected, atol=1e-5):
        fail("layer.weight.grad should be (g^T x) * m / (1 - p) with the forward's mask, found other values")
    bias_grad = invoke("layer.bias.grad", session().path, layer, "bias.grad")
    if not isinstance(bias_grad, torch.Tensor) or not close(bias_grad, g.sum(0), atol=1e-4):
        fail(
            "layer.bias.grad should be the sum of the output gradients (the bias is not dropped), "
            "found other values"
        )


@check(A, "DropConnectLinear keeps the parameters' dtype (float64) and device (CUDA, or meta without a GPU)")
def check_dropconnect_dtype_device(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    layer = invoke("layer.double()", _dropconnect(DropConnectLinear, 0.5, seed)[0].double)
    out = expect_tensor(invoke("float64 layer(x)", layer, T.ones((4, IN), dtype=torch.float64)), "the output")
    if T.dtype(out) != torch.float64:
        fail(f"a float64 DropConnectLinear on float64 input should return float64, found {T.dtype(out)}")
    float_layer = invoke("layer.float()", layer.float)

    def attempt(device: torch.device, _values: bool) -> None:
        moved = invoke(f"layer.to({str(device)!r})", float_layer.to, device)
        out = expect_tensor(
            invoke(f"layer(x on {device})", moved, T.ones((4, IN), device=device)), "the output"
        )
        if T.device(out).type != device.type:
            fail(f"DropConnectLinear on {device} should return a {device} tensor, found {T.device(out)}")

    on_other_device(attempt)


@check(A, "DropConnectLinear: p outside [0, 1] raises ValueError; p = 0 uses W; p = 1 drops every weight")
def check_dropconnect_p_edges(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    for p in (-0.1, 1.5):
        expect_value_error(f"DropConnectLinear({IN}, {OUT}, p={p})", DropConnectLinear, IN, OUT, p)
    layer, weight, bias = _dropconnect(DropConnectLinear, 0.0, seed)
    _, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(p=0)(x) in training")
    if not close(used, weight, atol=1e-5):
        fail(
            "at p = 0 DropConnectLinear should use the full weight W in training (nothing is dropped), "
            f"found {count(T.ne(used, 0))} of {used.numel()} weights nonzero and other values"
        )
    layer, weight, bias = _dropconnect(DropConnectLinear, 1.0, seed)
    out, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(p=1)(x) in training")
    if not finite(used) or count(used) != 0:
        fail(
            "at p = 1 DropConnectLinear should drop every weight (F.linear(x, 0 * W, b), never NaN: "
            "W * 0 / (1 - 1) is NaN), found NaN, inf or nonzero weights used"
        )
    invoke("backward at p = 1", session().backward, out, T.ones((IN, OUT)))
    grad = invoke("layer.weight.grad", session().path, layer, "weight.grad")
    if grad is not None and (not finite(expect_tensor(grad, "layer.weight.grad")) or count(grad) != 0):
        fail("at p = 1 layer.weight.grad should be zeros (every weight dropped), found NaN, inf or nonzero")


@check(A, "DropConnectLinear(in, out, p, bias=False): no bias; W * m / (1 - p) in training, W in eval")
def check_dropconnect_no_bias(DropConnectLinear: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.5
    call = f"DropConnectLinear({IN}, {OUT}, p={p}, bias=False)"
    layer = invoke(call, DropConnectLinear, IN, OUT, p, bias=False)
    if invoke("layer.bias", session().getattr, layer, "bias") is not None:
        fail(f"{call} should have no bias (layer.bias None, as nn.Linear), found a bias")
    weight = T.rand((OUT, IN), generator=gen(seed)) + 0.5
    invoke("setting the layer's weight", session().assign, layer, {"weight": weight})
    _, used = _weight_used(layer, layer, weight, None, f"{call}(x) in training")
    kept = _check_dropped(used, weight, p, f"{call} in training")
    if count(kept) == kept.numel():  # P = 2**-16384 for a correct answer
        fail(f"{call} in training should drop about half the weights, found none dropped")
    invoke("layer.eval()", layer.eval)
    _, used = _weight_used(layer, layer, weight, None, f"{call}(x) in eval mode")
    if not close(used, weight, atol=1e-5):
        fail(f"{call} in eval mode should compute F.linear(x, W) with the full weight, found other values")


@check(
    A,
    "DropConnectLinear drops single weights independently: neighbouring columns and rows of the mask agree "
    "at the rate of independent draws",
    intervals=2,
)
def check_dropconnect_independent(DropConnectLinear: object, *, seed: int) -> None:
    """A mask drawn per input column (or per output row) and broadcast drops whole columns (rows) of W:
    its 8,192 pairs of neighbouring columns (rows) agree where independent draws at p = 0.5 agree on
    about 4,096 (the interval is about +-300)."""
    seed_student(seed)
    p = 0.5
    layer, weight, bias = _dropconnect(DropConnectLinear, p, seed)
    _, used = _weight_used(layer, layer, weight, bias, "DropConnectLinear(x)")
    kept = T.ne(used, 0)
    q = agreement_rate(1.0 - p)
    binomial(
        count(T.eq(kept[:, 0::2], kept[:, 1::2])),
        IN * OUT // 2,
        q,
        "weights of columns 2j and 2j+1 (one input each) kept or dropped alike (whole columns dropped?)",
    )
    binomial(
        count(T.eq(kept[0::2], kept[1::2])),
        IN * OUT // 2,
        q,
        "weights of rows 2i and 2i+1 (one output each) kept or dropped alike (whole rows dropped?)",
    )


# --------------------------------------------------------------------------------------------------
# WeightDropout
# --------------------------------------------------------------------------------------------------
def _wrapped(WeightDropout: object, p: float, seed: int) -> tuple[nn.Module, nn.Linear, torch.Tensor]:
    inner = nn.Linear(IN, OUT)
    _nonzero_weights(inner, seed)
    wrapper = invoke(
        f"WeightDropout(nn.Linear({IN}, {OUT}), {p}, ['weight'])", WeightDropout, inner, p, ["weight"]
    )
    raw = invoke("wrapper.weight_raw", session().getattr, wrapper, "weight_raw", default=True)
    if not isinstance(raw, torch.Tensor) or not invoke(
        "isinstance(weight_raw, nn.Parameter)", session().isinstance, raw, "Parameter"
    ):
        fail(
            f"WeightDropout should register the raw weight as an nn.Parameter named weight_raw, "
            f"found {getattr(raw, '__name__', type(raw).__name__)}"
        )
    if not invoke("wrapper.parameters()", session().is_param_of, wrapper, raw):
        fail(
            "weight_raw should be among wrapper.parameters(), found it missing: "
            "an optimizer would never update it"
        )
    return wrapper, inner, raw


@check(A, "the raw weight receives the gradient: weight_raw.grad = (g^T x) * m / (1 - p)")
def check_weight_dropout_raw_gradient(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.5
    wrapper, inner, raw = _wrapped(WeightDropout, p, seed)
    out, used = _weight_used(wrapper, wrapper, raw, inner.bias, "WeightDropout(x)")
    kept = _check_dropped(used, raw, p, "WeightDropout in training")
    g = T.randn((IN, OUT), generator=gen(seed + 3))
    invoke("backward", session().backward, out, g)
    grad = invoke("weight_raw.grad", session().getattr, raw, "grad")
    if grad is None:
        fail(
            "weight_raw.grad should be a tensor after backward, found None: the dropped weight was computed "
            "from raw.data (or a "
            "detached copy), so the raw weight never learns. Compute it from the parameter itself."
        )
    grad = expect_tensor(grad, "the raw weight's gradient")
    expected = trusted(reference.dropout_backward, g.t(), reference.DropoutCache(kept, 1.0 / (1.0 - p)))
    if not close(grad, expected, atol=1e-5):
        fail("weight_raw.grad should be (g^T x) * m / (1 - p) with the forward's mask, found other values")


@check(A, "WeightDropout in eval mode uses the full raw weight")
def check_weight_dropout_eval_full(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    wrapper, inner, raw = _wrapped(WeightDropout, 0.5, seed)
    invoke("wrapper.eval()", wrapper.eval)
    x = T.randn((16, IN), generator=gen(seed + 2))
    out = expect_tensor(invoke("wrapper.eval()(x)", wrapper, x), "the output")
    if not close(out.detach(), T.linear(x, raw.detach(), inner.bias.detach()), atol=1e-5):
        fail(
            "in eval mode WeightDropout should use the full raw weight, found a dropped one "
            "(does it read self.training?)"
        )


@check(A, "WeightDropout keeps about 1 - p of the weights (p = 0.3), scaled by 1 / (1 - p)", intervals=1)
def check_weight_dropout_keep_rate(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    wrapper, inner, raw = _wrapped(WeightDropout, 0.3, seed)
    _, used = _weight_used(wrapper, wrapper, raw, inner.bias, "WeightDropout(x)")
    kept = _check_dropped(used, raw, 0.3, "WeightDropout in training")
    binomial(count(kept), IN * OUT, 0.7, "weights kept by WeightDropout(p=0.3)")


@check(A, "WeightDropout draws a new weight mask every forward", intervals=1)
def check_weight_dropout_fresh_masks(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    wrapper, inner, raw = _wrapped(WeightDropout, 0.5, seed)
    _, a = _weight_used(wrapper, wrapper, raw, inner.bias, "first forward")
    _, b = _weight_used(wrapper, wrapper, raw, inner.bias, "second forward")
    binomial(
        count(T.eq(T.ne(a, 0), T.ne(b, 0))),
        IN * OUT,
        agreement_rate(0.5),
        "weights kept/dropped alike in two forwards",
    )


@check(A, "WeightDropout: weight_p outside [0, 1] raises ValueError; p = 0 uses the raw weight; p = 1 zeros")
def check_weight_dropout_p_edges(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    for p in (-0.1, 1.5):
        expect_value_error(
            f"WeightDropout(nn.Linear({IN}, {OUT}), {p}, ['weight'])",
            WeightDropout,
            nn.Linear(IN, OUT),
            p,
            ["weight"],
        )
    wrapper, inner, raw = _wrapped(WeightDropout, 0.0, seed)
    _, used = _weight_used(wrapper, wrapper, raw, inner.bias, "WeightDropout(p=0)(x) in training")
    if not close(used, raw.detach(), atol=1e-5):
        fail("at weight_p = 0 WeightDropout should use the full raw weight in training, found other values")
    wrapper, inner, raw = _wrapped(WeightDropout, 1.0, seed)
    out, used = _weight_used(wrapper, wrapper, raw, inner.bias, "WeightDropout(p=1)(x) in training")
    if not finite(used) or count(used) != 0:
        fail(
            "at weight_p = 1 WeightDropout should drop every weight (zeros, never NaN: raw * 0 / (1 - 1) "
            "is NaN), found NaN, inf or nonzero weights used"
        )


@check(A, "WeightDropout through train -> eval -> train: raw weight in eval, dropped again after, raw learns")
def check_weight_dropout_round_trip(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.5
    wrapper, inner, raw = _wrapped(WeightDropout, p, seed)
    _weight_used(wrapper, wrapper, raw, inner.bias, "WeightDropout(x) in training")
    invoke("wrapper.eval()", wrapper.eval)
    _, used = _weight_used(wrapper, wrapper, raw, inner.bias, "wrapper.eval()(x)")
    if not close(used, raw.detach(), atol=1e-5):
        fail("in eval mode WeightDropout should use the full raw weight, found other values")
    invoke("wrapper.train()", wrapper.train)
    out, used = _weight_used(wrapper, wrapper, raw, inner.bias, "wrapper.train()(x) after eval")
    kept = _check_dropped(used, raw, p, "WeightDropout back in training after eval")
    if count(kept) == kept.numel():  # P = 2**-16384 for a correct answer
        fail("back in training WeightDropout(p=0.5) should drop about half the weights, found none dropped")
    g = T.randn((IN, OUT), generator=gen(seed + 3))
    invoke("backward after train -> eval -> train", session().backward, out, g)
    grad = invoke("weight_raw.grad", session().getattr, raw, "grad")
    expected = trusted(reference.dropout_backward, g.t(), reference.DropoutCache(kept, 1.0 / (1.0 - p)))
    if grad is None or not close(expect_tensor(grad, "weight_raw.grad"), expected, atol=1e-5):
        fail(
            "after train -> eval -> train weight_raw.grad should be (g^T x) * m / (1 - p), found "
            f"{'None' if grad is None else 'other values'}: in eval mode assign a plain tensor computed "
            "from the raw parameter (raw * 1.0), not the nn.Parameter itself, which the module would adopt"
        )


@check(A, "WeightDropout on CUDA (or the meta device without a GPU): the mask is made on the weight's device")
def check_weight_dropout_device(WeightDropout: object, *, seed: int) -> None:
    seed_student(seed)
    wrapper, _inner, _raw = _wrapped(WeightDropout, 0.5, seed)

    def attempt(device: torch.device, _values: bool) -> None:
        moved = invoke(f"wrapper.to({str(device)!r})", wrapper.to, device)
        out = expect_tensor(
            invoke(f"wrapper(x on {device})", moved, T.ones((4, IN), device=device)), "the output"
        )
        if T.device(out).type != device.type:
            fail(f"WeightDropout on {device} should return a {device} tensor, found {T.device(out)}")
        if not finite(out):
            fail(f"WeightDropout on {device} should return finite values, found NaN or inf")

    on_other_device(attempt)
