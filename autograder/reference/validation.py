"""Argument checks shared by every reference function: clear errors that name the problem.

``p`` is always the *drop* probability. The checks run before anything is drawn, so a bad call never
advances a random generator.
"""

from __future__ import annotations

import numbers

import torch

KEEP_MASK_STRATEGIES: tuple[str, ...] = ("float", "bool", "seed")


class DropoutShapeError(ValueError, RuntimeError):
    """An input whose number of dimensions the layer cannot use.

    PyTorch raises ``RuntimeError`` for these (``F.dropout1d`` on a 4-D input, feature dropout on a 1-D
    one); the rest of the reference raises ``ValueError`` for bad arguments. This error is both, so
    code written against either convention catches it.
    """


def check_probability(p: object, *, name: str = "p", allow_one: bool = True) -> float:
    """Return ``p`` as a float, or raise a clear error if it is not a number in [0, 1].

    ``bool`` is refused even though Python treats it as a number: ``dropout(x, True)`` is almost
    certainly a mix-up with the ``training`` argument.
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


def check_strategy(keep_mask_as: object) -> str:
    """``keep_mask_as`` must name one of :data:`KEEP_MASK_STRATEGIES`."""
    if keep_mask_as not in KEEP_MASK_STRATEGIES:
        raise ValueError(
            f"keep_mask_as must be one of {', '.join(map(repr, KEEP_MASK_STRATEGIES))}, "
            f"got {keep_mask_as!r}"
        )
    return str(keep_mask_as)

