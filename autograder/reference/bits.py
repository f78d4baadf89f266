"""Comparing tensors bit for bit, which ``torch.equal`` does not do.

``torch.equal`` compares values: it calls ``-0.0`` and ``0.0`` equal and ``NaN`` unequal to itself.
To say that two computations return *the same bits*, compare the tensors' integer views: every sign
of zero, every NaN payload and every rounding must then agree.
"""

from __future__ import annotations

import torch

_SAME_WIDTH_INT = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
}


def as_bits(t: torch.Tensor) -> torch.Tensor:
    """The integer view of a floating-point tensor (bool and integer tensors are returned as they are)."""
    t = t.detach()
    if t.dtype not in _SAME_WIDTH_INT:
        if t.is_floating_point():
            raise TypeError(f"no integer view for {t.dtype}")
        return t
    return t.contiguous().view(_SAME_WIDTH_INT[t.dtype])


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when ``a`` and ``b`` have the same shape, dtype and device and identical bits."""
    if (a.shape, a.dtype, a.device) != (b.shape, b.dtype, b.device):
        return False
    return bool(torch.equal(as_bits(a), as_bits(b)))


def bit_differences(a: torch.Tensor, b: torch.Tensor) -> str:
    """A short description of how ``a`` and ``b`` differ (for assertion messages)."""
    if (a.shape, a.dtype, a.device) != (b.shape, b.dtype, b.device):
        return f"{tuple(a.shape)} {a.dtype} {a.device} vs {tuple(b.shape)} {b.dtype} {b.device}"
    differ = as_bits(a) != as_bits(b)
    count = int(differ.sum())
    if count == 0:
        return "identical"
    first = differ.flatten().nonzero()[0].item()
    return f"{count} of {a.numel()} elements differ; first at flat index {first}: " \
        f"{a.detach().flatten()[first].item()!r} vs {b.detach().flatten()[first].item()!r}"
