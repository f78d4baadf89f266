"""Recording the mean and variance of layers' outputs with forward hooks, without touching the model.

Chapter 4 follows the variance of each hidden layer's activations over training, with and without
dropout; chapter 6 checks that alpha dropout keeps a SELU network's activations at mean 0 and variance
1 layer after layer. Both need the same thing: the moments of what chosen modules output during some
forward passes. :class:`ActivationMoments` registers a forward hook on each module, accumulates the
count, sum and sum of squares of every output it sees (in float64, pooled over all elements and all
recorded passes), and removes its hooks when its ``with`` block ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


@dataclass(frozen=True)
class Moments:
    """Mean and (population) variance over ``count`` recorded output elements."""

    count: int
    mean: float
    variance: float

    @property
    def std(self) -> float:
        return self.variance**0.5


class _Accumulator:
    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0

    def add(self, output: torch.Tensor) -> None:
        values = output.detach().to(torch.float64)
        self.count += values.numel()
        self.total += float(values.sum())
        self.total_sq += float(values.square().sum())

    def moments(self) -> Moments:
        if self.count == 0:
            raise ValueError("no output was recorded: run a forward pass inside the `with` block")
        mean = self.total / self.count
        variance = max(self.total_sq / self.count - mean * mean, 0.0)
        return Moments(count=self.count, mean=mean, variance=variance)


class ActivationMoments:
    """Forward hooks that pool the moments of named modules' outputs while the ``with`` block runs.

    Example::

        with ActivationMoments({"hidden 1": model[2], "hidden 2": model[5]}) as recorder:
            model(x)
        recorder.moments()["hidden 1"].variance

    Outputs that are not a single tensor (an LSTM's ``(output, (h, c))``) record their first element.
    """

    def __init__(self, modules: Mapping[str, nn.Module]) -> None:
        if not modules:
            raise ValueError("give at least one module to record")
        self.modules = dict(modules)
        self._accumulators = {name: _Accumulator() for name in self.modules}
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> ActivationMoments:
        if self._handles:
            raise RuntimeError("this recorder is already recording")
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[object, ...], object], None]:
        accumulator = self._accumulators[name]

        def record(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
            while isinstance(output, tuple | list):
                output = output[0]
            if isinstance(output, torch.Tensor):
                accumulator.add(output)

        return record

    def moments(self) -> dict[str, Moments]:
        """Pooled moments per module name, over everything recorded so far."""
        return {name: accumulator.moments() for name, accumulator in self._accumulators.items()}

    def reset(self) -> None:
        self._accumulators = {name: _Accumulator() for name in self.modules}


def activation_moments(
    model: nn.Module, x: torch.Tensor, modules: Mapping[str, nn.Module], *, training: bool | None = None
) -> dict[str, Moments]:
    """One forward pass of ``x`` without gradients; the moments of each named module's output.

    ``training`` sets the model's mode for this pass (None keeps it); the mode is restored after.
    """
    was_training = model.training
    if training is not None:
        model.train(training)
    try:
        with ActivationMoments(modules) as recorder, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return recorder.moments()
