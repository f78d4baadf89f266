"""Checks for the **masks** assignment: ``dropout_mask``, ``dropout_forward``, ``dropout_backward``.

Exact where the answer's own mask makes the result determined (the mask is read back from the
output: inputs have no zeros, so an output entry is zero exactly where the unit was dropped), binomial
intervals where only the distribution is known (keep rate, mean, independence across elements, rows
and calls). Each statistical check's false-failure rate is its number of intervals times
:data:`~autograder.checks.core.INTERVAL_RATE`.
"""

from __future__ import annotations

import torch

import autograder.reference as reference

from .common import expect_value_error, finite, gen, nonzero_input, seed_student
from .core import (
    T,
    agreement_rate,
    binomial,
    close,
    count,
    describe_tensor,
    expect_tensor,
    fail,
    interval,
    same,
)
from .devices import on_other_device
from .harness import check, invoke, invoke_each, trusted
from .remote import session

A = "masks"
ROWS, COLS = 128, 256
N = ROWS * COLS

#: The reference objects under the names the notebook uses (the self-check's stand-in answer).
REFERENCE = {
    "dropout_mask": reference.dropout_mask,
    "dropout_forward": reference.dropout_forward,
    "dropout_backward": reference.dropout_backward,
}


def _mask(dropout_mask: object, shape: tuple[int, ...], p: float, **kwargs: object) -> torch.Tensor:
    return _masks(dropout_mask, shape, p, 1, **kwargs)[0]


def _masks(
    dropout_mask: object, shape: tuple[int, ...], p: float, calls: int, **kwargs: object
) -> list[torch.Tensor]:
    """``calls`` masks from ``dropout_mask(shape, p, **kwargs)``, called in order (one round trip)."""
    call = f"dropout_mask({shape}, p={p}{''.join(f', {k}=...' for k in kwargs)})"
    results = invoke_each(call, dropout_mask, [((shape, p), dict(kwargs))] * calls)
    masks = []
    for result in results:
        m = expect_tensor(result, f"{call}'s result")
        if T.dtype(m) != torch.bool:
            fail(f"{call} should return a bool keep mask (True = keep), found {describe_tensor(m)}")
        if tuple(T.shape(m)) != tuple(shape):
            fail(f"{call} should have shape {shape}, found {tuple(T.shape(m))}")
        masks.append(m)
    return masks


def _forward(
    dropout_forward: object, x: torch.Tensor, p: float, training: bool = True, **kwargs: object
) -> tuple[torch.Tensor, object]:
    call = f"dropout_forward(x, p={p}, training={training}{''.join(f', {k}=...' for k in kwargs)})"
    result = invoke(call, dropout_forward, x, p, training, **kwargs)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"{call} should return a pair (output, cache), found {describe_tensor(result)}")
    out = expect_tensor(result[0], f"the output of {call}")
    if tuple(T.shape(out)) != tuple(T.shape(x)):
        fail(f"the output of {call} should have x's shape {tuple(T.shape(x))}, found {tuple(T.shape(out))}")
    return out, result[1]


def _scaled(x: torch.Tensor, kept: torch.Tensor, p: float) -> torch.Tensor:
    """The reference's answer for this mask: the reference backward is the same map as forward."""
    return trusted(reference.dropout_backward, x, reference.DropoutCache(mask=kept, scale=1.0 / (1.0 - p)))


# ---------------------------------------------------------------------------------------------------
# dropout_mask
# ---------------------------------------------------------------------------------------------------
@check(A, "keep rate of dropout_mask is 1 - p at p = 0.2, 0.5, 0.9", intervals=3)
def check_mask_keep_rate(dropout_mask: object, *, seed: int) -> None:
    g = gen(seed)
    for p in (0.2, 0.5, 0.9):
        m = _mask(dropout_mask, (ROWS, COLS), p, generator=g)
        binomial(count(m), N, 1.0 - p, f"kept entries of dropout_mask(({ROWS}, {COLS}), p={p})")


@check(A, "mask entries are independent across elements and across rows", intervals=2)
def check_mask_independent(dropout_mask: object, *, seed: int) -> None:
    p = 0.3
    m = _mask(dropout_mask, (ROWS, COLS), p, generator=gen(seed))
    q = agreement_rate(1.0 - p)
    # Disjoint pairs only, so the agreements are independent and the count is exactly binomial.
    binomial(
        count(T.eq(m[:, 0::2], m[:, 1::2])),
        ROWS * COLS // 2,
        q,
        "neighbouring entries (columns 2j, 2j+1) that agree",
    )
    binomial(
        count(T.eq(m[0::2], m[1::2])),
        ROWS * COLS // 2,
        q,
        "entries of rows 2i and 2i+1 that agree (one mask shared by every row?)",
    )


@check(A, "two calls draw two independent masks (with and without a generator)", intervals=2)
def check_mask_fresh_each_call(dropout_mask: object, *, seed: int) -> None:
    p = 0.5
    q = agreement_rate(1.0 - p)
    seed_student(seed)
    first = _mask(dropout_mask, (ROWS, COLS), p)
    second = _mask(dropout_mask, (ROWS, COLS), p)
    binomial(count(T.eq(first, second)), N, q, "entries on which two calls (global generator) agree")
    g = gen(seed)
    first = _mask(dropout_mask, (ROWS, COLS), p, generator=g)
    second = _mask(dropout_mask, (ROWS, COLS), p, generator=g)
    binomial(count(T.eq(first, second)), N, q, "entries on which two calls (one generator) agree")


@check(A, "the mask comes from the generator passed in: same seed, same mask; other seed, other mask")
def check_mask_generator(dropout_mask: object, *, seed: int) -> None:
    shape = (64, 64)
    a = _mask(dropout_mask, shape, 0.5, generator=gen(seed))
    b = _mask(dropout_mask, shape, 0.5, generator=gen(seed))
    if not same(a, b):
        fail(
            "two generators seeded alike should give the same mask, found masks differing in "
            f"{count(T.ne(a, b))} of {a.numel()} entries: draw with generator=generator "
            "(np.random or the global generator ignore it)"
        )
    c = _mask(dropout_mask, shape, 0.5, generator=gen(seed + 1))
    if same(a, c):  # P = 2**-4096 for a correct answer
        fail(
            "generators with different seeds should give different masks, found the same mask: "
            "is the generator argument ignored?"
        )


@check(
    A, "dropout_mask(..., device=d) creates the mask on d (tested on CUDA, or the meta device without a GPU)"
)
def check_mask_device(dropout_mask: object, *, seed: int) -> None:
    def attempt(device: torch.device, _values: bool) -> None:
        m = invoke(
            f"dropout_mask((8, 8), 0.5, device={str(device)!r})", dropout_mask, (8, 8), 0.5, device=device
        )
        m = expect_tensor(m, "dropout_mask's result")
        if T.device(m).type != device.type:
            fail(f"dropout_mask(..., device={str(device)!r}) should be on {device}, found {T.device(m)}")

    on_other_device(attempt)


@check(A, "p = 0 keeps everything, p = 1 drops everything, p outside [0, 1] raises ValueError")
def check_mask_edge_cases(dropout_mask: object, *, seed: int) -> None:
    g = gen(seed)
    m = _mask(dropout_mask, (32, 32), 0.0, generator=g)
    if count(m) != m.numel():
        fail(f"dropout_mask(shape, p=0) should keep all {m.numel()} entries, found {count(m)} kept")
    m = _mask(dropout_mask, (32, 32), 1.0, generator=g)
    if count(m) != 0:
        fail(f"dropout_mask(shape, p=1) should keep no entry, found {count(m)} kept")
    for p in (-0.1, 1.5):
        expect_value_error(f"dropout_mask((4,), p={p})", dropout_mask, (4,), p)


# ---------------------------------------------------------------------------------------------------
# dropout_forward / dropout_backward
# ---------------------------------------------------------------------------------------------------
@check(A, "kept entries are exactly x / (1 - p), dropped ones exactly 0 (the inverted scale)")
def check_forward_output(dropout_forward: object, *, seed: int) -> None:
    for p in (0.25, 0.6):
        x = nonzero_input((64, 128), seed)
        out, _ = _forward(dropout_forward, x, p, generator=gen(seed))
        kept = T.ne(out, 0)
        expected = _scaled(x, kept, p)
        if not close(out, expected):
            first = kept.flatten().nonzero()
            i = int(T.item(first[0, 0])) if len(first) else 0
            ratio = float(T.item(out.flatten()[i] / x.flatten()[i]))
            fail(
                f"at p={p} kept entries should be x * 1/(1-p) = x * {1 / (1 - p):.4g}, found x * {ratio:.4g} "
                "(x * 1 means the rescale is missing)"
            )


@check(A, "fraction of nonzero outputs is 1 - p (p = 0.2 and 0.7)", intervals=2)
def check_forward_keep_rate(dropout_forward: object, *, seed: int) -> None:
    g = gen(seed)
    for p in (0.2, 0.7):
        out, _ = _forward(dropout_forward, nonzero_input((ROWS, COLS), seed), p, generator=g)
        binomial(count(T.ne(out, 0)), N, 1.0 - p, f"nonzero outputs of dropout_forward(x, p={p})")


@check(A, "the mean is preserved: E[dropout(x)] = x (checked on x = 1, p = 0.4)", intervals=1)
def check_forward_expectation(dropout_forward: object, *, seed: int) -> None:
    p = 0.4
    out, _ = _forward(dropout_forward, T.ones(N), p, generator=gen(seed))
    total = float(T.item(T.sum(out, dtype=torch.float64)))
    implied = round(total * (1.0 - p))  # number of kept units if survivors are 1 / (1 - p)
    mean = total / N
    accept = interval(N, 1.0 - p)
    if not accept.contains(implied):
        fail(
            f"the mean of dropout_forward(ones, p={p}) should be about 1 (inverted dropout preserves "
            f"the expectation: between {accept.low / (N * (1 - p)):.4f} "
            f"and {accept.high / (N * (1 - p)):.4f}), "
            f"found {mean:.4f}"
        )


@check(A, "training=False returns x unchanged (evaluation mode)")
def check_forward_eval(dropout_forward: object, *, seed: int) -> None:
    x = nonzero_input((32, 64), seed)
    out, _ = _forward(dropout_forward, x, 0.5, training=False, generator=gen(seed))
    if not same(out, x):
        fail(
            "dropout_forward(x, p=0.5, training=False) should return x unchanged, found "
            f"{count(T.ne(out, x))} of {x.numel()} entries changed"
        )


@check(A, "p = 0 returns x unchanged")
def check_forward_p_zero(dropout_forward: object, *, seed: int) -> None:
    x = nonzero_input((32, 64), seed)
    out, _ = _forward(dropout_forward, x, 0.0, generator=gen(seed))
    if not same(out, x):
        fail(
            f"dropout_forward(x, p=0) should return x unchanged, found {count(T.ne(out, x))} entries changed"
        )


@check(A, "p = 1 returns zeros (not NaN) and backward returns zero gradients")
def check_forward_p_one(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    x = nonzero_input((16, 32), seed)
    out, cache = _forward(dropout_forward, x, 1.0, generator=gen(seed))
    if not bool(T.all(T.isfinite(out))):
        fail(
            "dropout_forward(x, p=1) should return zeros, found NaN or inf (0 * 1/(1-1) is NaN: handle p = 1)"
        )
    if count(out) != 0:
        fail(f"dropout_forward(x, p=1) should return all zeros, found {count(out)} nonzero entries")
    grad = expect_tensor(
        invoke("dropout_backward(g, cache) at p=1", dropout_backward, T.ones((16, 32)), cache), "grad"
    )
    if not bool(T.all(T.isfinite(grad))) or count(grad) != 0:
        fail("at p=1 the gradient should be all zeros, found nonzero, NaN or inf entries")


@check(A, "p outside [0, 1] raises ValueError, in training and in evaluation")
def check_forward_invalid_p(dropout_forward: object, *, seed: int) -> None:
    for p in (-0.1, 1.5):
        expect_value_error(f"dropout_forward(x, p={p})", dropout_forward, nonzero_input((4,), seed), p)
        expect_value_error(
            f"dropout_forward(x, p={p}, training=False)", dropout_forward, nonzero_input((4,), seed), p, False
        )


@check(A, "output and gradient keep x's dtype (float16, bfloat16, float64) at p = 0.5 and p = 1")
def check_forward_dtype(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        for p in (0.5, 1.0):
            x = nonzero_input((8, 16), seed, dtype)
            out, cache = _forward(dropout_forward, x, p, generator=gen(seed))
            if T.dtype(out) != dtype:
                fail(
                    f"dropout_forward(x, p={p}) on a {dtype} input should return {dtype}, found "
                    f"{T.dtype(out)} (promoted by the mask?)"
                )
            if not finite(out):
                fail(f"dropout_forward on a {dtype} input should return finite values, found NaN or inf")
            grad = invoke(
                f"dropout_backward(g, cache) at p={p}", dropout_backward, T.ones((8, 16), dtype=dtype), cache
            )
            grad = expect_tensor(grad, "dropout_backward's result")
            if T.dtype(grad) != dtype:
                fail(
                    f"dropout_backward at p={p} on a {dtype} gradient should return {dtype}, found "
                    f"{T.dtype(grad)} (a float mask in the cache promotes it)"
                )
            if not finite(grad):
                fail(f"dropout_backward on a {dtype} gradient should return finite values, found NaN or inf")


@check(A, "x on CUDA (or the meta device without a GPU): the mask is made there, the output stays there")
def check_forward_device(dropout_forward: object, *, seed: int) -> None:
    def attempt(device: torch.device, _values: bool) -> None:
        x = T.ones((8, 16), device=device)
        out, _ = _forward(dropout_forward, x, 0.5)
        if T.device(out).type != device.type:
            fail(
                f"dropout_forward on a {device} input should return a {device} tensor, found {T.device(out)}"
            )
        if not finite(out):
            fail(f"dropout_forward on a {device} input should return finite values, found NaN or inf")

    on_other_device(attempt)


@check(A, "x is not modified (values and version counter)")
def check_forward_no_mutation(dropout_forward: object, *, seed: int) -> None:
    x = nonzero_input((32, 64), seed)
    before = T.clone(x)
    _, version = session().observe(x)
    _forward(dropout_forward, x, 0.5, generator=gen(seed))
    after, version_after = session().observe(x)
    if T.shape(after) != T.shape(before) or not same(after, before) or version_after != version:
        changed = count(T.ne(after, before)) if T.shape(after) == T.shape(before) else "all"
        fail(
            f"dropout_forward must not modify its input, found {changed} entries of x changed "
            f"(version counter {version} -> {version_after}): use out-of-place ops (x * mask), not x.mul_()"
        )


@check(A, "two calls draw independent masks (global generator)", intervals=1)
def check_forward_fresh_masks(dropout_forward: object, *, seed: int) -> None:
    x = nonzero_input((ROWS, COLS), seed)
    seed_student(seed)
    a, _ = _forward(dropout_forward, x, 0.5)
    b, _ = _forward(dropout_forward, x, 0.5)
    binomial(count(T.eq(T.ne(a, 0), T.ne(b, 0))), N, 0.5, "entries whose keep/drop agrees between two calls")


@check(A, "the generator passed in decides the mask: same seed, same output")
def check_forward_generator(dropout_forward: object, *, seed: int) -> None:
    x = nonzero_input((64, 64), seed)
    a, _ = _forward(dropout_forward, x, 0.5, generator=gen(seed))
    b, _ = _forward(dropout_forward, x, 0.5, generator=gen(seed))
    if not same(a, b):
        fail(f"same generator seed should give the same output, found {count(T.ne(a, b))} entries differing")


@check(A, "backward uses the forward's mask: grad = g * m / (1 - p), every time it is called")
def check_backward_same_mask(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    p = 0.4
    x = nonzero_input((64, 64), seed)
    out, cache = _forward(dropout_forward, x, p, generator=gen(seed))
    kept = T.ne(out, 0)
    g = T.randn((64, 64), generator=gen(seed + 3))
    expected = _scaled(g, kept, p)
    for attempt in ("first", "second"):
        grad = expect_tensor(invoke("dropout_backward(g, cache)", dropout_backward, g, cache), "the gradient")
        if not close(grad, expected):
            wrong = count(T.ne(T.ne(grad, 0), kept)) if T.shape(grad) == T.shape(kept) else "all"
            fail(
                f"the {attempt} call of dropout_backward should give g * m / (1-p) "
                "with the forward's mask m, "
                f"found {wrong} entries whose zero/nonzero pattern differs from the forward's output "
                "(a new mask drawn in backward?)"
            )


@check(A, "backward works on every cache forward returns: in evaluation and at p = 0 it returns g unchanged")
def check_backward_identity_cache(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    x = nonzero_input((16, 32), seed)
    g = T.randn((16, 32), generator=gen(seed + 5))
    for p, training in ((0.5, False), (0.0, True)):
        call = f"dropout_forward(x, p={p}, training={training})"
        _, cache = _forward(dropout_forward, x, p, training, generator=gen(seed))
        grad = expect_tensor(
            invoke(f"dropout_backward(g, cache of {call})", dropout_backward, g, cache),
            f"dropout_backward's result for the cache of {call}",
        )
        if T.shape(grad) != T.shape(g) or not same(grad, g):
            fail(
                f"the output of {call} is x itself, so dropout_backward(g, cache) should return g unchanged, "
                f"found {describe_tensor(grad)} with other values"
            )


# ---------------------------------------------------------------------------------------------------
# Inputs of 3 and 4 dimensions, inputs with zeros
# ---------------------------------------------------------------------------------------------------
#: Shapes of 3 and 4 dimensions (4,096 entries each): a mask shared along any one dimension, as
#: Dropout2d shares one draw per channel, agrees on all 2,048 pairs of neighbouring slices of that
#: dimension where an independent mask at p = 0.5 agrees on about 1,024 (the interval is about +-150).
MANY_DIMS = ((16, 16, 16), (8, 8, 8, 8))
#: Binomial intervals one shape of :data:`MANY_DIMS` costs: its keep rate and one per dimension.
MANY_DIMS_INTERVALS = sum(1 + len(shape) for shape in MANY_DIMS)


def _independent_along_every_dim(kept: torch.Tensor, p: float, what: str) -> None:
    """Keep rate 1 - p, and neighbouring slices (2i, 2i + 1) of every dimension agree at the rate of
    independent draws (1 + len(shape) intervals)."""
    n = kept.numel()
    binomial(count(kept), n, 1.0 - p, f"kept entries of {what}")
    q = agreement_rate(1.0 - p)
    for dim in range(kept.dim()):
        moved = kept.movedim(dim, 0)
        binomial(
            count(T.eq(moved[0::2], moved[1::2])),
            n // 2,
            q,
            f"entries of {what} that agree with their neighbour along dimension {dim} "
            f"(one draw shared along dimension {dim}?)",
        )


@check(
    A,
    "3- and 4-dim shapes: a bool mask of that shape, kept at rate 1 - p, independent along every dimension",
    intervals=MANY_DIMS_INTERVALS,
)
def check_mask_many_dims(dropout_mask: object, *, seed: int) -> None:
    p = 0.5
    g = gen(seed)
    for shape in MANY_DIMS:
        m = _mask(dropout_mask, shape, p, generator=g)
        _independent_along_every_dim(m, p, f"dropout_mask({shape}, p={p})")


@check(
    A,
    "forward and backward on 3- and 4-dim inputs: x * m / (1 - p) with m independent along every dimension",
    intervals=MANY_DIMS_INTERVALS,
)
def check_forward_many_dims(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    p = 0.5
    g = gen(seed)
    for shape in MANY_DIMS:
        x = nonzero_input(shape, seed)
        out, cache = _forward(dropout_forward, x, p, generator=g)
        kept = T.ne(out, 0)
        if not close(out, _scaled(x, kept, p)):
            fail(
                f"on an input of shape {shape} kept entries should be x / (1 - p) = 2x and dropped ones 0, "
                "found other values"
            )
        _independent_along_every_dim(kept, p, f"the output of dropout_forward(x of shape {shape}, p={p})")
        grad_output = T.randn(shape, generator=gen(seed + 3))
        found = expect_tensor(
            invoke(f"dropout_backward(g, cache) for a {shape} input", dropout_backward, grad_output, cache),
            "the gradient",
        )
        if not close(found, _scaled(grad_output, kept, p)):
            fail(
                f"for an input of shape {shape} dropout_backward should give g * m / (1 - p) with the "
                "forward's mask, found other values"
            )


@check(A, "zeros in x: backward still passes g / (1 - p) wherever the mask kept the unit")
def check_backward_zeros_in_input(dropout_forward: object, dropout_backward: object, *, seed: int) -> None:
    """Exact. The mask depends only on the shape, p and the generator (the task draws it with
    ``dropout_mask(x.shape, p, generator, x.device)``), so two calls with generators seeded alike draw
    the same mask; the first, on an input without zeros, shows it. The second input is zero in every
    other column: where the mask kept such a unit the output is 0 although it was not dropped, and its
    gradient must still be g / (1 - p). An answer that rebuilds the mask from ``out != 0`` passes 0."""
    p = 0.5
    shape = (32, 64)
    full = nonzero_input(shape, seed)
    reference_out, _ = _forward(dropout_forward, full, p, generator=gen(seed))
    kept = T.ne(reference_out, 0)
    holes = T.clone(full)
    holes[:, 0::2] = 0.0
    out, cache = _forward(dropout_forward, holes, p, generator=gen(seed))
    if not close(out, _scaled(holes, kept, p)):
        fail(
            "two generators seeded alike should draw the same mask whatever x's values (the mask depends "
            "only on x.shape, p and the generator), found a different output for an x with zeros"
        )
    grad_output = T.randn(shape, generator=gen(seed + 3))
    found = expect_tensor(
        invoke("dropout_backward(g, cache) for an x with zeros", dropout_backward, grad_output, cache),
        "the gradient",
    )
    expected = _scaled(grad_output, kept, p)
    if not close(found, expected):
        lost = count(
            T.mul(T.eq(found, 0), T.ne(expected, 0)) if T.shape(found) == T.shape(expected) else kept
        )
        fail(
            "where x is 0 but the unit was kept the gradient should still be g / (1 - p), found "
            f"{lost} kept entries with gradient 0: the mask was rebuilt from the output (out != 0), "
            "which is 0 wherever x is; keep the mask itself in the cache"
        )


@check(
    A, "the number of kept entries varies from call to call (each entry is its own draw), also for one unit"
)
def check_mask_count_varies(dropout_mask: object, *, seed: int) -> None:
    """Exact in effect. 64 calls on 16 units at p = 0.5: a correct mask keeps k units with probability
    C(16, k) / 2**16 <= 0.197, so all 64 calls keep the same number with probability below 0.197**63 <
    1e-44; 64 calls on one unit all agree with probability 2**-63. An answer that keeps exactly
    round((1 - p) n) units (a random permutation, ``topk`` of the draws) keeps the same number every time."""
    g = gen(seed)
    p, calls = 0.5, 64
    counts = {count(m) for m in _masks(dropout_mask, (16,), p, calls, generator=g)}
    if len(counts) == 1:
        fail(
            f"{calls} calls of dropout_mask((16,), p={p}) should keep varying numbers of units (each unit "
            f"is kept with probability {1 - p}, independently: 8 of 16 only on average), found exactly "
            f"{counts.pop()} kept every time: draw each entry, do not pick a fixed number of units"
        )
    single = {count(m) for m in _masks(dropout_mask, (1,), p, calls, generator=g)}
    if len(single) == 1:
        fail(
            f"{calls} calls of dropout_mask((1,), p={p}) should sometimes keep the unit and sometimes drop "
            f"it, found it {'kept' if single.pop() else 'dropped'} every time"
        )
