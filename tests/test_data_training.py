"""Data loading (the real Fashion-MNIST path and the fallback), the MLP and the training loop."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.lab.data import DATA_ENV, FALLBACK, FASHION_MNIST, data_dir, load_dataset
from autograder.lab.models import MLP
from autograder.lab.training import evaluate, train
from autograder.reference import Dropout


def _write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file as Fashion-MNIST ships them (big-endian header, uint8 payload)."""
    magic = {1: 0x00000801, 3: 0x00000803}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_root(tmp_path: Path) -> Path:
    """A deterministic miniature Fashion-MNIST in torchvision's layout (root/FashionMNIST/raw/)."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
        # torchvision checks for the .gz archives too before it trusts the folder
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(b""))
    return tmp_path


def test_fashion_mnist_is_read_through_torchvision_when_present(tiny_fashion_root: Path) -> None:
    data = load_dataset(tiny_fashion_root, download=False)
    assert data.name == FASHION_MNIST and not data.is_fallback
    assert (len(data.train), len(data.test)) == (60, 20)
    images, labels = data.train.tensors
    assert images.shape == (60, 1, 28, 28) and images.dtype == torch.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_environment_variable_sets_the_data_directory(
    tiny_fashion_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tiny_fashion_root))
    assert data_dir() == tiny_fashion_root
    assert load_dataset(download=False).name == FASHION_MNIST
    assert data_dir("/somewhere/else") == Path("/somewhere/else")


def test_falls_back_to_shipped_mnist_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="autograder.lab.data"):
        data = load_dataset(tmp_path / "empty", download=False)
    assert data.is_fallback and data.name == FALLBACK
    assert "Fashion-MNIST is not available" in caplog.text
    assert (len(data.train), len(data.test)) == (4000, 1000)
    images, labels = data.train.tensors
    assert images.shape == (4000, 1, 28, 28)
    assert sorted(torch.bincount(labels).tolist())[0] > 300  # every digit is there
    with pytest.raises(RuntimeError):
        load_dataset(tmp_path / "empty", download=False, fallback=False)


def test_subset_is_deterministic(tmp_path: Path) -> None:
    data = load_dataset(tmp_path, download=False)
    a, b = data.subset(train=100, test=50), data.subset(train=100, test=50)
    assert len(a.train) == 100 and len(a.test) == 50
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    with pytest.raises(ValueError, match="at least one"):
        data.subset(train=0)


def test_mlp_shape_and_dropout_choice() -> None:
    model = MLP()
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert sum(isinstance(m, Dropout) for m in model) == 2
    assert sum(isinstance(m, torch.nn.Dropout) for m in MLP(dropout_impl="torch")) == 2
    assert not any(isinstance(m, (Dropout, torch.nn.Dropout)) for m in MLP(dropout=(0, 0)))
    with pytest.raises(ValueError, match="one drop probability per hidden layer"):
        MLP(dropout=(0.5,))
    with pytest.raises(ValueError, match="dropout must be one of"):
        MLP(dropout_impl="keras")  # type: ignore[arg-type]


def test_training_learns_and_reference_equals_nn_dropout_under_one_seed(tmp_path: Path) -> None:
    data = load_dataset(tmp_path, download=False).subset(train=1024, test=256)
    histories = {}
    for impl in ("reference", "torch"):
        torch.manual_seed(0)
        model = MLP(dropout_impl=impl)
        histories[impl] = train(model, data, epochs=3, batch_size=64, seed=0, device="cpu", progress=False)
    reference, native = histories["reference"], histories["torch"]
    assert [e.epoch for e in reference.epochs] == [1, 2, 3]
    assert reference.dataset == FALLBACK and reference.device == "cpu"
    # Same seed, same masks (the reference draws exactly what F.dropout draws): same training run.
    np.testing.assert_allclose(reference.column("train_loss"), native.column("train_loss"), rtol=1e-5)
    assert reference.column("test_accuracy") == native.column("test_accuracy")
    # It learns: the loss falls and test accuracy is far above chance (10 %). Deterministic (seeded).
    losses = reference.column("train_loss")
    assert losses[-1] < losses[0]
    assert reference.final.test_accuracy > 0.5


def test_evaluate_restores_the_training_flag(tmp_path: Path) -> None:
    data = load_dataset(tmp_path, download=False).subset(train=10, test=30)
    model = MLP().train()
    accuracy = evaluate(model, data.test, device="cpu")
    assert 0.0 <= accuracy <= 1.0 and model.training
    with pytest.raises(ValueError, match="epochs"):
        train(model, data, epochs=0)
