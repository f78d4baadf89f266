"""A second device to test "the mask lives on x's device", even on a CPU-only machine.

With CUDA present the checks use the real GPU. Without it they use PyTorch's ``meta`` device: tensors
there have shapes, dtypes and a device but no data, and mixing them with CPU tensors raises
("Tensor on device cpu is not on the expected device meta!") just as mixing CUDA and CPU tensors does.
An answer that builds its mask with ``torch.rand(x.shape)`` (on the CPU, whatever device ``x`` is on)
therefore fails here the way it would fail for a student with a GPU. Values on ``meta`` are not
available, so device checks look at devices, dtypes and errors only.

**An answer with its own generator.** ``meta`` has one limit CUDA does not: PyTorch cannot create a
generator there, so a correct answer that writes ``torch.Generator(device=x.device)`` raises ("META
device type not an accelerator") on a grader without a GPU, through no fault of its own. Device checks
therefore run through :func:`on_other_device`: when the attempt on ``meta`` fails with that error (any
message naming ``meta`` and a generator or an accelerator, the wordings of PyTorch's versions), it is
run once more with the probe's :func:`~autograder.probe.executor.meta_generators` active, in which
``torch.Generator(device="meta")`` returns a CPU generator. PyTorch's random functions on ``meta``
accept a CPU generator and draw nothing, so the verdict of the second attempt is the verdict a GPU
gives:

* ``torch.rand(shape, generator=g, device=x.device)`` (or ``torch.bernoulli``/``uniform_`` on a tensor
  made like ``x``) gives a ``meta`` mask: the answer passes, as it passes on CUDA;
* ``torch.rand(shape, generator=g)`` gives a CPU mask, which cannot multiply the ``meta`` input: the
  answer fails, as on CUDA (where a CUDA generator even refuses to draw on the CPU).

The second attempt only ever runs after a failure, so it cannot make a check stricter, and it changes
nothing but the generator's device, so an answer that made its mask on the CPU fails it too. (An answer
that bound ``Generator`` before grading, ``from torch import Generator``, is not reached by the stand-in
and keeps the first attempt's failure, which names the generator; ``torch.Generator`` is what the
notebooks use.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from .core import CheckFailed
from .remote import session

_cuda_available = torch.cuda.is_available
#: What PyTorch says when asked for a generator on ``meta`` (2.13: "META device type not an
#: accelerator."; earlier: "Device type META is not supported for torch.Generator() api.").
_GENERATOR_ON_META = re.compile(r"(?is)(meta.*(generator|accelerator))|((generator|accelerator).*meta)")


@contextmanager
def other_device() -> Iterator[tuple[torch.device, bool]]:
    """Yield ``(device, values_available)``: CUDA if there is a GPU, else the data-less ``meta``."""
    if _cuda_available():
        yield torch.device("cuda"), True
    else:
        yield torch.device("meta"), False


def generator_on_meta_failed(message: str) -> bool:
    """Whether a failure is PyTorch's refusal to create a generator on ``meta`` (a limit of the grader)."""
    return bool(_GENERATOR_ON_META.search(message))


def on_other_device(attempt: Callable[[torch.device, bool], None]) -> None:
    """Run ``attempt(device, values_available)`` on the other device (see the module docstring).

    On ``meta``, a failure that is PyTorch's refusal to create a generator there is not the answer's
    verdict: the attempt runs again with generators on ``meta`` allowed, and that run decides.
    """
    with other_device() as (device, values):
        if device.type != "meta":
            attempt(device, values)
            return
        try:
            attempt(device, values)
            return
        except CheckFailed as error:
            if not generator_on_meta_failed(str(error)):
                raise
        with session().generators_on_meta():
            attempt(device, values)
