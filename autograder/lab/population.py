"""Many small MLPs trained side by side as one batched computation: configurations x seeds.

Chapter 4 compares dozens of configurations of d2l's MLP, each over several seeds; trained one after
the other that is hundreds of runs, too slow for a book built on two CPU cores. Here every run is a
*member* of one population: each weight tensor gets a leading member axis and each layer is one
batched matrix product (:func:`torch.baddbmm`). The members stay independent:

* each has its own seed, which fixes its initial weights (PyTorch's ``nn.Linear`` initialisation), so
  two configurations with the same seed start from the same weights (what makes per-seed *paired*
  comparisons sharp); its noise (masks) is its own draw;
* all members see the same batches in the same order (``order_seed``): the first layer of every member
  then reads the same images, and is computed as one large matrix product, several times faster on a
  CPU than one small product per member;
* each has its own noise (drop probabilities, noise kind), weight decay and max-norm constraint;
* the loss is the *sum* of the members' mean losses, so each member's gradient is exactly the one it
  would get alone, and plain SGD (no momentum, weight decay added to the gradient as ``torch.optim.SGD``
  does) updates it as if it trained alone.

Noise kinds (``Config.noise``): ``"dropout"`` (inverted Bernoulli masks on the hidden activations,
and on the inputs with ``input_drop``), ``"uniform"`` (multiplicative ``U(1-a, 1+a)`` noise with
dropout's mean 1 and variance ``p/(1-p)``, i.e. ``a = sqrt(3p/(1-p))``), ``"dropconnect"`` (inverted
Bernoulli masks on the *weights* that read each noisy layer, one mask per member and step, shared by
the minibatch, as :class:`autograder.reference.DropConnectLinear` draws them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from .data import CourseData

NoiseKind = Literal["dropout", "uniform", "dropconnect"]
NOISE_KINDS: tuple[str, ...] = ("dropout", "uniform", "dropconnect")


@dataclass(frozen=True)
class Config:
    """One training configuration (everything but the seed)."""

    drop: tuple[float, ...] = (0.0, 0.0)  # noise level after each hidden layer
    input_drop: float = 0.0  # noise level on the input pixels
    weight_decay: float = 0.0
    max_norm: float | None = None  # bound on each hidden unit's incoming weight vector (Srivastava)
    noise: NoiseKind = "dropout"

    def __post_init__(self) -> None:
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {self.noise!r}")
        for p in (*self.drop, self.input_drop):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"noise levels must be in [0, 1), got {p} in {self}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay}")
        if self.max_norm is not None and self.max_norm <= 0:
            raise ValueError(f"max_norm must be positive (or None), got {self.max_norm}")


@dataclass
class PopulationResult:
    """What :func:`train_population` recorded: ``record[name]`` has shape (members, recorded epochs)."""

    configs: list[Config]
    seeds: tuple[int, ...]
    epochs: list[int]  # the recorded epochs
    record: dict[str, torch.Tensor]
    population: Population
    dataset: str
    seconds: float = 0.0
    index: dict[tuple[Config, int], int] = field(default_factory=dict)

    def curves(self, name: str, config: Config) -> torch.Tensor:
        """(seeds, recorded epochs): ``name`` over training for every seed of ``config``."""
        return self.record[name][[self.index[(config, seed)] for seed in self.seeds]]

    def final(self, name: str, config: Config) -> list[float]:
        """``name`` at the last recorded epoch, one value per seed (in ``seeds`` order)."""
        return [float(v) for v in self.curves(name, config)[:, -1]]

    def at(self, name: str, config: Config, epoch: int) -> list[float]:
        """``name`` at a recorded ``epoch``, one value per seed."""
        return [float(v) for v in self.curves(name, config)[:, self.epochs.index(epoch)]]

    def members(self, config: Config) -> list[int]:
        return [self.index[(config, seed)] for seed in self.seeds]


class Population:
    """The stacked weights of K MLPs with the same layer widths, and their noisy/clean forward passes."""

    def __init__(
        self,
        members: Sequence[tuple[Config, int]],
        widths: Sequence[int],
        *,
        device: torch.device | str = "cpu",
        noise_seed: int = 0,
    ) -> None:
        if not members:
            raise ValueError("a population needs at least one member")
        self.widths = tuple(int(w) for w in widths)
        hidden = len(self.widths) - 2
        for config, _ in members:
            if len(config.drop) != hidden:
                raise ValueError(f"{config} gives {len(config.drop)} drop levels for {hidden} hidden layers")
        self.members = list(members)
        self.device = torch.device(device)
        per_member: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
        for _, seed in members:
            generator = torch.Generator().manual_seed(seed)
            layers = []
            for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:], strict=True):
                bound = 1 / math.sqrt(fan_in)  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
                w = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
                b = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
                layers.append((w.T, b))
            per_member.append(layers)
        # The first layer is stored (in, members, out): for a batch shared by all members it is then one
        # (B, in) x (in, members * out) product without copying the weights; the others (members, in, out).
        self._first = torch.stack([m[0][0] for m in per_member], dim=1).to(self.device).requires_grad_()
        self._rest = [
            torch.stack([m[layer][0] for m in per_member]).to(self.device).requires_grad_()
            for layer in range(1, len(self.widths) - 1)
        ]
        self.biases = [
            torch.stack([m[layer][1] for m in per_member]).unsqueeze(1).to(self.device).requires_grad_()
            for layer in range(len(self.widths) - 1)
        ]

        def column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32, device=self.device).view(-1, 1, 1)

        # Noise level feeding layer l (l = 0: the inputs), per member; and which kind each member uses.
        self.levels = [column([c.input_drop for c, _ in members])] + [
            column([c.drop[i] for c, _ in members]) for i in range(hidden)
        ]
        kinds = [c.noise for c, _ in members]
        self.is_kind = {kind: column([float(k == kind) for k in kinds]).bool() for kind in NOISE_KINDS}
        self.dropconnect: list[torch.Tensor | None] = []  # per layer: the members that drop its weights
        for level in self.levels:
            chosen = ((level > 0) & self.is_kind["dropconnect"]).view(-1).nonzero().view(-1)
            self.dropconnect.append(chosen if len(chosen) else None)
        self.weight_decay = column([c.weight_decay for c, _ in members])
        self.max_norm = column([c.max_norm if c.max_norm is not None else math.inf for c, _ in members])
        self.generator = torch.Generator(device=self.device).manual_seed(noise_seed)

    def weight(self, layer: int, tensor: torch.Tensor | None = None) -> torch.Tensor:
        """Layer ``layer``'s weights as a (members, in, out) view (of ``tensor``, a gradient, if given)."""
        if layer == 0:
            return (self._first if tensor is None else tensor).permute(1, 0, 2)
        return self._rest[layer - 1] if tensor is None else tensor

    @property
    def weights(self) -> list[torch.Tensor]:
        """Every layer's weights as (members, in, out) views: ``weights[l][k]`` is member k's (in, out)."""
        return [self.weight(layer) for layer in range(len(self.widths) - 1)]

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self._first, *self._rest, *self.biases]

    def __len__(self) -> int:
        return len(self.members)

    def _activation_noise(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Dropout or uniform noise on what enters ``layer`` (identity for dropconnect members)."""
        p = self.levels[layer]
        if not bool((p > 0).any()):
            return h
        keep = 1 - p
        u = torch.rand(h.shape, device=h.device, generator=self.generator)
        bernoulli = (u < keep).to(h.dtype) / keep
        a = torch.sqrt(3 * p / keep)
        uniform = 1 - a + 2 * a * u  # U(1 - a, 1 + a) from the same uniform draw
        multiplier = torch.where(self.is_kind["dropout"], bernoulli, torch.ones_like(h))
        multiplier = torch.where(self.is_kind["uniform"], uniform, multiplier)
        return h * multiplier

    def _weight_noise(self, w: torch.Tensor, layer: int) -> torch.Tensor:
        """DropConnect members' weights that read the noisy layer, masked (one mask per member and step)."""
        members = self.dropconnect[layer]
        if members is None:
            return w
        keep = 1 - self.levels[layer][members]
        mask = torch.rand((len(members), *w.shape[1:]), device=w.device, generator=self.generator) < keep
        multiplier = torch.ones_like(w)
        multiplier[members] = mask.to(w.dtype) / keep
        return w * multiplier

    def forward(
        self, x: torch.Tensor, *, noisy: bool, hidden_out: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Logits (K, B, classes) for inputs ``x`` of shape (K, B, features) or (B, features).

        ``noisy`` switches the training noise on (training mode) or off (evaluation mode: dropout is the
        identity, DropConnect uses the mean weights). ``hidden_out``, if given, receives what each
        hidden layer passes on (after its noise).
        """
        if x.dim() == 2 and noisy and bool((self.levels[0] > 0).any()):  # members need their own input noise
            x = x.unsqueeze(0).expand(len(self), -1, -1).contiguous()
        h = x
        last = len(self.biases) - 1
        for layer, b in enumerate(self.biases):
            w = self.weight(layer)
            if noisy:
                h = self._activation_noise(h, layer)
                w = self._weight_noise(w, layer)
            if h.dim() == 2:  # the batch shared by all members: one matrix product for all of them
                fan_in, k, fan_out = self._first.shape
                first = self._first if self.dropconnect[0] is None or not noisy else w.permute(1, 0, 2)
                h = (h @ first.reshape(fan_in, k * fan_out)).view(-1, k, fan_out).transpose(0, 1) + b
            else:
                h = torch.baddbmm(b, h, w)
            if layer < last:
                h = torch.relu(h)
                if hidden_out is not None:  # record after the noise the next layer sees
                    hidden_out.append(self._activation_noise(h, layer + 1) if noisy else h)
        return h

    @torch.no_grad()
    def evaluate(
        self, images: torch.Tensor, labels: torch.Tensor, *, batch: int = 500
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Accuracy and mean cross-entropy per member, in evaluation mode: two tensors of shape (K,)."""
        correct = torch.zeros(len(self), device=self.device)
        loss = torch.zeros(len(self), device=self.device)
        for start in range(0, len(labels), batch):
            x = images[start : start + batch].to(self.device).flatten(1)
            y = labels[start : start + batch].to(self.device)
            logits = self.forward(x, noisy=False)
            correct += (logits.argmax(-1) == y).sum(1)
            loss += F.cross_entropy(logits.transpose(1, 2), y.expand(len(self), -1), reduction="none").sum(1)
        return correct / len(labels), loss / len(labels)

    @torch.no_grad()
    def hidden_moments(self, x: torch.Tensor, *, noisy: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per hidden layer, the mean and variance of what it passes on (pooled over units and images).

        Each is a tensor of shape (members,); ``noisy`` applies the training noise first.
        """
        outs: list[torch.Tensor] = []
        self.forward(x.to(self.device).flatten(1), noisy=noisy, hidden_out=outs)
        return [(h.flatten(1).mean(dim=1), h.flatten(1).var(dim=1, unbiased=False)) for h in outs]

    @torch.no_grad()
    def sgd_step(self, lr: float) -> None:
        """One SGD step (weight decay as ``torch.optim.SGD`` adds it), then the max-norm constraint."""
        shrink = 1 - lr * self.weight_decay if bool((self.weight_decay > 0).any()) else None
        for layer, b in enumerate(self.biases):
            leaf = self._first if layer == 0 else self._rest[layer - 1]
            for param, grad in ((self.weight(layer), self.weight(layer, leaf.grad)), (b, b.grad)):
                if shrink is not None:
                    param.mul_(shrink)
                param.add_(grad, alpha=-lr)
        for param in self.parameters:
            param.grad = None
        if bool(torch.isfinite(self.max_norm).any()):
            for layer in range(len(self.biases) - 1):  # each hidden unit's incoming weights: a column here
                w = self.weight(layer)
                norms = w.norm(dim=1, keepdim=True).clamp_min(1e-12)
                w.mul_(torch.clamp(self.max_norm / norms, max=1.0))


def train_population(
    configs: Sequence[Config],
    seeds: Sequence[int],
    data: CourseData,
    *,
    hidden: Sequence[int] = (256, 256),
    epochs: int,
    lr: float = 0.1,
    batch_size: int = 256,
    record_every: int = 1,
    probe_images: int = 0,
    device: torch.device | str = "cpu",
    noise_seed: int = 0,
    order_seed: int = 0,
) -> PopulationResult:
    """Train every (config, seed) pair with minibatch SGD and cross-entropy; record every ``record_every``.

    Recorded (evaluation mode, whole sets): ``train_accuracy``, ``test_accuracy``, ``train_loss``,
    ``test_loss``. With ``probe_images`` > 0, also ``var_h{i}_eval`` and ``var_h{i}_train``: the
    variance of hidden layer ``i``'s output on the first ``probe_images`` training images without and
    with the training noise (pooled over units and images), and ``mean_h{i}_eval``. The last epoch is
    always recorded.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if record_every < 1:
        raise ValueError(f"record_every must be at least 1, got {record_every}")
    if not seeds or not configs:
        raise ValueError("give at least one configuration and one seed")
    if len(set(configs)) != len(configs) or len(set(seeds)) != len(seeds):
        raise ValueError("configurations and seeds must not repeat")
    start = time.perf_counter()
    device = torch.device(device)
    train_x, train_y = (t.to(device) for t in data.train.tensors)
    test_x, test_y = (t.to(device) for t in data.test.tensors)
    train_flat = train_x.flatten(1)
    members = [(config, seed) for config in configs for seed in seeds]
    widths = (train_flat.shape[1], *hidden, int(max(int(train_y.max()), int(test_y.max())) + 1))
    population = Population(members, widths, device=device, noise_seed=noise_seed)
    orders = torch.Generator().manual_seed(order_seed)
    n = len(train_y)
    record: dict[str, list[torch.Tensor]] = {}
    recorded: list[int] = []

    def note(name: str, value: torch.Tensor) -> None:
        record.setdefault(name, []).append(value.detach().cpu())

    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=orders).to(device)
        for begin in range(0, n, batch_size):
            idx = order[begin : begin + batch_size]
            logits = population.forward(train_flat[idx], noisy=True)
            labels = train_y[idx].expand(len(population), -1)
            loss = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").mean(1).sum()
            loss.backward()
            population.sgd_step(lr)
        if epoch % record_every == 0 or epoch == epochs:
            recorded.append(epoch)
            train_acc, train_loss = population.evaluate(train_x, train_y)
            test_acc, test_loss = population.evaluate(test_x, test_y)
            note("train_accuracy", train_acc)
            note("test_accuracy", test_acc)
            note("train_loss", train_loss)
            note("test_loss", test_loss)
            if probe_images:
                probe = train_flat[:probe_images]
                for i, (clean, noisy) in enumerate(
                    zip(
                        population.hidden_moments(probe, noisy=False),
                        population.hidden_moments(probe, noisy=True),
                        strict=True,
                    ),
                    1,
                ):
                    note(f"mean_h{i}_eval", clean[0])
                    note(f"var_h{i}_eval", clean[1])
                    note(f"var_h{i}_train", noisy[1])
    result = PopulationResult(
        configs=list(configs), seeds=tuple(seeds), epochs=recorded,
        record={name: torch.stack(values, dim=1) for name, values in record.items()},
        population=population, dataset=data.name, seconds=time.perf_counter() - start,
    )  # fmt: skip
    result.index = {member: k for k, member in enumerate(members)}
    return result
