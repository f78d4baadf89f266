"""``nn.Module`` wrappers around the reference functions: they read ``self.training``.

``model.train()`` and ``model.eval()`` set ``training`` on every submodule recursively; a layer that
reads it needs no argument at call time. That is the whole difference between ``nn.Dropout`` and
``F.dropout(x, p)``, whose ``training`` argument defaults to True (chapter 3). Each layer takes
``(p, inplace)`` positionally, as its ``torch.nn`` counterpart does.
"""

from __future__ import annotations

import torch
from torch import nn

from .functional import KeepMaskAs, dropout
from .validation import check_probability, check_strategy
from .variants import (
    alpha_dropout,
    channel_dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
    gaussian_dropout,
)


class StochasticLayer(nn.Module):
    """Base of the reference's random layers: a validated drop probability ``p``, ``inplace`` and a
    generator.

    :func:`autograder.reference.mc_predict` recognises these (and ``torch.nn``'s dropout layers) as
    the layers to keep sampling at test time.
    """

    allow_one = True

    def __init__(
        self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = check_probability(p, allow_one=self.allow_one)
        self.inplace = bool(inplace)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(StochasticLayer):
    """Inverted dropout that honours ``self.training`` (the reference's ``nn.Dropout``)."""

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        keep_mask_as: KeepMaskAs = "bool",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, inplace, generator=generator)
        self.keep_mask_as = check_strategy(keep_mask_as)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(
            x, self.p, self.training, self.inplace, generator=self.generator, keep_mask_as=self.keep_mask_as
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, keep_mask_as={self.keep_mask_as!r}"


class ChannelDropout(StochasticLayer):
    """Drops whole channels of ``(N, C, ...)`` inputs of any rank: dim 0 is always the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_dropout(x, self.p, self.training, self.inplace, generator=self.generator)


class Dropout1d(StochasticLayer):
    """The reference's ``nn.Dropout1d``: ``(N, C, L)`` or unbatched ``(C, L)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout1d(x, self.p, self.training, self.inplace, generator=self.generator)


class Dropout2d(StochasticLayer):
    """The reference's ``nn.Dropout2d``: ``(N, C, H, W)``; a 3-D input is read as ``(N, C, L)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout2d(x, self.p, self.training, self.inplace, generator=self.generator)


class Dropout3d(StochasticLayer):
    """The reference's ``nn.Dropout3d``: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout3d(x, self.p, self.training, self.inplace, generator=self.generator)


class AlphaDropout(StochasticLayer):
    """Dropout for SELU networks that keeps mean and variance (the reference's ``nn.AlphaDropout``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return alpha_dropout(x, self.p, self.training, self.inplace, generator=self.generator)


class FeatureAlphaDropout(StochasticLayer):
    """Alpha dropout of whole channels (the reference's ``nn.FeatureAlphaDropout``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return feature_alpha_dropout(x, self.p, self.training, self.inplace, generator=self.generator)


class GaussianDropout(StochasticLayer):
    """Multiplicative Gaussian noise with dropout's mean and variance; ``p`` must be below 1."""

    allow_one = False

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_dropout(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
