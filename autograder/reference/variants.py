"""Variants of dropout (chapter 6): channel (feature) dropout 1d/2d/3d, alpha and feature-alpha dropout,
Gaussian dropout.

Each one that PyTorch has follows PyTorch's CPU code step for step, so under the same seed it returns
the same bits: channel dropout multiplies by a noise tensor of shape ``(N, C, 1, ...)``, alpha dropout
computes ``x * a' + b'`` with the affine terms held in x's dtype. The rank rules of ``F.dropout1d``,
``F.dropout2d`` and ``F.dropout3d`` (which inputs count as unbatched, which only warn) are PyTorch's too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from .masks import fill_noise, scale_like
from .validation import DropoutShapeError, check_floating, check_generator, check_probability

# SELU's constants (Klambauer et al., 2017): alpha' = -scale * alpha is where SELU saturates.
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
SELU_SATURATION = -SELU_SCALE * SELU_ALPHA
#: ``-alpha'`` as PyTorch's alpha dropout writes it (the same double as ``-SELU_SATURATION``).
ALPHA_DROPOUT_ALPHA = 1.7580993408473766


def _validated(
    x: torch.Tensor, p: float, generator: torch.Generator | None, *, allow_one: bool = True
) -> float:
    check_floating(x)
    p = check_probability(p, allow_one=allow_one)
    check_generator(generator, x.device)
    return p


def _multiply(x: torch.Tensor, noise: torch.Tensor, inplace: bool) -> torch.Tensor:
    return x.mul_(noise) if inplace else x.mul(noise)


def _feature_noise_shape(x: torch.Tensor, what: str) -> tuple[int, ...]:
    if x.dim() < 2:
        raise DropoutShapeError(
            f"{what} drops whole channels of an input of shape (N, C, ...) and needs at least 2 "
            f"dimensions, got shape {tuple(x.shape)}"
        )
    return (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)


def _drawn(
    noise: torch.Tensor, p: float, kept: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    return fill_noise(noise, p, kept, generator=generator)


# --------------------------------------------------------------------------------------------------
# Channel (feature) dropout.
# --------------------------------------------------------------------------------------------------
def channel_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Channel (feature) dropout: drop whole channels of an ``(N, C, *)`` tensor, one draw per (n, c).

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels barely
    regularises a CNN; dropping the whole map does. Dim 0 is always the batch and dim 1 the channel
    (PyTorch's ``feature_dropout``); :func:`dropout1d`, :func:`dropout2d` and :func:`dropout3d` add
    PyTorch's rules for unbatched inputs. The noise ``(N, C, 1, ...)`` is 0 or the scale in x's dtype
    and the output is ``x * noise``, as on PyTorch's CPU.
    """
    p = _validated(x, p, generator)
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:
        return _multiply(x, torch.zeros((), dtype=x.dtype, device=x.device), inplace)
    noise = x.new_empty(_feature_noise_shape(x, "channel dropout"))
    return _multiply(x, _drawn(noise, p, scale_like(x, p), generator), inplace)


def _unbatched(
    x: torch.Tensor,
    fn: Callable[..., torch.Tensor],
    p: float,
    training: bool,
    inplace: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Run ``fn`` on ``x`` with a batch dimension of 1 added in front, and take it away again."""
    out = fn(x.unsqueeze(0), p, training, inplace, generator=generator)
    return x if inplace else out.squeeze(0)


def dropout1d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Channel dropout for ``(N, C, L)`` or unbatched ``(C, L)`` inputs; any other rank is an error."""
    _validated(x, p, generator)
    if x.dim() not in (2, 3):
        raise DropoutShapeError(
            f"dropout1d expects a 2D (C, L) or 3D (N, C, L) input, but received a {x.dim()}D input "
            f"of shape {tuple(x.shape)}"
        )
    if x.dim() == 2:
        return _unbatched(x, channel_dropout, p, training, inplace, generator)
    return channel_dropout(x, p, training, inplace, generator=generator)


def dropout2d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Channel dropout for ``(N, C, H, W)`` inputs, with PyTorch's rules for the other ranks.

    Any rank other than 3 or 4 gets a deprecation warning (and is dropped per (dim 0, dim 1)). A 3-D
    input is *not* read as an unbatched ``(C, H, W)``: like ``F.dropout2d`` (PyTorch issue #77081), it
    is read as ``(N, C, L)``, with a warning that says so.
    """
    _validated(x, p, generator)
    if x.dim() not in (3, 4):
        warnings.warn(
            f"dropout2d received a {x.dim()}-D input; it is meant for 3-D or 4-D inputs (channels with "
            "2 spatial dimensions, batch optional). PyTorch deprecates other ranks; use dropout instead.",
            UserWarning,
            stacklevel=2,
        )
    if x.dim() == 3:
        warnings.warn(
            "dropout2d received a 3-D input and, as PyTorch does, treats it as (N, C, L): channel-wise 1D "
            "dropout behaviour is assumed, not an unbatched (C, H, W) input. Use dropout1d for that "
            "behaviour.",
            UserWarning,
            stacklevel=2,
        )
    return channel_dropout(x, p, training, inplace, generator=generator)


def dropout3d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Channel dropout for ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)`` inputs.

    Any rank other than 4 or 5 gets a deprecation warning; every rank but 5 is treated as unbatched
    (a batch of one is added in front), as ``F.dropout3d`` does.
    """
    _validated(x, p, generator)
    if x.dim() not in (4, 5):
        warnings.warn(
            f"dropout3d received a {x.dim()}-D input; it is meant for 4-D or 5-D inputs (channels with "
            "3 spatial dimensions, batch optional). PyTorch deprecates other ranks; use dropout instead.",
            UserWarning,
            stacklevel=2,
        )
    if x.dim() != 5:
        return _unbatched(x, channel_dropout, p, training, inplace, generator)
    return channel_dropout(x, p, training, inplace, generator=generator)


# --------------------------------------------------------------------------------------------------
# Alpha dropout.
# --------------------------------------------------------------------------------------------------
def _alpha(
    x: torch.Tensor,
    p: float,
    training: bool,
    inplace: bool,
    generator: torch.Generator | None,
    feature: bool,
) -> torch.Tensor:
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:  # PyTorch returns x * 0 here, not the saturation value
        return _multiply(x, torch.zeros((), dtype=x.dtype, device=x.device), inplace)
    shape = _feature_noise_shape(x, "feature alpha dropout") if feature else None
    noise = x.new_empty(shape) if feature else torch.empty_like(x)
    one = torch.ones((), dtype=x.dtype, device=x.device)
    keep = _drawn(noise, p, one, generator)  # 1 where kept, 0 where dropped, in x's dtype
    alpha = ALPHA_DROPOUT_ALPHA
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    # Dropped units go to alpha' = -alpha; then out = a * (x or alpha') + b, with b = a * alpha * p.
    # Written as PyTorch computes it: b' = (keep - 1) * alpha * a + alpha * a * p, noise = keep * a,
    # out = x * noise + b', every step rounded to x's dtype.
    b = keep.add(-1).mul_(alpha * a).add_(alpha * a * p)
    noise = keep.mul_(a)
    return _multiply(x, noise, inplace).add_(b)


def alpha_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha dropout for SELU networks: keeps zero mean and unit variance instead of the mean alone.

    Dropped units are set to SELU's saturation value ``alpha'`` (not 0, which is not a "resting"
    value of SELU), then an affine map ``a * out + b`` restores mean 0 and variance 1 for inputs with
    mean 0 and variance 1 (Klambauer et al., 2017). Matches ``F.alpha_dropout`` on the CPU bit for bit,
    including ``x * 0`` at ``p = 1``. (Unlike ``F.alpha_dropout``, ``training`` defaults to True, as for
    every function here.)
    """
    p = _validated(x, p, generator)
    return _alpha(x, p, training, inplace, generator, feature=False)


def feature_alpha_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha dropout of whole channels of an ``(N, C, *)`` input, one draw per (n, c), as
    ``F.feature_alpha_dropout``."""
    p = _validated(x, p, generator)
    return _alpha(x, p, training, inplace, generator, feature=True)


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
    below 1: the variance is infinite at 1. PyTorch has no such layer, so there is nothing to match.
    """
    p = _validated(x, p, generator, allow_one=False)
    if not training or p == 0.0:
        return x
    std = math.sqrt(p / (1.0 - p))
    noise = torch.empty_like(x).normal_(1.0, std, generator=generator)
    return x * noise
