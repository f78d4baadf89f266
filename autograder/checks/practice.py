"""Checks for the **practice** assignment: ``accuracy``, ``generalization_gap`` and ``mc_predict``.

The model in this assignment may use ``nn.Dropout`` (implementing dropout was assignments 1-3), so
these checks allow built-in dropout but still refuse the reference's ``mc_predict``.
"""

from __future__ import annotations

import copy
import types

import torch
from torch import nn
from torch.utils.data import TensorDataset

import autograder.reference as reference
from autograder.lab import training

from .common import gen, seed_student
from .core import T, binomial, close, expect_tensor, fail, interval
from .harness import check, invoke, trusted
from .remote import session

A = "practice"


def _reference_gap(history: object) -> float:
    final = history.epochs[-1]  # type: ignore[attr-defined]
    return float(final.train_accuracy - final.test_accuracy)


REFERENCE = {
    "accuracy": training.evaluate,
    "generalization_gap": _reference_gap,
    "mc_predict": reference.mc_predict,
}


def _mc(
    mc_predict: object, model: nn.Module, x: torch.Tensor, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    result = invoke(f"mc_predict(model, x, samples={samples})", mc_predict, model, x, samples)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"mc_predict should return a pair (mean, std), found {type(result).__name__}")
    mean = expect_tensor(result[0], "the mean returned by mc_predict")
    std = expect_tensor(result[1], "the std returned by mc_predict")
    return mean, std


@check(
    A,
    "accuracy() evaluates in eval mode, without gradients, and restores the model's mode",
    builtin_allowed=True,
)
def check_accuracy(accuracy: object, *, seed: int) -> None:
    seed_student(seed)
    n, d = 512, 16
    x = T.randn((n, d), generator=gen(seed))
    labels = (x[:, 0] > 0).long()
    linear = nn.Linear(d, 2)
    with T.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1, 0] = 10.0  # class 1 exactly when x[:, 0] > 0: accuracy 1.0 in eval mode
    model = nn.Sequential(nn.Dropout(0.9), linear)
    data = TensorDataset(x, labels)
    model.train()
    expected = trusted(training.evaluate, model, data)
    found, saved = invoke("accuracy(model, dataset)", session().call, accuracy, model, data, saved=True)
    if not isinstance(found, float | int) or abs(float(found) - expected) > 1e-9:
        fail(
            f"accuracy of a model whose eval-mode accuracy is {expected:.3f} should be {expected:.3f}, found "
            f"{found!r}: call model.eval() first (dropout at p=0.9 is still on in training mode)"
        )
    if saved:
        fail(
            "accuracy() should evaluate without gradients (under torch.no_grad()), found "
            f"{len(saved)} tensor(s) saved for backward: the forward passes built an autograd graph"
        )
    if not invoke("model.training after accuracy()", session().modes, model)[0]:
        fail(
            "accuracy() should restore the model's mode, found it left in eval mode "
            "(use model.train(was_training))"
        )


@check(A, "generalization_gap(history) is final train accuracy minus final test accuracy")
def check_generalization_gap(generalization_gap: object, *, seed: int) -> None:
    stats = [
        types.SimpleNamespace(train_accuracy=0.5 + 0.1 * e, test_accuracy=0.45 + 0.05 * e) for e in range(3)
    ]
    history = types.SimpleNamespace(epochs=stats, final=stats[-1])
    found = invoke("generalization_gap(history)", generalization_gap, history)
    expected = 0.7 - 0.55
    if not isinstance(found, float | int) or abs(float(found) - expected) > 1e-9:
        fail(f"with final train accuracy 0.70 and test accuracy 0.55 the gap should be 0.15, found {found!r}")


@check(
    A,
    "mc_predict: mean and std of T independent stochastic passes (dropout on, model in eval)",
    intervals=2,
    builtin_allowed=True,
)
def check_mc_predict_samples(mc_predict: object, *, seed: int) -> None:
    seed_student(seed)
    p, samples, n = 0.5, 64, 2048
    model = nn.Sequential(nn.Dropout(p))
    model.eval()
    x = T.ones((1, n))
    mean, std = _mc(mc_predict, model, x, samples)
    if tuple(T.shape(mean)) != (1, n) or tuple(T.shape(std)) != (1, n):
        fail(
            f"mean and std should have the output's shape (1, {n}), found "
            f"{tuple(T.shape(mean))}, {tuple(T.shape(std))}"
        )
    scale = 1.0 / (1.0 - p)
    keeps = mean.double() * samples / scale  # passes in which each unit was kept
    rounded = keeps.round()
    if not close(keeps, rounded, atol=1e-3):
        fail("the mean should be an average over the passes (k / T times 1 / (1 - p)), found other values")
    frac = rounded / samples
    population = scale * (frac * (1 - frac)).sqrt()
    ok_pop = close(std.double(), population, atol=1e-4)
    ok_sample = close(std.double(), population * (samples / (samples - 1)) ** 0.5, atol=1e-4)
    if not (ok_pop or ok_sample):
        fail("std should be the standard deviation over the passes of each output entry, found other values")
    total = int(T.item(T.sum(rounded)))
    binomial(
        total,
        n * samples,
        1.0 - p,
        f"kept units over {samples} passes x {n} units (is dropout switched on? the model was in eval mode)",
    )
    all_or_none = int(T.item(T.sum((rounded == 0) | (rounded == samples))))
    q = (1 - p) ** samples + p**samples
    accept = interval(n, q)
    if not accept.contains(all_or_none):
        fail(
            f"units kept in every pass or in none: expected at most {accept.high} of {n}, "
            f"found {all_or_none}: "
            "the passes are not independent (one mask reused, or the seed reset in the loop?)"
        )


@check(
    A,
    "mc_predict keeps batch norm (everything but dropout) in eval mode and leaves its statistics alone, "
    "whether the model is handed in in eval or in train mode",
    builtin_allowed=True,
)
def check_mc_predict_only_dropout(mc_predict: object, *, seed: int) -> None:
    seed_student(seed)
    norm = nn.BatchNorm1d(8)
    with T.no_grad():
        norm.running_mean.fill_(3.0)
        norm.running_var.fill_(4.0)
    template = nn.Sequential(norm, nn.Dropout(0.0))
    template.eval()
    x = T.randn((32, 8), generator=gen(seed))
    expected = template(x).detach()
    for start in (False, True):
        model = copy.deepcopy(template)
        model.train(start)
        handed = "train" if start else "eval"
        mean, _ = _mc(mc_predict, model, x, 4)
        if not close(mean, expected, atol=1e-5):
            fail(
                f"with p = 0 every pass should equal model.eval()(x) (model handed in in {handed} mode); "
                "found other values: batch norm ran in training mode (call model.eval(), then switch only "
                "the dropout layers to train())"
            )
        running = expect_tensor(
            invoke("batch norm's running_mean", session().path, model, "0.running_mean"), "the running mean"
        )
        if tuple(T.shape(running)) != (8,) or float(T.item(running[0])) != 3.0:
            fail(
                f"batch norm's running mean should stay 3.0 (model handed in in {handed} mode), found it "
                "changed by mc_predict: only dropout layers may be in training mode"
            )


@check(A, "mc_predict runs its passes without gradients (under torch.no_grad())", builtin_allowed=True)
def check_mc_predict_no_grad(mc_predict: object, *, seed: int) -> None:
    seed_student(seed)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.eval()
    _, saved = invoke(
        "mc_predict(model, x, samples=3)", session().call, mc_predict, model, T.ones((2, 4)), 3, saved=True
    )
    if saved:
        fail(
            "mc_predict should run its passes without gradients (under torch.no_grad()), found "
            f"{len(saved)} tensor(s) saved for backward: every pass built an autograd graph"
        )


@check(A, "mc_predict restores every module's training flag", builtin_allowed=True)
def check_mc_predict_restores_modes(mc_predict: object, *, seed: int) -> None:
    seed_student(seed)
    template = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    for start in (False, True):
        model = copy.deepcopy(template)
        model.train(start)
        before = [m.training for m in model.modules()]
        _mc(mc_predict, model, T.ones((2, 4)), 3)
        after = invoke("the modules' training flags", session().modes, model)
        if before != after:
            fail(f"the training flags should be restored to {before}, found {after} after mc_predict")
