"""Drawing dropout masks exactly as PyTorch's CPU dropout draws them, and the noise built from them.

PyTorch's CPU dropout fills a tensor laid out like its input (``torch.empty_like``) with
``bernoulli_(1 - p)``. In the builds this course uses that kernel walks the tensor in memory order and,
per element, takes one float64 uniform ``u`` from the generator (two 32-bit Mersenne Twister outputs)
and keeps the unit when ``u < 1 - p``. :func:`fill_keep_mask` does the same with ``uniform_`` on a
float64 buffer, which draws the same uniforms from the same stream in the same order, about three
times faster: under the same seed the masks agree bit for bit and the generator ends in the same state.
(A float32 uniform, ``torch.rand_like(x) < 1 - p``, consumes the stream differently and gives another
mask.) On CUDA PyTorch's fused kernel draws from a Philox stream of its own, so there the reference
agrees with PyTorch in distribution only.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .validation import check_generator, check_probability

# Uniforms are drawn through a reusable float64 buffer of this many elements (256 KiB), and everything
# computed from a chunk is computed while it is in cache. At this size every ATen operation on a chunk
# runs on one thread (ATen splits work above 32,768 elements), which avoids thread start-up costs that
# dominate on a busy machine.
MASK_CHUNK = 1 << 15


def _uniform_dtype(device: torch.device) -> torch.dtype:
    return torch.float64 if device.type in ("cpu", "cuda", "meta") else torch.float32


def in_memory_order(t: torch.Tensor) -> torch.Tensor:
    """A flat view of a dense tensor whose element ``i`` is the ``i``-th element in memory."""
    return t.permute(_memory_order(t)).view(-1) if t.dim() else t.view(1)


def _memory_order(t: torch.Tensor) -> list[int]:
    return sorted(range(t.dim()), key=lambda d: (-t.stride(d), -t.size(d)))


def is_dense(t: torch.Tensor) -> bool:
    """Non-overlapping and dense (a permutation of a contiguous tensor): ``empty_like`` copies its strides."""
    return t.numel() <= 1 or t.permute(_memory_order(t)).is_contiguous()


def uniform_chunks(
    numel: int, device: torch.device, generator: torch.Generator | None
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Fresh uniforms in [0, 1) for elements ``0 .. numel - 1``, one chunk at a time, in order."""
    if numel == 0:
        return
    buffer = torch.empty(min(numel, MASK_CHUNK), dtype=_uniform_dtype(device), device=device)
    for start in range(0, numel, MASK_CHUNK):
        stop = min(numel, start + MASK_CHUNK)
        yield slice(start, stop), buffer[: stop - start].uniform_(0.0, 1.0, generator=generator)


def fill_keep_mask(keep: torch.Tensor, p: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill the bool tensor ``keep`` in place with ``u < 1 - p``, one fresh uniform per element.

    The uniforms are taken in the order ``keep``'s elements lie in memory, as PyTorch's CPU
    ``bernoulli_`` takes them.
    """
    target = keep if is_dense(keep) else torch.empty_like(
        keep, memory_format=torch.contiguous_format
    )
    flat = in_memory_order(target)
    for where, uniforms in uniform_chunks(flat.numel(), keep.device, generator):
        torch.lt(uniforms, 1.0 - p, out=flat[where])
    if target is not keep:
        keep.copy_(target)
    return keep


def noise_chunks(
    numel: int,
    p: float,
    kept: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    keep: torch.Tensor | None = None,
    into: torch.Tensor | None = None,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """The noise for elements ``0 .. numel - 1`` (in memory order), one chunk at a time.

    Each chunk holds ``kept`` where a unit is kept and 0 where it is dropped. ``kept`` is a 0-dim
    tensor of the noise's dtype: the scale ``1 / (1 - p)`` *as PyTorch rounds it to that dtype*
    (:func:`scale_like`), or 1 for alpha dropout. One uniform per element, exactly as
    :func:`fill_keep_mask`. The keep mask is also written into the flat bool tensor ``keep`` when it
    is given; the chunks are written into the flat tensor ``into`` when given (else into a scratch
    buffer that the next chunk overwrites, so use each chunk before asking for the next).
    """
    scratch = None
    for where, uniforms in uniform_chunks(numel, kept.device, generator):
        if into is not None:
            chunk = into[where]
        else:
            if scratch is None:
                scratch = torch.empty(uniforms.numel(), dtype=kept.dtype, device=kept.device)
            chunk = scratch[: uniforms.numel()]
        if keep is not None:
            chunk.copy_(torch.lt(uniforms, 1.0 - p, out=keep[where]))
        else:
            torch.lt(uniforms, 1.0 - p, out=chunk)  # 1.0 where kept, 0.0 where dropped
        yield where, chunk.mul_(kept)  # 1 * scale is the scale exactly, 0 * scale is +0.0


def noise_chunks_from_keep(
    flat_keep: torch.Tensor, kept: torch.Tensor
) -> Iterator[tuple[slice, torch.Tensor]]:
    """The same chunks as :func:`noise_chunks`, rebuilt from a saved keep mask instead of drawn."""
    numel = flat_keep.numel()
    scratch = torch.empty(min(numel, MASK_CHUNK), dtype=kept.dtype, device=kept.device)
    for start in range(0, numel, MASK_CHUNK):
        where = slice(start, min(numel, start + MASK_CHUNK))
        chunk = scratch[: where.stop - start]
        yield where, chunk.copy_(flat_keep[where]).mul_(kept)


def fill_noise(
    noise: torch.Tensor,
    p: float,
    kept: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fill the dense tensor ``noise`` in place with :func:`noise_chunks` (and ``keep``, laid out like
    ``noise``, with the keep mask when given)."""
    flat_keep = in_memory_order(keep) if keep is not None else None
    flat = in_memory_order(noise)
    for _ in noise_chunks(flat.numel(), p, kept, generator=generator, keep=flat_keep, into=flat):
        pass
    return noise


def scale_like(x: torch.Tensor, p: float) -> torch.Tensor:
    """``1 / (1 - p)`` as a 0-dim tensor of x's dtype, computed as PyTorch computes its noise.

    PyTorch divides its 0/1 noise (of x's dtype) by ``1 - p`` in place, so a kept unit is multiplied by
    ``1 / (1 - p)`` *rounded to x's dtype* (in float16 and bfloat16 that rounding is visible: at
    ``p = 0.1`` the scale is 1.111 in float16, not 1.1111111). The same division on a 0-dim tensor
    gives the same number.
    """
    return torch.ones((), dtype=x.dtype, device=x.device).div_(1.0 - p)


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


def generator_state(generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """The state of the generator a draw on ``device`` will use (a copy: a few kilobytes)."""
    if generator is not None:
        return generator.get_state()
    if device.type == "meta":
        raise ValueError(
            "the meta device has no random generator to save: keep_mask_as='seed' cannot run there"
        )
    if device.type == "cpu":
        return torch.random.get_rng_state()
    return torch.get_device_module(device.type).get_rng_state(device)


def replay_generator(state: torch.Tensor, device: torch.device) -> torch.Generator:
    """A fresh generator set to a saved state: it draws again exactly what was drawn from there."""
    replay = torch.Generator(device=device)
    replay.set_state(state)
    return replay
