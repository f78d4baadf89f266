"""A 1-D regression with a gap and two ends to extrapolate into: where should a model be unsure?

Chapter 6 uses it to see what Monte Carlo dropout's spread does where there is no data. The inputs
are drawn from two intervals, ``[-3, -1]`` and ``[1, 3]``; the regions of the line are:

* ``"data"``: the two intervals the training inputs come from;
* ``"gap"``: ``(-1, 1)``, between them (interpolation without data);
* ``"beyond"``: ``|x| > 3``, outside them (extrapolation).

The truth is :func:`truth` (``sin(1.5 x) + 0.3 x``) and targets carry Gaussian noise. :func:`fit` trains
a regressor on the full batch with Adam; :func:`by_region` summarises a prediction on a grid per region:
the mean predictive spread, the error of the mean against the truth, and how often the truth lies within
two standard deviations of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

#: The two intervals the training inputs are drawn from.
DATA_INTERVALS: tuple[tuple[float, float], ...] = ((-3.0, -1.0), (1.0, 3.0))
REGIONS = ("data", "gap", "beyond")


def truth(x: torch.Tensor) -> torch.Tensor:
    """The noise-free function the data come from."""
    return torch.sin(1.5 * x) + 0.3 * x


def region(x: torch.Tensor) -> list[str]:
    """The region of each input: ``"data"``, ``"gap"`` or ``"beyond"``."""
    names = []
    for value in x.detach().flatten().tolist():
        if any(low <= value <= high for low, high in DATA_INTERVALS):
            names.append("data")
        elif -1.0 < value < 1.0:
            names.append("gap")
        else:
            names.append("beyond")
    return names


def sample(
    n: int, noise: float = 0.1, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training pairs ``(x, y)`` of shape ``(n, 1)``: half from each interval, ``y = truth + noise``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer of at least 2, got {n!r}")
    if not noise >= 0 or math.isinf(noise):
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
    u = torch.rand(n, 1, generator=generator)
    left = torch.arange(n).unsqueeze(1) < n // 2
    (a_low, a_high), (b_low, b_high) = DATA_INTERVALS
    x = torch.where(left, a_low + (a_high - a_low) * u, b_low + (b_high - b_low) * u)
    y = truth(x) + noise * torch.randn(n, 1, generator=generator)
    return x, y


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Full-batch Adam on the mean squared error, dropout on; returns the loss at every step.

    ``seed`` fixes the dropout masks (the global generator); the model is left in training mode.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@dataclass(frozen=True)
class RegionSummary:
    """One region of the grid: its number of points, mean spread, RMSE of the mean, coverage at 2 std."""

    points: int
    spread: float  # mean over the region's grid points of the predictive standard deviation
    rmse: float  # root mean squared error of the predictive mean against the truth
    coverage: float  # fraction of grid points with |mean - truth| <= 2 std


def by_region(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              target: Callable[[torch.Tensor], torch.Tensor] = truth) -> dict[str, RegionSummary]:
    """Summarise a prediction ``(mean, std)`` on grid points ``x`` (all ``(n, 1)``) per region."""
    if not x.shape == mean.shape == std.shape:
        raise ValueError(f"x, mean and std must have one shape, got {x.shape}, {mean.shape}, {std.shape}")
    names = region(x)
    error = (mean - target(x)).detach().flatten().cpu()
    spread = std.detach().flatten().cpu()
    result = {}
    for name in REGIONS:
        chosen = torch.tensor([n == name for n in names])
        if not chosen.any():
            continue
        e, s = error[chosen], spread[chosen]
        result[name] = RegionSummary(
            points=int(chosen.sum()),
            spread=float(s.mean()),
            rmse=float(e.square().mean().sqrt()),
            coverage=float((e.abs() <= 2 * s).float().mean()),
        )
    return result
