"""The course's network: d2l's MLP for 28x28 images (784-256-256-10) with dropout after each hidden layer.

Its dropout layers come from a factory, so one class serves every experiment: the reference
``Dropout`` (default), ``torch.nn.Dropout``, or anything else built from a drop probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from torch import nn

from autograder.reference import Dropout

DropoutFactory = Callable[[float], nn.Module]

DROPOUT_IMPLEMENTATIONS: dict[str, DropoutFactory] = {
    "reference": Dropout,
    "torch": nn.Dropout,
}


def dropout_factory(kind: Literal["reference", "torch"] | DropoutFactory) -> DropoutFactory:
    """``"reference"`` (the course's Dropout), ``"torch"`` (``nn.Dropout``) or a callable ``p -> module``."""
    if callable(kind):
        return kind
    try:
        return DROPOUT_IMPLEMENTATIONS[kind]
    except KeyError:
        raise ValueError(
            f"dropout must be one of {sorted(DROPOUT_IMPLEMENTATIONS)} or a callable p -> nn.Module, "
            f"got {kind!r}"
        ) from None


class MLP(nn.Sequential):
    """Flatten -> [Linear -> ReLU -> Dropout] per hidden layer -> Linear.

    Args:
        hidden: widths of the hidden layers (d2l: 256, 256).
        dropout: drop probability after each hidden layer (d2l: 0.2 then 0.5); 0 leaves the layer out.
        dropout_impl: ``"reference"``, ``"torch"`` or a factory ``p -> nn.Module``.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (256, 256),
        num_classes: int = 10,
        dropout: Sequence[float] = (0.2, 0.5),
        dropout_impl: Literal["reference", "torch"] | DropoutFactory = "reference",
    ) -> None:
        if len(dropout) != len(hidden):
            raise ValueError(
                f"give one drop probability per hidden layer: {len(hidden)} hidden layers, "
                f"{len(dropout)} probabilities"
            )
        make_dropout = dropout_factory(dropout_impl)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size, p in zip(hidden, dropout, strict=True):
            layers += [nn.Linear(width, size), nn.ReLU()]
            if p > 0:
                layers.append(make_dropout(p))
            width = size
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)
        self.hidden = tuple(hidden)
        self.dropout = tuple(float(p) for p in dropout)
