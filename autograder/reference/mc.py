"""Monte Carlo dropout: keep dropout sampling at test time on purpose, and average (chapter 6).

Each forward pass with dropout on is a sample from an approximate predictive distribution (Gal and
Ghahramani, 2016). The mean over ``samples`` passes is the prediction; the spread says how much the
sampled sub-networks disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from .layers import StochasticLayer
from .weights import WeightDropout, WeightDropoutParametrization

#: Layers that :func:`mc_predict` switches to training mode (and only these).
STOCHASTIC_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.dropout._DropoutNd,
    StochasticLayer,
    WeightDropout,
    WeightDropoutParametrization,
)


class MCPrediction(NamedTuple):
    """Predictive mean and standard deviation over the Monte Carlo samples, per output entry."""

    mean: torch.Tensor
    std: torch.Tensor


def mc_predict(
    model: nn.Module,
    x: torch.Tensor,
    samples: int = 30,
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> MCPrediction:
    """Run ``samples`` stochastic passes with only the dropout layers in training mode.

    Everything else (batch norm, ...) stays in evaluation mode, no gradients are recorded, and every
    module's ``training`` flag is restored afterwards. ``transform`` is applied to each pass's output
    before averaging, e.g. ``lambda logits: logits.softmax(-1)`` to average probabilities.

    Returns:
        ``MCPrediction(mean, std)``: the mean and the (population) standard deviation over passes;
        ``std`` is all zeros when ``samples == 1``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    flags = {module: module.training for module in model.modules()}
    stochastic = [m for m in model.modules() if isinstance(m, STOCHASTIC_LAYERS)]
    if not stochastic:
        raise ValueError(
            "mc_predict found no dropout layer in the model, so every pass would be identical; "
            "use nn.Dropout or autograder.reference.Dropout modules"
        )
    try:
        model.eval()
        for module in stochastic:
            module.train()
        with torch.no_grad():
            outputs = []
            for _ in range(samples):
                out = model(x)
                outputs.append(transform(out) if transform is not None else out)
        stacked = torch.stack(outputs)
        return MCPrediction(stacked.mean(0), stacked.std(0, correction=0))
    finally:
        for module, flag in flags.items():
            module.training = flag
