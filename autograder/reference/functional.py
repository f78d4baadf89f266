"""Dropout written from scratch on tensors: the reference every chapter, exercise and hidden test uses.

Notation (the book's notation page): ``p`` is the probability of *dropping* a unit, ``1 - p`` the
probability of keeping it, ``m`` the keep mask and ``1 / (1 - p)`` the scale. Inverted dropout
multiplies by ``m / (1 - p)`` during training so that ``E[out] = x`` and evaluation needs no change.

Nothing here calls ``torch.nn.functional.dropout`` or ``nn.Dropout``. On the CPU the mask is drawn from
float64 uniforms (:func:`dropout_mask`), which consume the random stream exactly as PyTorch's own CPU
dropout does, so under the same seed :func:`dropout` returns what
``F.dropout`` returns (the tests assert it). On CUDA PyTorch's fused kernel draws from a Philox stream
of its own, so there the agreement is statistical, not bitwise.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import torch

KeepMaskAs = Literal["float", "bool", "seed"]
KEEP_MASK_STRATEGIES: tuple[str, ...] = ("float", "bool", "seed")

# SELU's constants (Klambauer et al., 2017): alpha' = -scale * alpha is where SELU saturates.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SELU_SATURATION = -SELU_SCALE * SELU_ALPHA


# --------------------------------------------------------------------------------------------------
# Validation: clear errors that name the problem.
# --------------------------------------------------------------------------------------------------
def check_probability(p: object, *, name: str = "p", allow_one: bool = True) -> float:
    """Return ``p`` as a float, or raise a clear error if it is not a number in [0, 1].

    ``p`` is the *drop* probability. ``bool`` is refused even though Python treats it as a number:
    ``dropout(x, True)`` is almost certainly a mix-up with the ``training`` argument.
    """
    if isinstance(p, torch.Tensor) and p.numel() == 1 and not p.requires_grad:
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(
            f"dropout probability {name} must be a real number in [0, 1], "
            f"got {type(p).__name__} {p!r}"
        )
    value = float(p)
    upper_ok = value <= 1.0 if allow_one else value < 1.0
    if not (0.0 <= value and upper_ok):  # also rejects NaN
        bound = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(
            f"dropout probability {name} has to be in {bound} (it is the probability of dropping "
            f"a unit), got {p!r}"
        )
    return value


def check_floating(x: object, *, name: str = "x") -> torch.Tensor:
    """Raise a clear error unless ``x`` is a floating-point tensor (dropout rescales, so ints cannot)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dropout expects {name} to be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"dropout needs a floating-point tensor ({name} is {x.dtype}); "
            f"convert it first, e.g. {name}.float()"
        )
    return x


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """A generator draws on one device only; mixing them fails deep inside ATen, so fail here."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(
            f"the generator lives on {generator.device} but the tensor is on {device}; "
            f"create it with torch.Generator(device={str(device)!r})"
        )


def _check_strategy(keep_mask_as: object) -> str:
    if keep_mask_as not in KEEP_MASK_STRATEGIES:
        raise ValueError(
            f"keep_mask_as must be one of {', '.join(map(repr, KEEP_MASK_STRATEGIES))}, "
            f"got {keep_mask_as!r}"
        )
    return str(keep_mask_as)


# --------------------------------------------------------------------------------------------------
# Masks.
# --------------------------------------------------------------------------------------------------
# Uniforms are drawn in float64 through a reusable buffer of this many elements (32 MiB), so drawing
# a mask never needs more than that in temporary memory, whatever the tensor's size.
_MASK_CHUNK = 1 << 22


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A boolean *keep* mask: each entry is ``True`` with probability ``1 - p``, independently.

    The mask is drawn on ``device`` (the tensor's device, never silently the CPU); see
    :func:`fill_keep_mask` for how.
    """
    p = check_probability(p)
    if device is not None:
        device = torch.device(device)
    else:
        device = generator.device if generator is not None else torch.device("cpu")
    check_generator(generator, device)
    return fill_keep_mask(torch.empty(shape, dtype=torch.bool, device=device), p, generator=generator)


def fill_keep_mask(keep: torch.Tensor, p: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill the bool tensor ``keep`` in place with ``u < 1 - p`` for fresh uniforms ``u`` in [0, 1).

    The uniforms are float64 and are drawn in the order ``keep``'s elements lie in memory. That is
    exactly how PyTorch's CPU ``bernoulli_(1 - p)`` (and so ``F.dropout``, which draws into a tensor
    laid out like its input) turns the random stream into a mask: under the same seed the masks agree
    bit for bit, and this runs about three times faster than ``bernoulli_``, which draws one element at
    a time. (A float32 uniform, ``torch.rand_like(x) < 1 - p``, consumes the stream differently and
    gives another mask.)
    """
    order = sorted(range(keep.dim()), key=lambda d: (-keep.stride(d), -keep.size(d)))
    in_memory_order = keep.permute(order)
    target = in_memory_order if in_memory_order.is_contiguous() else torch.empty_like(
        in_memory_order, memory_format=torch.contiguous_format
    )
    flat = target.view(-1)
    uniform_dtype = torch.float64 if keep.device.type in ("cpu", "cuda") else torch.float32
    buffer = torch.empty(min(flat.numel(), _MASK_CHUNK), dtype=uniform_dtype, device=keep.device)
    for start in range(0, flat.numel(), _MASK_CHUNK):
        stop = min(flat.numel(), start + _MASK_CHUNK)
        uniforms = buffer[: stop - start].uniform_(0.0, 1.0, generator=generator)
        torch.lt(uniforms, 1.0 - p, out=flat[start:stop])
    if target is not in_memory_order:
        in_memory_order.copy_(target)
    return keep


def _generator_state(generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    if generator is not None:
        return generator.get_state()
    if device.type == "cpu":
        return torch.random.get_rng_state()
    return torch.get_device_module(device.type).get_rng_state(device)


def _mask_from_state(
    state: torch.Tensor, layout: tuple[torch.Size, tuple[int, ...]], device: torch.device, p: float
) -> torch.Tensor:
    """Replay a draw: a fresh generator set to the saved state fills a mask with the saved layout."""
    replay = torch.Generator(device=device)
    replay.set_state(state)
    keep = torch.empty_strided(*layout, dtype=torch.bool, device=device)
    return fill_keep_mask(keep, p, generator=replay)


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
    """Inverted dropout without autograd: returns the output and the cache backward needs."""
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

    * ``"float"``: the scaled mask ``m / (1 - p)`` in x's dtype (what ``F.dropout`` saves on the CPU);
      backward is one multiplication.
    * ``"bool"``: the *drop* mask ``~m``, one byte per element (what ``torch.native_dropout`` saves).
    * ``"seed"``: no mask at all. The generator's state from just before the draw is saved, and
      backward replays the same draw on a fresh generator set to that state (the trick fused
      attention kernels use). It costs a second draw and saves a few bytes in total.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        p: float,
        generator: torch.Generator | None,
        keep_mask_as: str,
    ) -> torch.Tensor:
        ctx.keep_mask_as = keep_mask_as
        ctx.scale = 1.0 / (1.0 - p)
        ctx.p = p
        if keep_mask_as == "seed":
            state = _generator_state(generator, x.device)
        # Laid out like x (as PyTorch's own dropout does), so the draw order matches for any strides.
        keep = fill_keep_mask(torch.empty_like(x, dtype=torch.bool), p, generator=generator)
        if keep_mask_as == "float":  # the scaled mask in x's dtype, as PyTorch's CPU dropout keeps it
            noise = keep.to(x.dtype).div_(1.0 - p)
            ctx.save_for_backward(noise)
            return x * noise
        drop = torch.logical_not(keep, out=keep)  # reuse the buffer: the drop mask is what we fill by
        out = (x * ctx.scale).masked_fill_(drop, 0)
        ctx.save_for_backward(drop if keep_mask_as == "bool" else state)
        ctx.layout = (keep.size(), keep.stride())  # for the replay: the same draw order
        ctx.device = x.device
        return out

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (saved,) = ctx.saved_tensors
        if ctx.keep_mask_as == "float":
            return grad_output * saved, None, None, None
        if ctx.keep_mask_as == "bool":
            drop = saved
        else:
            drop = _mask_from_state(saved, ctx.layout, ctx.device, ctx.p).logical_not_()
        return (grad_output * ctx.scale).masked_fill_(drop, 0), None, None, None


class _AllDropped(torch.autograd.Function):
    """p = 1: every unit dropped. Zeros out, zero gradient back (not None: x stays in the graph)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(grad_output)


def dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
    keep_mask_as: KeepMaskAs = "bool",
) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale survivors by ``1 / (1 - p)``.

    Args:
        x: a floating-point tensor on any device; the output has its device, dtype and shape.
        p: the probability of *dropping* an element, in [0, 1].
        training: when False (evaluation) dropout is the identity.
        generator: where the mask's randomness comes from (default: the device's global generator,
            which is what ``torch.manual_seed`` seeds).
        keep_mask_as: what backward keeps: ``"float"``, ``"bool"`` (default) or ``"seed"``. All three
            give identical outputs and gradients; they differ in memory and time.

    Returns:
        ``x`` itself when ``training`` is False or ``p == 0`` (no copy, nothing drawn); zeros with a
        zero gradient when ``p == 1``; otherwise a new tensor. ``x`` is never modified.
    """
    check_floating(x)
    p = check_probability(p)
    strategy = _check_strategy(keep_mask_as)
    check_generator(generator, x.device)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _AllDropped.apply(x)
    return _InvertedDropout.apply(x, p, generator, strategy)


# --------------------------------------------------------------------------------------------------
# Variants (chapter 6).
# --------------------------------------------------------------------------------------------------
def channel_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Channel (feature) dropout: drop whole channels of an ``(N, C, *)`` tensor, one draw per (n, c).

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels barely
    regularises a CNN; dropping the whole map does. Matches ``F.dropout2d``/``F.dropout3d`` on the CPU
    under the same seed.
    """
    check_floating(x)
    p = check_probability(p)
    check_generator(generator, x.device)
    if x.dim() < 2:
        raise ValueError(
            f"channel dropout needs an input of shape (N, C, ...), got shape {tuple(x.shape)}"
        )
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _AllDropped.apply(x)
    noise_shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
    keep = dropout_mask(noise_shape, p, generator=generator, device=x.device)
    return x * (keep.to(x.dtype) / (1.0 - p))


def alpha_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha dropout for SELU networks: keeps zero mean and unit variance instead of the mean alone.

    Dropped units are set to SELU's saturation value ``alpha'`` (not 0, which is not a "resting"
    value of SELU), then an affine map ``a * out + b`` restores mean 0 and variance 1 for inputs with
    mean 0 and variance 1 (Klambauer et al., 2017). Matches ``F.alpha_dropout`` on the CPU.
    """
    check_floating(x)
    p = check_probability(p)
    check_generator(generator, x.device)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return _AllDropped.apply(x)
    keep = dropout_mask(x.shape, p, generator=generator, device=x.device)
    a = 1.0 / math.sqrt((SELU_SATURATION**2 * p + 1.0) * (1.0 - p))
    b = -a * SELU_SATURATION * p
    return torch.where(keep, x, SELU_SATURATION) * a + b


def gaussian_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gaussian (multiplicative) dropout: multiply by noise ``N(1, p / (1 - p))`` instead of a mask.

    The noise has the mean (1) and variance (p / (1 - p)) of the inverted Bernoulli mask, so it
    regularises like dropout at the same ``p`` (Srivastava et al., 2014, section 10). ``p`` must be
    below 1: the variance is infinite at 1.
    """
    check_floating(x)
    p = check_probability(p, allow_one=False)
    check_generator(generator, x.device)
    if not training or p == 0.0:
        return x
    std = math.sqrt(p / (1.0 - p))
    noise = torch.empty_like(x).normal_(1.0, std, generator=generator)
    return x * noise
