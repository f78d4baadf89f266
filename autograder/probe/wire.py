"""The wire format between judge and probe: JSON values, tensors as base64 raw bytes.

A value is JSON (``None``, bools, numbers, strings) or a dict tagged with ``"__t"``:

=============  ==================================================================================
tag            meaning
=============  ==================================================================================
``tensor``     ``dtype``, ``shape``, ``device``, ``rg`` (requires_grad), ``data`` (base64 of the
               contiguous bytes, little-endian; ``None`` on the ``meta`` device) and ``ref`` (the
               handle under which the sender's side keeps the tensor)
``tuple``      ``items``: a tuple of values (``list`` likewise; a subclass also has ``ref``)
``object``     ``ref``, ``type``: an object that stays in the kernel (a module, a cache, a method)
``ref``        a handle named earlier, ``name``: a global of the student's notebook
``generator``  ``ref``, ``device``, ``state`` (base64 of ``Generator.get_state()``)
``device``,    ``v``: a device or dtype by name
``dtype``
``module``     ``ref`` and ``spec``: a small ``torch.nn`` model to build (Linear, the dropout
               modules, BatchNorm1d, Sequential) with its parameters, buffers and each module's own
               ``training`` flag
``dataset``    ``tensors``: a ``TensorDataset``;  ``namespace``: ``attrs``, a ``SimpleNamespace``
=============  ==================================================================================

Only the dtypes of :data:`DTYPES` cross. This module holds the names both sides agree on and the
probe's encoder; the judge's hostile decoder is :mod:`autograder.checks.remote`.
"""

from __future__ import annotations

import base64

import torch

DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor's values (row-major, on the CPU)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def encode_tensor(tensor: torch.Tensor, ref: str, *, binary: bool = False) -> dict:
    """A tensor as a wire value (values omitted on the data-less ``meta`` device); ``binary`` keeps the
    values as bytes, for a probe in the judge's own process (no JSON in between)."""
    name = DTYPE_NAMES.get(tensor.dtype)
    if name is None:
        raise TypeError(f"tensors of dtype {tensor.dtype} cannot be sent")
    device = tensor.device
    raw = None if device.type == "meta" else tensor_bytes(tensor)
    data = raw if binary or raw is None else base64.b64encode(raw).decode("ascii")
    return {
        "__t": "tensor",
        "ref": ref,
        "dtype": name,
        "shape": list(tensor.shape),
        "device": str(device),
        "rg": bool(tensor.requires_grad),
        "data": data,
    }


def bytes_to_tensor(raw: bytes, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    """A fresh CPU tensor from raw bytes (the caller has checked the length)."""
    if len(raw) == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    return flat.view(dtype).reshape(shape).clone()
