"""Running one training configuration over several seeds, and summarising what the seeds agree on.

A single training run is one draw: its initial weights, batch order and dropout masks all come from
its seed, and two configurations that differ by less than the seed-to-seed spread have not been told
apart. Chapters 4-6 therefore run every configuration over a few fixed seeds with :func:`run_seeds`
and report a :class:`Spread` (mean, sample standard deviation, range) rather than one number.

:func:`train_tracked` trains through the package's :func:`autograder.lab.training.train` a few epochs at
a time and calls a *probe* in between, for statistics the training loop does not record (accuracy on
the training set in evaluation mode, activation variances, ...). SGD without momentum keeps no state
between calls, so this is the same optimisation as one long call; each call draws its batch order and
masks from its own seed, derived from the run's seed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from .data import CourseData
from .training import History, train

#: A probe is called after every epoch with the model (in training mode) and returns named numbers.
Probe = Callable[[nn.Module], Mapping[str, float]]

#: Epoch ``e`` of a tracked run with seed ``s`` draws its batches and masks from ``s * SEED_STRIDE + e``.
SEED_STRIDE = 10_000


@dataclass(frozen=True)
class Spread:
    """Several seeds' values of one number: ``str(spread)`` reads ``mean ± std``."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a spread needs at least one value")

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(statistics.fmean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
        return float(statistics.stdev(self.values)) if self.n > 1 else 0.0

    @property
    def low(self) -> float:
        return float(min(self.values))

    @property
    def high(self) -> float:
        return float(max(self.values))

    def format(self, digits: int = 3) -> str:
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"

    def __str__(self) -> str:
        return self.format()


def spread(values: Iterable[float]) -> Spread:
    """A :class:`Spread` of ``values`` (converted to Python floats; NaN is refused)."""
    floats = tuple(float(v) for v in values)
    if any(math.isnan(v) for v in floats):
        raise ValueError(f"a spread of values containing NaN means nothing: {floats}")
    return Spread(floats)


@dataclass
class SeedRuns:
    """The runs of one configuration, one per seed, with what each probe recorded per epoch."""

    label: str
    seeds: tuple[int, ...]
    histories: list[History]
    probes: list[list[dict[str, float]]] = field(default_factory=list)
    models: list[nn.Module] = field(default_factory=list)  # the trained models, one per seed

    @property
    def dataset(self) -> str:
        return self.histories[0].dataset

    def final(self, column: str) -> Spread:
        """The last epoch's ``column`` (a History column, or a probe's key) over the seeds."""
        return spread(curve[-1] for curve in self.curves(column))

    def curves(self, column: str) -> list[list[float]]:
        """One list per seed: ``column`` at every epoch."""
        if self.probes and column in self.probes[0][0]:
            return [[float(epoch[column]) for epoch in run] for run in self.probes]
        return [history.column(column) for history in self.histories]

    def mean_curve(self, column: str) -> list[float]:
        return [statistics.fmean(values) for values in zip(*self.curves(column), strict=True)]

    def std_curve(self, column: str) -> list[float]:
        return [spread(values).std for values in zip(*self.curves(column), strict=True)]


def train_tracked(
    model: nn.Module,
    data: CourseData,
    *,
    epochs: int,
    seed: int,
    probe: Probe,
    probe_every: int = 1,
    **train_kwargs: Any,
) -> tuple[History, list[dict[str, float]]]:
    """Train ``epochs`` epochs with :func:`autograder.lab.training.train`, probing every ``probe_every``.

    Returns the merged history (epochs numbered 1..epochs) and one probe record per probe, each with
    the key ``"epoch"`` (the epoch it followed; the last epoch is always probed). Meant for
    momentum-free SGD, the course's optimiser: a fresh optimiser per call changes nothing then.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if probe_every < 1:
        raise ValueError(f"probe_every must be at least 1, got {probe_every}")
    history: History | None = None
    records: list[dict[str, float]] = []
    done = 0
    while done < epochs:
        chunk = min(probe_every, epochs - done)
        part = train(model, data, epochs=chunk, seed=seed * SEED_STRIDE + done + 1, progress=False,
                     **train_kwargs)
        if history is None:
            history = History(dataset=part.dataset, device=part.device)
        history.epochs.extend(replace(stats, epoch=done + i) for i, stats in enumerate(part.epochs, 1))
        done += chunk
        model.train()
        records.append({"epoch": float(done)} | {name: float(value) for name, value in probe(model).items()})
    assert history is not None
    return history, records


def run_seeds(
    build_model: Callable[[], nn.Module],
    data: CourseData,
    *,
    seeds: Sequence[int],
    label: str = "",
    probe: Probe | None = None,
    probe_every: int = 1,
    **train_kwargs: Any,
) -> SeedRuns:
    """Build and train a fresh model per seed; ``torch.manual_seed(seed)`` fixes its initial weights.

    ``train_kwargs`` go to :func:`autograder.lab.training.train` (``epochs``, ``lr``, ``weight_decay``,
    ``device``, ...). With a ``probe`` the runs go through :func:`train_tracked` (``probe_every``).
    """
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")
    histories: list[History] = []
    probes: list[list[dict[str, float]]] = []
    models: list[nn.Module] = []
    epochs = int(train_kwargs.pop("epochs", 10))
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model()
        if probe is None:
            histories.append(train(model, data, epochs=epochs, seed=seed, progress=False, **train_kwargs))
        else:
            history, record = train_tracked(
                model, data, epochs=epochs, seed=seed, probe=probe, probe_every=probe_every, **train_kwargs
            )
            histories.append(history)
            probes.append(record)
        models.append(model)
    return SeedRuns(label=label, seeds=tuple(seeds), histories=histories, probes=probes, models=models)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (a chapter displays it with ``IPython.display.Markdown``); cells via ``str``."""
    header = [str(cell) for cell in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in rows:
        cells = [str(cell).replace("|", "\\|") for cell in row]
        if len(cells) != len(header):
            raise ValueError(f"a row has {len(cells)} cells, the header {len(header)}: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
