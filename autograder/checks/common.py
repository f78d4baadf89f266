"""Building blocks shared by the assignments' checks: inputs, seeded generators, p validation."""

from __future__ import annotations

import torch

from .core import CheckFailed, T, fail
from .remote import StudentRaised, session


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return T.Generator().manual_seed(seed)


def nonzero_input(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An input with no zeros (values in [0.5, 1.5)): an output entry is 0 exactly where it was dropped."""
    return T.rand(shape, generator=gen(seed + 7919), dtype=dtype) + 0.5


def expect_value_error(call: str, fn: object, *args: object) -> None:
    """Fail unless ``fn(*args)`` raises ValueError."""
    try:
        fn(*args)  # type: ignore[operator]
    except ValueError:
        return
    except StudentRaised as error:
        fail(f"{call} should raise ValueError (p is a probability), found {str(error)[:300]}")
    except CheckFailed:
        raise
    except Exception as error:  # noqa: BLE001
        fail(f"{call} should raise ValueError (p is a probability), found {type(error).__name__}: {error}")
    fail(f"{call} should raise ValueError (p is a probability in [0, 1]), found that it returned normally")


def seed_student(seed: int) -> None:
    """Seed the global generator where the student's code runs (for answers that use it), and here."""
    T.manual_seed(seed)
    session().manual_seed(seed)


def grad(outputs: object, inputs: object, grad_outputs: object) -> object:
    """``torch.autograd.grad`` of a student output, computed where it lives (plain tensors back).

    An output that does not require grad although its input does is named as detached (autograd would
    only say "element 0 of tensors does not require grad")."""
    if T.is_tensor(outputs) and T.is_tensor(inputs) and T.requires_grad(inputs):
        if not session().requires_grad(outputs):  # type: ignore[arg-type]
            fail(
                "the output should be connected to x's autograd graph (x requires grad), found it "
                "detached (requires_grad False: x.detach(), .data, torch.no_grad() or a tensor rebuilt "
                "from numpy cut the graph), so no gradient reaches x"
            )
    return session().grad(outputs, inputs, grad_outputs)


def finite(tensor: torch.Tensor) -> bool:
    """All values finite (True on the data-less meta device)."""
    if T.device(tensor).type == "meta" or not tensor.is_floating_point():
        return True
    return bool(T.all(T.isfinite(tensor)))
