"""A second device to test "the mask lives on x's device", even on a CPU-only machine.

With CUDA present the checks use the real GPU. Without it they use PyTorch's ``meta`` device: tensors
there have shapes, dtypes and a device but no data, and mixing them with CPU tensors raises
("Tensor on device cpu is not on the expected device meta!") just as mixing CUDA and CPU tensors does.
An answer that builds its mask with ``torch.rand(x.shape)`` (on the CPU, whatever device ``x`` is on)
therefore fails here the way it would fail for a student with a GPU. Values on ``meta`` are not
available, so device checks look at devices, dtypes and errors only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_cuda_available = torch.cuda.is_available


@contextmanager
def other_device() -> Iterator[tuple[torch.device, bool]]:
    """Yield ``(device, values_available)``: CUDA if there is a GPU, else the data-less ``meta``."""
    if _cuda_available():
        yield torch.device("cuda"), True
    else:
        yield torch.device("meta"), False
