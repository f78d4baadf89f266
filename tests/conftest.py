"""Shared fixtures: the devices to test on (CUDA runs where a GPU exists, skips with a reason elsewhere)."""

from __future__ import annotations

import pytest
import torch

CUDA_REASON = "no CUDA device on this machine (CUDA tests run where torch.cuda.is_available())"

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)
