"""Dropout written from scratch on tensors: the reference every chapter, exercise and hidden test uses.

Notation (the book's notation page): ``p`` is the probability of *dropping* a unit, ``1 - p`` the
probability of keeping it, ``m`` the keep mask and ``1 / (1 - p)`` the scale. Inverted dropout
multiplies by ``m / (1 - p)`` during training so that ``E[out] = x`` and evaluation needs no change.

Nothing here calls ``torch.nn.functional.dropout`` or ``nn.Dropout``. Dropout *is a multiplication*:
the output is ``x * noise`` with ``noise = m / (1 - p)`` in x's dtype, exactly as PyTorch's CPU dropout
computes it. So a dropped negative number becomes ``-0.0``, a dropped ``inf`` or ``NaN`` becomes
``NaN``, and the gradient is ``grad * noise`` with the same signs of zero. On the CPU, under the same
seed, :func:`dropout` returns bit for bit what ``F.dropout`` returns, with every ``keep_mask_as``
strategy, in float16, bfloat16, float32 and float64, for every ``p`` and layout (the tests compare the
integer views of the results). The masks are drawn in :mod:`~autograder.reference.masks`; channel,
alpha and Gaussian dropout are in :mod:`~autograder.reference.variants`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from .masks import (
    dropout_mask,
    fill_keep_mask,
    fill_noise,
    generator_state,
    in_memory_order,
    is_dense,
    noise_chunks,
    noise_chunks_from_keep,
    replay_generator,
    scale_like,
)
from .validation import (
    KEEP_MASK_STRATEGIES,
    check_floating,
    check_generator,
    check_probability,
    check_strategy,
)

# The variants used to live in this module; these names keep imports from here working.
from .variants import (  # noqa: E402, F401
    SELU_ALPHA,
    SELU_SATURATION,
    SELU_SCALE,
    alpha_dropout,
    channel_dropout,
    gaussian_dropout,
)

KeepMaskAs = Literal["float", "bool", "seed"]
_check_strategy = check_strategy  # the name this module used to export

__all__ = [
    "KEEP_MASK_STRATEGIES",
    "DropoutCache",
    "KeepMaskAs",
    "dropout",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "dropout_with_mask",
    "fill_keep_mask",
]


# --------------------------------------------------------------------------------------------------
# A from-scratch forward/backward with an explicit cache (chapter 1, the "masks" assignment).
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DropoutCache:
    """What the backward pass of inverted dropout needs: the keep mask and the scale, nothing else."""

    mask: torch.Tensor | None  # bool keep mask; None when nothing was dropped (eval or p == 0)
    scale: float


def dropout_forward(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, DropoutCache]:
    """Inverted dropout without autograd: returns the output and the cache backward needs.

    The teaching version: ``x * m * (1 / (1 - p))`` with the scale as a Python float. It draws the
    same mask as :func:`dropout`; its arithmetic is the textbook one, not PyTorch's (see
    :func:`dropout` for the bit-exact version).
    """
    check_floating(x)
    p = check_probability(p)
    if not training or p == 0.0:
        return x, DropoutCache(mask=None, scale=1.0)
    if p == 1.0:
        return torch.zeros_like(x), DropoutCache(mask=torch.zeros_like(x, dtype=torch.bool), scale=0.0)
    mask = dropout_mask(x.shape, p, generator=generator, device=x.device)
    scale = 1.0 / (1.0 - p)
    return x * mask * scale, DropoutCache(mask=mask, scale=scale)


def dropout_backward(grad_output: torch.Tensor, cache: DropoutCache) -> torch.Tensor:
    """The gradient of inverted dropout: the upstream gradient through the *same* mask and scale."""
    if cache.mask is None:
        return grad_output
    if cache.mask.shape != grad_output.shape:
        raise ValueError(
            f"grad_output has shape {tuple(grad_output.shape)} but the cached mask has shape "
            f"{tuple(cache.mask.shape)}: backward must get the gradient of this forward's output"
        )
    return grad_output * cache.mask * cache.scale


# --------------------------------------------------------------------------------------------------
# The autograd version, with three ways of remembering the mask for backward.
# --------------------------------------------------------------------------------------------------
class _InvertedDropout(torch.autograd.Function):
    """Inverted dropout whose backward reuses the forward's mask, kept in one of three forms.

    * ``"float"``: the noise ``m / (1 - p)`` in x's dtype (what ``F.dropout`` saves on the CPU);
      backward is one multiplication.
    * ``"bool"``: the keep mask, one byte per element (what ``torch.native_dropout`` saves); backward
      rebuilds the noise from it.
    * ``"seed"``: no mask at all. The generator's state from just before the draw is saved, and
      backward replays the same draw on a fresh generator set to that state (the trick fused
      attention kernels use). It costs a second draw and saves a few kilobytes in total.

    All three compute ``x * noise`` forward and ``grad * noise`` backward with the same noise, so
    their outputs and gradients are identical, bit for bit. The noise is laid out like
    ``torch.empty_like(x)`` and drawn in memory order, as PyTorch draws it. For a dense ``x`` it is
    computed a chunk at a time and used at once, so ``"bool"`` and ``"seed"`` never hold a full noise
    tensor; otherwise (expanded or sliced inputs) the whole noise is built first.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        p: float,
        generator: torch.Generator | None,
        keep_mask_as: str,
        inplace: bool = False,
    ) -> torch.Tensor:
        ctx.keep_mask_as, ctx.p = keep_mask_as, p
        if keep_mask_as == "seed":
            state = generator_state(generator, x.device)
        scale = scale_like(x, p)
        dense = is_dense(x)
        keep = torch.empty_like(x, dtype=torch.bool) if keep_mask_as == "bool" else None
        noise = torch.empty_like(x) if keep_mask_as == "float" or not dense else None
        if not dense:
            fill_noise(noise, p, scale, generator=generator, keep=keep)
            out = x.mul_(noise) if inplace else torch.mul(x, noise)
        else:
            out = x if inplace else torch.empty_like(x)
            flat_x, flat_out = in_memory_order(x), in_memory_order(out)
            chunks = noise_chunks(
                flat_x.numel(),
                p,
                scale,
                generator=generator,
                keep=None if keep is None else in_memory_order(keep),
                into=None if noise is None else in_memory_order(noise),
            )
            for where, chunk in chunks:
                torch.mul(flat_x[where], chunk, out=flat_out[where])
        like = noise if noise is not None else x
        ctx.layout = (like.size(), like.stride())  # the draw's memory order, for the replay
        ctx.save_for_backward(noise if keep_mask_as == "float" else keep if keep_mask_as == "bool" else state)
        if inplace:
            ctx.mark_dirty(x)
        return out

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (saved,) = ctx.saved_tensors
        if ctx.keep_mask_as == "float":
            return grad_output * saved, None, None, None, None
        size, stride = ctx.layout
        scale = scale_like(grad_output, ctx.p)
        replay = replay_generator(saved, grad_output.device) if ctx.keep_mask_as == "seed" else None
        if grad_output.stride() != stride or torch.is_grad_enabled():
            # Another layout (rare), or a differentiable backward (create_graph=True): build the
            # whole noise, then multiply with an operation autograd can record.
            noise = torch.empty_strided(size, stride, dtype=grad_output.dtype, device=grad_output.device)
            if replay is not None:
                fill_noise(noise, ctx.p, scale, generator=replay)
            else:
                noise.copy_(saved).mul_(scale)
            return grad_output * noise, None, None, None, None
        grad_input = torch.empty_like(grad_output)
        flat_grad, flat_in = in_memory_order(grad_output), in_memory_order(grad_input)
        if replay is not None:
            chunks = noise_chunks(flat_grad.numel(), ctx.p, scale, generator=replay)
        else:
            chunks = noise_chunks_from_keep(in_memory_order(saved), scale)
        for where, chunk in chunks:
            torch.mul(flat_grad[where], chunk, out=flat_in[where])
        return grad_input, None, None, None, None


def dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
    keep_mask_as: KeepMaskAs = "bool",
) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale survivors by ``1 / (1 - p)``.

    Args:
        x: a floating-point tensor on any device; the output has its device, dtype and shape.
        p: the probability of *dropping* an element, in [0, 1].
        training: when False (evaluation) dropout is the identity.
        inplace: multiply ``x`` itself and return it (as ``F.dropout(..., inplace=True)``); autograd
            refuses this on a leaf that requires grad, as it does for PyTorch's.
        generator: where the mask's randomness comes from (default: the device's global generator,
            which is what ``torch.manual_seed`` seeds).
        keep_mask_as: what backward keeps: ``"float"``, ``"bool"`` (default) or ``"seed"``. All three
            give identical outputs and gradients; they differ in memory and time.

    Returns:
        ``x`` itself when ``training`` is False, ``p == 0`` or ``x`` is empty (no copy, nothing drawn);
        ``x * 0`` when ``p == 1`` (zeros carrying x's signs, ``NaN`` where x is not finite; nothing
        drawn); otherwise ``x * noise``. ``x`` is modified only when ``inplace`` is True.
    """
    check_floating(x)
    p = check_probability(p)
    strategy = check_strategy(keep_mask_as)
    check_generator(generator, x.device)
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:  # PyTorch multiplies by a zero scalar: -0.0 for negative x, NaN for inf and NaN
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        return x.mul_(zero) if inplace else x * zero
    return _InvertedDropout.apply(x, p, generator, strategy, bool(inplace))


# --------------------------------------------------------------------------------------------------
# The (output, mask) form, as torch.native_dropout.
# --------------------------------------------------------------------------------------------------
class _DropoutWithMask(torch.autograd.Function):
    """``torch.native_dropout``'s arithmetic on the CPU (measured bit for bit on torch 2.13): forward
    multiplies by the mask (in x's dtype) and then by the scale rounded to x's dtype; backward by the
    mask and then by the scale as a float64 number (``native_dropout_backward``)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if training:
            keep = fill_keep_mask(torch.empty_like(x, dtype=torch.bool), p, generator=generator)
            ctx.scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
            scale = torch.tensor(ctx.scale, dtype=x.dtype, device=x.device)
            out = x.mul(keep.to(x.dtype)).mul_(scale)
        else:  # evaluation: a copy, an all-True mask, and backward still multiplies by both
            keep = torch.ones_like(x, dtype=torch.bool)
            ctx.scale = 1.0
            out = x.clone()
        ctx.save_for_backward(keep)
        ctx.mark_non_differentiable(keep)
        return out, keep

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor, _grad_mask: torch.Tensor | None) -> tuple[Any, ...]:
        (keep,) = ctx.saved_tensors
        return grad_output.mul(keep).mul_(ctx.scale), None, None, None


def dropout_with_mask(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dropout that also returns its keep mask, as ``torch.native_dropout(x, p, training)`` does.

    Returns ``(output, mask)`` with ``mask`` a bool tensor laid out like ``x`` (True = kept). It
    follows ``torch.native_dropout`` on the CPU bit for bit, which differs from ``F.dropout`` in three
    ways: its backward multiplies by the mask and then by the scale as a float64 number (not rounded to
    x's dtype as its forward and ``F.dropout`` do, so in float16 and bfloat16 its gradients can differ
    from ``F.dropout``'s by one unit in the last place); it draws a mask even at ``p = 0`` and ``p = 1``;
    and in evaluation it returns a copy of ``x`` and an all-True mask. An empty ``x`` is returned as it
    is, with an empty "mask" of x's dtype, as PyTorch returns it.
    """
    check_floating(x)
    p = check_probability(p)
    check_generator(generator, x.device)
    if x.numel() == 0:
        return x, torch.empty_like(x)
    return _DropoutWithMask.apply(x, p, bool(training), generator)
