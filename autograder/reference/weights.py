"""Dropping weights instead of activations: DropConnect and weight dropout (chapter 5).

Two patterns, and the one bug both can hide:

* :class:`DropConnectLinear` owns its weight and multiplies it by a fresh inverted mask each training
  forward (Wan et al., 2013, with the inverted scaling so evaluation uses the full weight).
* :class:`WeightDropout` wraps an existing module (typically an LSTM's hidden-to-hidden weight, as in
  AWD-LSTM and fastai): the trainable tensor becomes a raw parameter ``<name>_raw`` on the wrapper, and
  before every forward a dropped copy computed *from the raw parameter* is assigned to the module's
  attribute. Gradients flow through that copy back to the raw parameter. Computing the copy from
  ``raw.data`` instead detaches it: the raw parameter gets no gradient and never learns (the
  ``.data`` bug; :meth:`WeightDropout.dropped_weight` is the one place to get this right).
* :func:`parametrize_weight_dropout` does the same with ``torch.nn.utils.parametrize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from .functional import check_probability, dropout


class DropConnectLinear(nn.Linear):
    """A linear layer whose *weights* are dropped: one mask per forward, shared by the whole batch.

    In training the weight used is ``W * m / (1 - p)``, so its expectation is ``W``; in evaluation it is
    ``W`` itself. The bias is not dropped.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.p = check_probability(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = dropout(self.weight, self.p, self.training, generator=self.generator)
        return nn.functional.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


class WeightDropout(nn.Module):
    """Weight dropout in fastai's pattern: a raw parameter, and a dropped copy set before each forward.

    Args:
        module: the module whose weights to drop (``nn.LSTM``, ``nn.Linear``, ...).
        weight_p: drop probability of each weight entry.
        layer_names: names of the weights to drop, e.g. ``["weight_hh_l0"]`` for an LSTM.

    After wrapping, ``<name>_raw`` is the trainable parameter (registered on this wrapper) and
    ``module.<name>`` is a plain tensor recomputed on every forward. In evaluation the copy equals the
    raw weight.
    """

    def __init__(
        self,
        module: nn.Module,
        weight_p: float = 0.5,
        layer_names: Sequence[str] | str = ("weight_hh_l0",),
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.weight_p = check_probability(weight_p, name="weight_p")
        self.layer_names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
        self.generator = generator
        for name in self.layer_names:
            weight = getattr(module, name, None)
            if not isinstance(weight, nn.Parameter):
                raise ValueError(
                    f"{type(module).__name__} has no parameter named {name!r}; "
                    f"its parameters are {[n for n, _ in module.named_parameters(recurse=False)]}"
                )
            delattr(module, name)
            self.register_parameter(f"{name}_raw", nn.Parameter(weight.detach().clone()))
            setattr(module, name, weight.detach().clone())
        if isinstance(module, nn.RNNBase):
            # cuDNN would copy the weights into one flat buffer, which a reassigned tensor breaks.
            module.flatten_parameters = lambda: None  # type: ignore[method-assign]

    def dropped_weight(self, raw: torch.Tensor) -> torch.Tensor:
        """The weight the module uses this forward. Must be computed from ``raw`` itself, not ``.data``."""
        return dropout(raw, self.weight_p, self.training, generator=self.generator)

    def _set_weights(self) -> None:
        for name in self.layer_names:
            weight = self.dropped_weight(getattr(self, f"{name}_raw"))
            if isinstance(weight, nn.Parameter):
                # In eval mode dropout returns the raw Parameter itself. Assigning a Parameter would
                # register it on the module again, and the next training forward's plain tensor would
                # then be refused ("cannot assign ... as parameter"). A view is a plain tensor that
                # shares the storage and still sends gradients to the raw parameter.
                weight = weight.view_as(weight)
            setattr(self.module, name, weight)

    def forward(self, *args: object, **kwargs: object) -> object:
        self._set_weights()
        return self.module(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"weight_p={self.weight_p}, layer_names={self.layer_names}"


class WeightDropoutParametrization(nn.Module):
    """A parametrization ``W -> dropout(W)``: it is a submodule, so ``train()/eval()`` reach it."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.generator = generator

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return dropout(weight, self.p, self.training, generator=self.generator)


def parametrize_weight_dropout(
    module: nn.Module,
    names: Sequence[str] | str = ("weight",),
    p: float = 0.5,
    *,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Register weight dropout on ``module``'s ``names`` with ``torch.nn.utils.parametrize``.

    The original tensor becomes ``module.parametrizations.<name>.original`` and every access to
    ``module.<name>`` computes a freshly dropped copy. On ``nn.LSTM`` with torch 2.13 on the CPU this
    takes effect (chapter 5 measures it), but the dropout runs at every attribute access, several times
    per forward; pytorch issue #65688 reports the cuDNN flat-weight path bypassing parametrizations, so
    check gradients on a GPU before relying on it. :class:`WeightDropout` draws one mask per forward.
    """
    for name in [names] if isinstance(names, str) else names:
        parametrize.register_parametrization(
            module, name, WeightDropoutParametrization(p, generator=generator)
        )
    return module


