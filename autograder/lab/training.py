"""Training and evaluating the course's models: one loop that every chapter and exercise reuses.

:func:`train` runs minibatch SGD (d2l's setting: lr 0.1, batch 256) on the device it is given, else
the one :func:`~autograder.lab.device_choice.choose_device` picks (CUDA when present), shows a tqdm
progress bar, and returns a per-epoch :class:`History` of training loss, training accuracy (measured
on the fly, with dropout on, as d2l reports it) and test accuracy (in evaluation mode). Seeds fix the
initialisation, the shuffling and the dropout masks.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data import CourseData, load_dataset
from .device_choice import choose_device
from .models import MLP


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class History:
    """Per-epoch statistics of one training run, plus what produced them."""

    dataset: str
    device: str
    epochs: list[EpochStats] = field(default_factory=list)

    @property
    def final(self) -> EpochStats:
        if not self.epochs:
            raise ValueError("the history is empty: no epoch was trained")
        return self.epochs[-1]

    def column(self, name: str) -> list[float]:
        """One statistic over the epochs, e.g. ``history.column("test_accuracy")``."""
        return [float(getattr(stats, name)) for stats in self.epochs]


def evaluate(
    model: nn.Module, dataset: Dataset, *, device: torch.device | str | None = None, batch_size: int = 1024
) -> float:
    """Accuracy of ``model`` on ``dataset`` in evaluation mode; the model's mode is restored after."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with torch.no_grad():
            for images, labels in DataLoader(dataset, batch_size=batch_size):
                predictions = model(images.to(device)).argmax(dim=1)
                correct += int((predictions == labels.to(device)).sum())
                total += len(labels)
    finally:
        model.train(was_training)
    return correct / total


def train(
    model: nn.Module,
    data: CourseData,
    *,
    epochs: int = 10,
    lr: float = 0.1,
    batch_size: int = 256,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with SGD and cross-entropy; return the per-epoch history."""
    from tqdm.auto import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = torch.device(device) if isinstance(device, torch.device) else choose_device(device)
    torch.manual_seed(seed)  # dropout masks draw from the global generator
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    model.to(device)
    loader = DataLoader(
        data.train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history = History(dataset=data.name, device=str(device))
    bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        loss_sum = 0.0
        correct = seen = 0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum())
            seen += len(labels)
        stats = EpochStats(
            epoch=epoch,
            train_loss=loss_sum / seen,
            train_accuracy=correct / seen,
            test_accuracy=evaluate(model, data.test, device=device),
            seconds=time.perf_counter() - start,
        )
        history.epochs.append(stats)
        bar.set_postfix(loss=f"{stats.train_loss:.3f}", test_acc=f"{stats.test_accuracy:.3f}")
    return history


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dropout", type=float, nargs=2, default=(0.2, 0.5), metavar=("P1", "P2"))
    parser.add_argument("--impl", choices=("reference", "torch"), default="reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda when present)")
    parser.add_argument("--root", help="data directory (see 'python -m autograder data')")
    parser.add_argument("--train-subset", type=int, help="train on the first N images only")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    data = load_dataset(args.root)
    if args.train_subset:
        data = data.subset(train=args.train_subset)
    torch.manual_seed(args.seed)
    model = MLP(dropout=args.dropout, dropout_impl=args.impl)
    history = train(
        model, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        seed=args.seed, device=args.device,
    )  # fmt: skip
    print(f"{data.describe()}; device {history.device}")
    print(f"{'epoch':>5} {'train loss':>11} {'train acc':>10} {'test acc':>9} {'seconds':>8}")
    for stats in history.epochs:
        print(
            f"{stats.epoch:>5} {stats.train_loss:>11.4f} {stats.train_accuracy:>10.4f} "
            f"{stats.test_accuracy:>9.4f} {stats.seconds:>8.2f}"
        )
    return 0
