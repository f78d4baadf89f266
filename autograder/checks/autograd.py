"""Checks for the **autograd** assignment: ``DropoutFunction`` (an ``autograd.Function`` that saves a
bool mask) and ``Dropout`` (an ``nn.Module`` that honours ``self.training``).

The mask is read back from the output (inputs have no zeros); gradients are compared exactly with
the reference's backward for that mask. Statistical checks use binomial intervals (rate each:
intervals x :data:`~autograder.checks.core.INTERVAL_RATE`).
"""

from __future__ import annotations

import torch

import autograder.reference as reference
from autograder.reference.functional import _InvertedDropout

from .common import expect_value_error, finite, gen, grad, nonzero_input, seed_student
from .core import T, agreement_rate, binomial, close, count, expect_tensor, fail, same
from .devices import on_other_device
from .harness import check, invoke, trusted
from .remote import session

A = "autograd"
ROWS, COLS = 128, 256
N = ROWS * COLS


class _ReferenceFunction:
    """The reference's autograd Function under the notebook's calling convention ``apply(x, p, g)``."""

    __name__ = "DropoutFunction"

    @staticmethod
    def apply(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        return _InvertedDropout.apply(x, p, generator, "bool")


REFERENCE = {"DropoutFunction": _ReferenceFunction, "Dropout": reference.Dropout}


def _scaled(x: torch.Tensor, kept: torch.Tensor, p: float) -> torch.Tensor:
    return trusted(reference.dropout_backward, x, reference.DropoutCache(mask=kept, scale=1.0 / (1.0 - p)))


def _pattern_differences(found: torch.Tensor, kept: torch.Tensor) -> int | str:
    return count(T.ne(T.ne(found, 0), kept)) if T.shape(found) == T.shape(kept) else "all"


def _apply(fn: object, x: torch.Tensor, p: float, g: torch.Generator | None) -> torch.Tensor:
    out = invoke(f"DropoutFunction.apply(x, {p}, generator)", fn.apply, x, p, g)  # type: ignore[attr-defined]
    return expect_tensor(out, "DropoutFunction.apply's result")


def _layer(Dropout: object, p: float) -> torch.nn.Module:
    return invoke(f"Dropout(p={p})", Dropout, p)


def _run(layer: torch.nn.Module, x: torch.Tensor, what: str = "layer(x)") -> torch.Tensor:
    out = expect_tensor(invoke(what, layer, x), f"the output of {what}")
    if tuple(T.shape(out)) != tuple(T.shape(x)):
        fail(f"{what} should have x's shape {tuple(T.shape(x))}, found {tuple(T.shape(out))}")
    return out


def _check_scale(out: torch.Tensor, x: torch.Tensor, p: float, what: str) -> torch.Tensor:
    kept = T.ne(out, 0)
    if not close(out, _scaled(x, kept, p)):
        fail(
            f"{what}: kept entries should be x / (1 - p) = x * {1 / (1 - p):.4g} and dropped ones 0, "
            "found other values"
        )
    return kept


# --------------------------------------------------------------------------------------------------
# DropoutFunction
# --------------------------------------------------------------------------------------------------
@check(A, "DropoutFunction: output is x * m / (1 - p), gradient is g * m / (1 - p) with the same m")
def check_function_output_and_gradient(DropoutFunction: object, *, seed: int) -> None:
    p = 0.3
    x = nonzero_input((64, 128), seed).requires_grad_()
    out = _apply(DropoutFunction, x, p, gen(seed))
    kept = _check_scale(out.detach(), x.detach(), p, f"DropoutFunction.apply(x, {p})")
    g = T.randn((64, 128), generator=gen(seed + 1))
    (found,) = invoke("backward through DropoutFunction", grad, out, x, g)
    found = expect_tensor(found, "the gradient")
    if not close(found, _scaled(g, kept, p)):
        fail(
            "the gradient should be g * m / (1 - p) with the forward's mask m, found "
            f"{_pattern_differences(found, kept)} entries whose zero pattern differs from the forward's "
            "(backward must use the saved mask, not draw a new one)"
        )


@check(A, "DropoutFunction saves a bool mask for backward (1 byte per element), no float copy of it")
def check_function_saves_bool_mask(DropoutFunction: object, *, seed: int) -> None:
    x = nonzero_input((32, 64), seed).requires_grad_()
    apply = invoke("DropoutFunction.apply", session().getattr, DropoutFunction, "apply")
    _, saved = invoke(
        "DropoutFunction.apply(x, 0.5, generator)", session().call, apply, x, 0.5, gen(seed), saved=True
    )
    full = [(dtype, n) for dtype, n in saved if n == x.numel()]
    if not any(dtype == "bool" for dtype, _ in full):
        found = ", ".join(f"{n} elements of {dtype}" for dtype, n in saved) or "nothing"
        fail(f"ctx.save_for_backward should save a bool mask of x's shape, found saved: {found}")
    floats = [dtype for dtype, _ in full if dtype.startswith(("float", "bfloat", "complex"))]
    if floats:
        fail(
            f"forward should save only the bool mask, found it also saves a {floats[0]} tensor of x's size: "
            "backward needs only the "
            "mask and p, so save the bool mask alone (1 byte per element instead of 4)"
        )


@check(A, "DropoutFunction keeps a fraction 1 - p of the entries (p = 0.3)", intervals=1)
def check_function_keep_rate(DropoutFunction: object, *, seed: int) -> None:
    out = _apply(DropoutFunction, nonzero_input((ROWS, COLS), seed), 0.3, gen(seed))
    binomial(count(T.ne(out, 0)), N, 0.7, "nonzero outputs of DropoutFunction.apply(x, 0.3)")


@check(A, "DropoutFunction draws from the generator passed in: same seed, same output; other seed, other")
def check_function_generator(DropoutFunction: object, *, seed: int) -> None:
    x = nonzero_input((64, 64), seed)
    a = _apply(DropoutFunction, x, 0.5, gen(seed))
    b = _apply(DropoutFunction, x, 0.5, gen(seed))
    if not same(a, b):
        fail(
            "two generators seeded alike should give the same output, found outputs differing in "
            f"{count(T.ne(a, b))} of {a.numel()} entries: draw the mask with generator=generator"
        )
    c = _apply(DropoutFunction, x, 0.5, gen(seed + 1))
    if same(a, c):  # P = 2**-4096 for a correct answer
        fail(
            "generators with different seeds should give different masks, found the same output: "
            "is the generator argument ignored?"
        )


# --------------------------------------------------------------------------------------------------
# Dropout module
# --------------------------------------------------------------------------------------------------
@check(A, "eval() makes Dropout the identity; train() makes it drop again")
def check_module_eval(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    layer = _layer(Dropout, 0.5)
    x = nonzero_input((64, 64), seed)
    layer.eval()
    out = _run(layer, x, "Dropout(0.5).eval()(x)")
    if not same(out, x):
        fail(
            f"in eval mode Dropout should return x unchanged, found {count(T.ne(out, x))} of {x.numel()} "
            "entries changed (does forward read self.training?)"
        )
    layer.train()
    out = _run(layer, x, "Dropout(0.5).train()(x)")
    if count(T.eq(out, 0)) == 0:  # P = 2**-4096 for a correct layer
        fail("in training mode Dropout(0.5) should drop about half the entries, found none dropped")


@check(A, "Dropout(p) raises ValueError for p outside [0, 1]")
def check_module_invalid_p(Dropout: object, *, seed: int) -> None:
    for p in (-0.1, 1.5):
        expect_value_error(f"Dropout(p={p})", Dropout, p)


@check(A, "p = 0 is the identity; p = 1 gives zeros and zero gradients (no NaN)")
def check_module_p_zero_one(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    x = nonzero_input((16, 32), seed)
    out = _run(_layer(Dropout, 0.0), x, "Dropout(0.0)(x)")
    if not same(out, x):
        fail(f"Dropout(0.0) should return x unchanged, found {count(T.ne(out, x))} entries changed")
    xg = x.clone().requires_grad_()
    out = _run(_layer(Dropout, 1.0), xg, "Dropout(1.0)(x)")
    if not bool(T.all(T.isfinite(out.detach()))) or count(out.detach()) != 0:
        fail(
            "Dropout(1.0) should return all zeros, found NaN, inf or nonzero "
            "entries (1/(1-p) is inf at p = 1)"
        )
    if session().requires_grad(out):
        (found,) = invoke("backward through Dropout(1.0)", grad, out, xg, T.ones((16, 32)))
        found = expect_tensor(found, "the gradient")
        if not bool(T.all(T.isfinite(found))) or count(found) != 0:
            fail("at p = 1 the gradient should be zeros, found NaN, inf or nonzero entries")


@check(A, "output and gradient keep x's dtype (float16, bfloat16, float64)")
def check_module_dtype(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    layer = _layer(Dropout, 0.5)
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        x = nonzero_input((8, 16), seed, dtype).requires_grad_()
        out = _run(layer, x, f"Dropout(0.5)(x of {dtype})")
        if T.dtype(out) != dtype:
            fail(
                f"Dropout on a {dtype} input should return {dtype}, found {T.dtype(out)} "
                "(a float mask promotes it)"
            )
        if not finite(out):
            fail(f"Dropout on a {dtype} input should return finite values, found NaN or inf")
        (found,) = invoke("backward through Dropout", grad, out, x, T.ones((8, 16), dtype=dtype))
        found = expect_tensor(found, "the gradient")
        if T.dtype(found) != dtype:
            fail(f"the gradient for a {dtype} input should be {dtype}, found {T.dtype(found)}")


@check(A, "x on CUDA (or the meta device without a GPU): the mask is made there, the output stays there")
def check_module_device(Dropout: object, *, seed: int) -> None:
    layer = _layer(Dropout, 0.5)

    def attempt(device: torch.device, _values: bool) -> None:
        out = _run(layer, T.ones((8, 16), device=device), f"Dropout(0.5)(x on {device})")
        if T.device(out).type != device.type:
            fail(f"Dropout on a {device} input should return a {device} tensor, found {T.device(out)}")
        if not finite(out):
            fail(f"Dropout on a {device} input should return finite values, found NaN or inf")

    on_other_device(attempt)


@check(A, "the input is not modified (values and version counter)")
def check_module_no_mutation(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    x = nonzero_input((32, 64), seed)
    before = T.clone(x)
    _, version = session().observe(x)
    _run(_layer(Dropout, 0.5), x)
    after, version_after = session().observe(x)
    if T.shape(after) != T.shape(before) or not same(after, before) or version_after != version:
        changed = count(T.ne(after, before)) if T.shape(after) == T.shape(before) else "all"
        fail(
            f"Dropout must not modify its input, found {changed} entries of x changed "
            f"(version {version} -> {version_after}): compute a new tensor instead of x.mul_()"
        )


@check(A, "training output: kept entries are x / (1 - p), about 1 - p of them (p = 0.25)", intervals=1)
def check_module_keep_rate(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.25
    x = nonzero_input((ROWS, COLS), seed)
    out = _run(_layer(Dropout, p), x, f"Dropout({p})(x)")
    kept = _check_scale(out, x, p, f"Dropout({p})(x)")
    binomial(count(kept), N, 1.0 - p, f"nonzero outputs of Dropout({p})(x)")


@check(A, "a new mask every call", intervals=1)
def check_module_fresh_masks(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    layer = _layer(Dropout, 0.5)
    x = nonzero_input((ROWS, COLS), seed)
    a, b = _run(layer, x), _run(layer, x)
    binomial(count(T.eq(T.ne(a, 0), T.ne(b, 0))), N, 0.5, "entries whose keep/drop agrees between two calls")


@check(A, "mask entries are independent across a row and across the rows of a batch", intervals=2)
def check_module_independent(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.3
    kept = T.ne(_run(_layer(Dropout, p), nonzero_input((ROWS, COLS), seed)), 0)
    q = agreement_rate(1.0 - p)
    binomial(count(T.eq(kept[:, 0::2], kept[:, 1::2])), N // 2, q, "neighbouring entries that agree")
    binomial(
        count(T.eq(kept[0::2], kept[1::2])),
        N // 2,
        q,
        "entries of rows 2i and 2i+1 that agree (one mask per batch?)",
    )


@check(A, "the gradient uses the forward's mask: x.grad = g * m / (1 - p)")
def check_module_gradient(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    p = 0.4
    x = nonzero_input((64, 64), seed).requires_grad_()
    out = _run(_layer(Dropout, p), x)
    kept = T.ne(out.detach(), 0)
    g = T.randn((64, 64), generator=gen(seed + 1))
    (found,) = invoke("backward through Dropout", grad, out, x, g)
    found = expect_tensor(found, "the gradient")
    if not close(found, _scaled(g, kept, p)):
        fail(
            "x.grad should be g * m / (1 - p) with the forward's mask, found "
            f"{_pattern_differences(found, kept)} entries whose zero pattern differs from the output's"
        )


# --------------------------------------------------------------------------------------------------
# Inputs of 3 and 4 dimensions, inputs with zeros, several layers, gradients in eval mode
# --------------------------------------------------------------------------------------------------
#: Shapes of 3 and 4 dimensions (4,096 entries each); see :data:`autograder.checks.masks.MANY_DIMS`.
MANY_DIMS = ((16, 16, 16), (8, 8, 8, 8))
MANY_DIMS_INTERVALS = sum(1 + len(shape) for shape in MANY_DIMS)


@check(
    A,
    "DropoutFunction on 3- and 4-dim inputs: x * m / (1 - p), m independent along every dimension, "
    "gradient through the same m",
    intervals=MANY_DIMS_INTERVALS,
)
def check_function_many_dims(DropoutFunction: object, *, seed: int) -> None:
    p = 0.5
    g = gen(seed)
    q = agreement_rate(1.0 - p)
    for shape in MANY_DIMS:
        x = nonzero_input(shape, seed).requires_grad_()
        out = _apply(DropoutFunction, x, p, g)
        what = f"DropoutFunction.apply(x of shape {shape}, {p})"
        kept = _check_scale(out.detach(), x.detach(), p, what)
        n = kept.numel()
        binomial(count(kept), n, 1.0 - p, f"nonzero outputs of {what}")
        for dim in range(len(shape)):
            moved = kept.movedim(dim, 0)
            binomial(
                count(T.eq(moved[0::2], moved[1::2])),
                n // 2,
                q,
                f"outputs of {what} whose keep/drop agrees with their neighbour along dimension {dim} "
                f"(one draw shared along dimension {dim}?)",
            )
        grad_output = T.randn(shape, generator=gen(seed + 1))
        (found,) = invoke(f"backward through {what}", grad, out, x, grad_output)
        if not close(expect_tensor(found, "the gradient"), _scaled(grad_output, kept, p)):
            fail(f"the gradient for an input of shape {shape} should be g * m / (1 - p), found other values")


@check(A, "zeros in x: the gradient is still g / (1 - p) wherever the mask kept the unit")
def check_function_zeros_in_input(DropoutFunction: object, *, seed: int) -> None:
    """Exact: generators seeded alike draw the same mask (the mask depends on x's shape, p and the
    generator only); the first call, on an x without zeros, shows it, the second has zeros in every
    other column. A mask saved as ``out != 0`` is False where x is 0, and passes no gradient there."""
    p = 0.5
    shape = (32, 64)
    full = nonzero_input(shape, seed)
    kept = T.ne(_apply(DropoutFunction, full, p, gen(seed)).detach(), 0)
    holes = T.clone(full)
    holes[:, 0::2] = 0.0
    holes.requires_grad_()
    out = _apply(DropoutFunction, holes, p, gen(seed))
    if not close(out.detach(), _scaled(holes.detach(), kept, p)):
        fail(
            "two generators seeded alike should draw the same mask whatever x's values, found a different "
            "output for an x with zeros"
        )
    grad_output = T.randn(shape, generator=gen(seed + 1))
    (found,) = invoke("backward through DropoutFunction for an x with zeros", grad, out, holes, grad_output)
    found = expect_tensor(found, "the gradient")
    expected = _scaled(grad_output, kept, p)
    if not close(found, expected):
        fail(
            "where x is 0 but the unit was kept the gradient should still be g / (1 - p), found "
            f"{_pattern_differences(found, kept)} entries whose zero pattern differs from the mask's: "
            "save the mask itself, not out != 0 (which is False wherever x is 0)"
        )


@check(A, "two layers with different p alive at once: each drops and scales with its own p")
def check_module_layers_alive(Dropout: object, *, seed: int) -> None:
    """Exact: the scale of the kept entries is 1 / (1 - p) of the layer that ran."""
    seed_student(seed)
    x = nonzero_input((64, 64), seed)
    low, high = _layer(Dropout, 0.2), _layer(Dropout, 0.8)
    for layer, p in ((low, 0.2), (high, 0.8), (low, 0.2)):
        out = _run(layer, x, f"Dropout({p})(x) with a Dropout({0.8 if p == 0.2 else 0.2}) alive")
        kept = T.ne(out, 0)
        if not close(out, _scaled(x, kept, p)):
            fail(
                f"with a Dropout(0.2) and a Dropout(0.8) alive, Dropout({p})(x) should keep entries as "
                f"x / (1 - {p}) = x * {1 / (1 - p):.4g}, found other values: keep p on the instance "
                "(self.p), not on the class"
            )
        if count(kept) == 0:  # P = 0.8**4096 for a correct layer
            fail(f"Dropout({p})(x) should keep about {1 - p:.0%} of the entries, found none kept")


@check(A, "gradients flow through the identity of eval mode and of p = 0: x.grad = g")
def check_module_identity_gradient(Dropout: object, *, seed: int) -> None:
    seed_student(seed)
    g = T.randn((16, 32), generator=gen(seed + 1))
    for p, training in ((0.5, False), (0.0, True)):
        layer = _layer(Dropout, p)
        invoke("layer.train()" if training else "layer.eval()", layer.train, training)
        x = nonzero_input((16, 32), seed).requires_grad_()
        what = f"Dropout({p}) in {'training' if training else 'eval'} mode"
        out = _run(layer, x, what)
        if not session().requires_grad(out):
            fail(
                f"the output of {what} should carry x's gradient (it is x itself), found a tensor detached "
                "from the graph (x.detach() or torch.no_grad()): a network evaluated with it cannot be "
                "fine-tuned or differentiated"
            )
        (found,) = invoke(f"backward through {what}", grad, out, x, g)
        if not same(expect_tensor(found, "the gradient"), g):
            fail(f"the gradient through {what} should be g unchanged (the identity), found other values")
