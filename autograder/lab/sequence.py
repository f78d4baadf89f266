"""Chapter 5's sequence task as a reusable model: an LSTM reading an image a few rows at a time.

:class:`RowLSTM` reads a (N, 1, 28, 28) image as ``steps`` time steps of ``784 // steps`` pixels and
classifies from the last hidden state (chapter 5 builds the same model inline: 14 steps, 64 hidden
units, weight dropout on ``weight_hh_l0`` through the reference ``WeightDropout``). Chapter 7 adds the
rest of the AWD-LSTM recipe (Merity et al. 2017) on this task:

* **naive** input dropout: a fresh mask for every time step (what ``nn.Dropout`` on a (N, T, F)
  sequence does);
* **locked** (variational) dropout, Gal and Ghahramani (2016): one mask per sequence, the same at every
  time step (:class:`LockedDropout`);
* **time-step dropout**, this task's stand-in for embedding dropout: in a language model, embedding
  dropout zeroes a word's whole embedding vector; here there is no vocabulary, so a whole time step's
  input vector is zeroed (and the rest rescaled) (:class:`TimestepDropout`);
* **weight dropout** on the recurrent weights, one mask per forward, hence the same at every step.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from autograder.reference import WeightDropout, parametrize_weight_dropout
from autograder.reference.functional import check_probability


class LockedDropout(nn.Module):
    """Inverted dropout on a (N, T, F) sequence with one mask per sequence, shared by all T steps."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability(p, allow_one=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.dim() != 3:
            raise ValueError(f"LockedDropout takes a (batch, time, features) input, got {tuple(x.shape)}")
        mask = torch.empty((x.shape[0], 1, x.shape[2]), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * mask / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TimestepDropout(nn.Module):
    """Inverted dropout of whole time steps of a (N, T, F) sequence: a step is kept or zeroed entirely."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = check_probability(p, allow_one=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.dim() != 3:
            raise ValueError(f"TimestepDropout takes a (batch, time, features) input, got {tuple(x.shape)}")
        mask = torch.empty((x.shape[0], x.shape[1], 1), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        return x * mask / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RowLSTM(nn.Module):
    """Read a (N, 1, 28, 28) image as ``steps`` slices of rows; classify from the last hidden state.

    Args:
        weight_p: weight dropout on ``weight_hh_l0`` (0: none).
        how: ``"wrapper"`` (the reference ``WeightDropout``) or ``"parametrize"``.
        input_p: dropout on the input sequence; ``input_mode`` ``"naive"`` (a mask per step) or
            ``"locked"`` (a mask per sequence).
        timestep_p: dropout of whole input time steps (embedding dropout's stand-in).
        output_p: dropout on the last hidden state before the classifier.
    """

    def __init__(
        self,
        weight_p: float = 0.0,
        how: Literal["wrapper", "parametrize"] = "wrapper",
        *,
        steps: int = 14,
        hidden: int = 64,
        input_p: float = 0.0,
        input_mode: Literal["naive", "locked"] = "locked",
        timestep_p: float = 0.0,
        output_p: float = 0.0,
    ) -> None:
        super().__init__()
        if 784 % steps:
            raise ValueError(f"steps must divide 784 pixels evenly, got {steps}")
        if how not in ("wrapper", "parametrize"):
            raise ValueError(f"how must be 'wrapper' or 'parametrize', got {how!r}")
        if input_mode not in ("naive", "locked"):
            raise ValueError(f"input_mode must be 'naive' or 'locked', got {input_mode!r}")
        self.steps = steps
        lstm: nn.Module = nn.LSTM(784 // steps, hidden, batch_first=True)
        if weight_p > 0 and how == "wrapper":
            lstm = WeightDropout(lstm, weight_p, ["weight_hh_l0"])
        elif weight_p > 0:
            lstm = parametrize_weight_dropout(lstm, ["weight_hh_l0"], weight_p)
        self.lstm = lstm
        self.timestep_dropout = TimestepDropout(timestep_p)
        self.input_dropout = LockedDropout(input_p) if input_mode == "locked" else nn.Dropout(input_p)
        self.output_dropout = nn.Dropout(output_p)
        self.head = nn.Linear(hidden, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(len(images), self.steps, -1)
        x = self.input_dropout(self.timestep_dropout(x))
        out, _ = self.lstm(x)
        return self.head(self.output_dropout(out[:, -1]))
