"""``nn.Module`` wrappers around the reference functions: they read ``self.training``.

``model.train()`` and ``model.eval()`` set ``training`` on every submodule recursively; a layer that
reads it needs no argument at call time. That is the whole difference between ``nn.Dropout`` and
``F.dropout(x, p)``, whose ``training`` argument defaults to True (chapter 3).
"""

from __future__ import annotations

import torch
from torch import nn

from .functional import (
    KeepMaskAs,
    _check_strategy,
    alpha_dropout,
    channel_dropout,
    check_probability,
    dropout,
    gaussian_dropout,
)


class StochasticLayer(nn.Module):
    """Base of the reference's random layers: a validated drop probability ``p`` and a generator.

    :func:`autograder.reference.mc_predict` recognises these (and ``torch.nn``'s dropout layers) as
    the layers to keep sampling at test time.
    """

    allow_one = True

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability(p, allow_one=self.allow_one)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout(StochasticLayer):
    """Inverted dropout that honours ``self.training`` (the reference's ``nn.Dropout``)."""

    def __init__(
        self,
        p: float = 0.5,
        *,
        keep_mask_as: KeepMaskAs = "bool",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator=generator)
        self.keep_mask_as = _check_strategy(keep_mask_as)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(
            x, self.p, self.training, generator=self.generator, keep_mask_as=self.keep_mask_as
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, keep_mask_as={self.keep_mask_as!r}"


class ChannelDropout(StochasticLayer):
    """Drops whole channels of ``(N, C, ...)`` inputs (the reference's ``nn.Dropout2d``/``3d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_dropout(x, self.p, self.training, generator=self.generator)


class AlphaDropout(StochasticLayer):
    """Dropout for SELU networks that keeps mean and variance (the reference's ``nn.AlphaDropout``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return alpha_dropout(x, self.p, self.training, generator=self.generator)


class GaussianDropout(StochasticLayer):
    """Multiplicative Gaussian noise with dropout's mean and variance; ``p`` must be below 1."""

    allow_one = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_dropout(x, self.p, self.training, generator=self.generator)
