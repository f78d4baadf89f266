"""The batched population trainer (autograder.lab.population) and paired intervals (autograder.lab.paired).

What must hold for chapter 4's comparisons to mean anything: a member trained inside a population is
the network it would be alone (same initialisation as ``nn.Linear``, same SGD with weight decay as
``torch.optim.SGD``), each noise kind has the mean and variance it claims, and max-norm bounds every
hidden unit's incoming weights. About 5 s on two cores.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from autograder.lab.data import CourseData
from autograder.lab.paired import mean_interval, paired_difference
from autograder.lab.population import Config, Population, train_population
from autograder.lab.stats import binomial_interval


@pytest.fixture(scope="module")
def tiny() -> CourseData:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(64, 1, 4, 4, generator=generator)
    labels = torch.arange(64) % 4
    images[torch.arange(64), 0, labels, labels] = 3.0  # a learnable marker per class
    data = TensorDataset(images, labels)
    return CourseData("tiny synthetic", data, data, tuple(map(str, range(4))), "test", False)


def test_paired_difference_matches_a_t_interval() -> None:
    d = paired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert (
        d.mean == pytest.approx(2.0)
        and d.low == pytest.approx(2 - half)
        and d.high == pytest.approx(2 + half)
    )
    assert not d.excludes_zero and d.verdict == "not distinguishable from zero" and d.n == 3
    assert paired_difference([1.0, 1.1, 1.2], [0.0, 0.0, 0.0]).verdict == "higher"
    assert paired_difference([0.0, 0.1], [1.0, 1.05]).verdict == "lower"
    assert mean_interval([1.0, 2.0, 3.0]).mean == pytest.approx(2.0)
    assert d.format(1) == f"+2.0 [{2 - half:+.1f}, {2 + half:+.1f}]"
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="two pairs"):
        paired_difference([1.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        paired_difference([1.0, float("nan")], [0.0, 0.0])


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="noise"):
        Config(noise="gaussian")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="levels"):
        Config(drop=(0.5, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        Config(weight_decay=-1.0)
    with pytest.raises(ValueError, match="max_norm"):
        Config(max_norm=0.0)
    with pytest.raises(ValueError, match="hidden layers"):
        Population([(Config(drop=(0.5,)), 0)], (16, 8, 8, 4))


def test_a_member_trains_exactly_like_an_nn_linear_mlp_with_torch_sgd(tiny: CourseData) -> None:
    """Same initial weights as nn.Linear under its seed, same batches, same SGD with weight decay."""
    config = Config(drop=(0.0, 0.0), weight_decay=1e-2)
    others = [Config(drop=(0.5, 0.5)), Config(drop=(0.3, 0.3), noise="uniform")]  # must not interfere
    result = train_population([config, *others], (3, 4), tiny, hidden=(8, 8), epochs=3, lr=0.5, batch_size=16)

    seed = 4
    torch.manual_seed(seed)  # unused by the population; the member's own generator below is what counts
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for fan_in, fan_out in ((16, 8), (8, 8), (8, 4)):
        layer = nn.Linear(fan_in, fan_out)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            layer.weight.copy_((torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound)
            layer.bias.copy_((torch.rand(fan_out, generator=generator) * 2 - 1) * bound)
        layers.append(layer)
    model = nn.Sequential(nn.Flatten(), layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, weight_decay=1e-2)
    order = torch.Generator().manual_seed(0)  # the population's order_seed
    x, y = tiny.train.tensors
    for _ in range(3):
        perm = torch.randperm(len(y), generator=order)
        for begin in range(0, len(y), 16):
            idx = perm[begin : begin + 16]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        expected = F.cross_entropy(model(x), y).item()
    assert result.final("train_loss", config)[1] == pytest.approx(expected, rel=1e-4)
    assert result.final("train_loss", config)[0] != pytest.approx(expected, rel=1e-4)  # seeds differ
    k = result.index[(config, seed)]
    assert torch.allclose(result.population.weights[0][k], layers[0].weight.T, atol=1e-5)


def test_noise_kinds_have_the_stated_mean_and_variance() -> None:
    """Keep rate within an exact binomial interval (false-failure rate 1e-10 per check); moments loosely."""
    members = [
        (Config(drop=(0.5,)), 0),
        (Config(drop=(0.5,), noise="uniform"), 0),
        (Config(drop=(0.5,), noise="dropconnect"), 0),
    ]
    population = Population(members, (4, 20_000, 2), noise_seed=1)
    h = torch.ones(3, 10, 20_000)
    noisy = population._activation_noise(h, 1)
    kept = int((noisy[0] != 0).sum())
    assert binomial_interval(200_000, 0.5).contains(kept)
    assert set(noisy[0].unique().tolist()) == {0.0, 2.0}  # inverted scale 1 / (1 - p)
    uniform = noisy[1]
    assert abs(float(uniform.mean()) - 1) < 0.01 and abs(float(uniform.var()) - 1.0) < 0.02  # p/(1-p) = 1
    a = math.sqrt(3.0)
    assert float(uniform.min()) >= 1 - a and float(uniform.max()) <= 1 + a and float(uniform.min()) < 0
    assert torch.equal(noisy[2], h[2])  # dropconnect leaves activations alone ...
    w = torch.ones(3, 20_000, 2)
    masked = population._weight_noise(w, 1)
    assert binomial_interval(40_000, 0.5).contains(int((masked[2] != 0).sum()))  # ... and drops weights
    assert torch.equal(masked[:2], w[:2])
    x = torch.rand(5, 4)
    clean = population.forward(x, noisy=False)
    assert torch.equal(clean, population.forward(x, noisy=False))  # evaluation mode is deterministic


def test_max_norm_bounds_each_hidden_units_incoming_weights(tiny: CourseData) -> None:
    config = Config(drop=(0.5, 0.5), max_norm=0.5)
    free = Config(drop=(0.5, 0.5))
    result = train_population([config, free], (0,), tiny, hidden=(8, 8), epochs=3, lr=2.0, batch_size=16)
    bounded, unbounded = result.index[(config, 0)], result.index[(free, 0)]
    for w in result.population.weights[:-1]:
        assert float(w[bounded].detach().norm(dim=0).max()) <= 0.5 + 1e-5
    assert float(result.population.weights[0][unbounded].detach().norm(dim=0).max()) > 0.5


def test_records_and_probes(tiny: CourseData) -> None:
    config = Config(drop=(0.5, 0.5))
    result = train_population(
        [config], (0, 1), tiny, hidden=(8, 8), epochs=5, record_every=2, probe_images=32
    )
    assert result.epochs == [2, 4, 5]
    assert result.curves("test_accuracy", config).shape == (2, 3)
    assert len(result.final("var_h2_train", config)) == 2 and result.at("train_loss", config, 4)
    with pytest.raises(ValueError, match="repeat"):
        train_population([config, config], (0,), tiny, epochs=1)
