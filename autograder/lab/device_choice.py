"""Which device the book's chapters run on: the GPU when there is one, unless the reader says otherwise.

Chapters call :func:`choose_device` once and put their tensors there, so the same chapter runs on a
laptop's CPU and on a CUDA machine. The environment variable ``DROPOUT_COURSE_DEVICE`` overrides the
choice (``cpu``, ``cuda``, ``cuda:1``, ...; ``auto`` or unset means "cuda if available, else cpu").
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "DROPOUT_COURSE_DEVICE"


def choose_device(preference: str | None = None) -> torch.device:
    """The device chapters run on: ``preference``, else ``$DROPOUT_COURSE_DEVICE``, else auto.

    Raises a clear error when CUDA is asked for on a machine without it, rather than failing later
    inside the first tensor operation.
    """
    wanted = (preference or os.environ.get(ENV_VAR, "") or "auto").strip().lower()
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(wanted)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{ENV_VAR}={wanted!r} asks for CUDA, but torch {torch.__version__} sees no CUDA device; "
            f"unset it (or set it to 'cpu') to run on the CPU"
        )
    return device


def describe_device(device: torch.device) -> str:
    """One line naming the device, for a chapter's first output."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)}), torch {torch.__version__}"
    return f"cpu ({torch.get_num_threads()} threads), torch {torch.__version__}"
