"""Checks for the **practice** assignment: ``accuracy``, ``generalization_gap`` and ``mc_predict``.

The model in this assignment may use ``nn.Dropout`` (implementing dropout was assignments 1-3), so
these checks allow built-in dropout but still refuse the reference's ``mc_predict``.
"""

from __future__ import annotations

import copy
import re
import types

import torch
from torch import nn
from torch.utils.data import TensorDataset

import autograder.reference as reference
from autograder.lab import training

from .common import gen, seed_student
from .core import T, binomial, close, count, expect_tensor, fail, interval
from .devices import on_other_device
from .harness import check, invoke, trusted
from .remote import StudentRaised, session

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


#: Histories as (train accuracy, test accuracy) per epoch, and what a wrong reading of each gives.
#: The first rises monotonically with train above test; the second is not monotone, its best epoch
#: (by train, by test or by gap) is not the last, and it ends with test above train (a negative gap,
#: which ``abs`` or ``test - train`` turn positive).
GAP_HISTORIES = (
    ((0.5, 0.45), (0.6, 0.5), (0.7, 0.55)),
    ((0.6, 0.5), (0.95, 0.8), (0.7, 0.75)),
)


def _threshold_model(d: int) -> nn.Sequential:
    """A linear classifier that says class 1 exactly when x[:, 0] > 0 (a margin of 10 x |x[:, 0]|)."""
    linear = nn.Linear(d, 2)
    with T.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1, 0] = 10.0
    return nn.Sequential(linear)


#: How far an accuracy may be from the exact fraction: a mean taken in float32 is off by up to about
#: 1e-7; the wrong answers these checks catch are off by more than 0.05.
ACCURACY_TOLERANCE = 1e-6


def _is_number(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


@check(
    A,
    "accuracy() counts the correct samples over several batches of unequal size (not a mean of per-batch "
    "accuracies), and leaves a model handed in in eval mode in eval mode",
    builtin_allowed=True,
)
def check_accuracy_batches(accuracy: object, *, seed: int) -> None:
    """Exact. 1,100 samples: batches of 1,024 and 76 by default, four of 256 and one of 76 at
    ``batch_size=256``; the model is right on the first 1,024 samples and wrong on the last 76, so the
    accuracy is 1024/1100 = 0.931 while the mean of per-batch accuracies is 0.5 (0.8 at 256)."""
    seed_student(seed)
    n, d, right = 1100, 8, 1024
    x = T.randn((n, d), generator=gen(seed))
    labels = (x[:, 0] > 0).long()
    labels[right:] = 1 - labels[right:]
    data = TensorDataset(x, labels)
    model = _threshold_model(d)
    model.eval()
    expected = right / n
    for batch_size in (None, 256):
        size = 1024 if batch_size is None else batch_size
        call = (
            "accuracy(model, dataset)"
            if batch_size is None
            else f"accuracy(model, dataset, batch_size={size})"
        )
        extra = {} if batch_size is None else {"batch_size": batch_size}
        found = invoke(call, session().call, accuracy, model, data, **extra)
        if not _is_number(found) or abs(float(found) - expected) > ACCURACY_TOLERANCE:
            batches = [min(size, n - start) for start in range(0, n, size)]
            per_batch = sum(1.0 if start + size <= right else 0.0 for start in range(0, n, size))
            mean_of_batches = per_batch / len(batches)
            fail(
                f"{call} on {n} samples of which the model classifies {right} correctly should be "
                f"{right}/{n} = {expected:.4f} (batches of {', '.join(map(str, batches))}), found {found!r}"
                + (
                    f": the mean of the per-batch accuracies is {mean_of_batches:.4f}; count the correct "
                    "samples over all batches and divide by len(dataset)"
                    if _is_number(found) and abs(float(found) - mean_of_batches) < ACCURACY_TOLERANCE
                    else ""
                )
            )
    if any(invoke("model.training after accuracy()", session().modes, model)):
        fail(
            "accuracy() should leave a model handed in in eval mode in eval mode, found it in training "
            "mode: restore the mode it had (model.train(was_training)), not model.train()"
        )


#: What PyTorch says when a value is asked of a tensor on ``meta`` (which holds no data): the answer's
#: arithmetic all ran on the model's device, only the number cannot be read on a grader without a GPU.
_NO_DATA_ON_META = re.compile(r"(?i)meta tensor|no data|cannot be called on meta")
_DEVICE_MISMATCH = re.compile(r"(?i)expected device|same device|device type")


@check(
    A,
    "accuracy() evaluates on the model's device: batches of a CPU dataset go to the model's device "
    "(a model on CUDA, or on the meta device without a GPU)",
    builtin_allowed=True,
)
def check_accuracy_device(accuracy: object, *, seed: int) -> None:
    """Exact. With a GPU the model is on CUDA and the accuracy must equal the CPU's. Without one the
    model is on ``meta``: a batch left on the CPU (images or labels) raises PyTorch's device mismatch,
    as on CUDA, while an answer that moved both gets as far as reading the count, which ``meta`` cannot
    give ("Tensor.item() cannot be called on meta tensors"); that is the grader's limit, not the
    answer's, and passes."""
    seed_student(seed)
    n, d = 96, 8
    x = T.randn((n, d), generator=gen(seed))
    labels = (x[:, 0] > 0).long()
    labels[::3] = 1 - labels[::3]
    data = TensorDataset(x, labels)
    template = _threshold_model(d)
    template.eval()
    expected = trusted(training.evaluate, template, data)

    def attempt(device: torch.device, values: bool) -> None:
        model = copy.deepcopy(template)
        invoke(f"model.to({str(device)!r})", session().call, session().getattr(model, "to"), device)
        call = f"accuracy(model on {device}, dataset on the CPU)"
        try:
            found = session().call(accuracy, model, data)
        except StudentRaised as error:
            message = str(error)
            if not values and _NO_DATA_ON_META.search(message) and not _DEVICE_MISMATCH.search(message):
                return
            fail(
                f"{call} should move each batch (images and labels) to the model's device "
                f"(next(model.parameters()).device), found it raised {message[:300]}"
            )
        if values and (not _is_number(found) or abs(float(found) - expected) > ACCURACY_TOLERANCE):
            fail(f"{call} should be {expected:.4f}, as on the CPU, found {found!r}")

    on_other_device(attempt)


@check(A, "generalization_gap(history) is final train accuracy minus final test accuracy")
def check_generalization_gap(generalization_gap: object, *, seed: int) -> None:
    for epochs in GAP_HISTORIES:
        stats = [types.SimpleNamespace(train_accuracy=tr, test_accuracy=te) for tr, te in epochs]
        history = types.SimpleNamespace(epochs=stats, final=stats[-1])
        found = invoke("generalization_gap(history)", generalization_gap, history)
        train, test = epochs[-1]
        expected = train - test
        if not isinstance(found, float | int) or abs(float(found) - expected) > 1e-9:
            shown = ", ".join(f"({tr}, {te})" for tr, te in epochs)
            fail(
                f"for the history (train, test) per epoch = {shown} the gap should be the final epoch's "
                f"train minus test accuracy, {train} - {test} = {expected:.2f} (negative when test is above "
                f"train: no abs, not the best epoch), found {found!r}"
            )


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


def _mixed_modes() -> nn.Sequential:
    """Nested Sequentials whose modules are in mixed modes (flags, in ``modules()`` order: the top
    False, then True, False, True, False, True, False): restoring only the top module's flag, with
    ``model.train(was_training)``, sets them all alike."""
    model = nn.Sequential(
        nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)), nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.2))
    )
    model.eval()
    model[0].training = True
    model[0][1].training = True
    model[1][0].training = True
    return model


@check(
    A,
    "mc_predict restores every module's training flag, nested modules in mixed modes too",
    builtin_allowed=True,
)
def check_mc_predict_restores_modes(mc_predict: object, *, seed: int) -> None:
    seed_student(seed)
    template = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    models = []
    for start in (False, True):
        model = copy.deepcopy(template)
        model.train(start)
        models.append((model, f"handed in in {'train' if start else 'eval'} mode"))
    models.append((_mixed_modes(), "nested, its modules in mixed modes"))
    for model, how in models:
        before = [m.training for m in model.modules()]
        _mc(mc_predict, model, T.ones((2, 4)), 3)
        after = invoke("the modules' training flags", session().modes, model)
        if before != after:
            fail(
                f"the training flags of every module (model {how}) should be restored to {before}, found "
                f"{after} after mc_predict: record each module's flag before and set each back"
            )


#: Every dropout module of ``torch.nn`` but ``nn.Dropout``, with an input it accepts (2 samples; 16
#: channels where it drops whole channels).
DROPOUT_TYPES = (
    ("Dropout1d", (2, 16, 4)),
    ("Dropout2d", (2, 16, 2, 2)),
    ("Dropout3d", (2, 16, 1, 2, 2)),
    ("AlphaDropout", (2, 64)),
    ("FeatureAlphaDropout", (2, 16, 4)),
)


@check(
    A,
    "mc_predict switches on every dropout module (Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout) "
    "and restores it",
    builtin_allowed=True,
)
def check_mc_predict_dropout_types(mc_predict: object, *, seed: int) -> None:
    """Exact in effect: with dropout on at p = 0.5, a channel (or unit) has std 0 over 8 passes only if
    all 8 agree, probability 2**-7, and each model has at least 32 independent channels, so a correct
    answer sees std 0 everywhere with probability below 5 x 2**-224."""
    seed_student(seed)
    samples = 8
    for kind, shape in DROPOUT_TYPES:
        model = nn.Sequential(getattr(nn, kind)(0.5))
        model.eval()
        mean, std = _mc(mc_predict, model, T.ones(shape), samples)
        if tuple(T.shape(mean)) != shape or tuple(T.shape(std)) != shape:
            fail(
                f"with nn.{kind}, mean and std should have the output's shape {shape}, found "
                f"{tuple(T.shape(mean))}, {tuple(T.shape(std))}"
            )
        if count(T.ne(std, 0)) == 0:
            fail(
                f"with an nn.{kind}(0.5) in the model the {samples} passes should differ (std > 0 "
                f"somewhere), found std 0 everywhere: the {kind} layer stayed in evaluation mode. The "
                "dropout layers are every instance of nn.modules.dropout._DropoutNd, not only nn.Dropout"
            )
        after = invoke("the modules' training flags", session().modes, model)
        if any(after):
            fail(f"with nn.{kind}, the training flags should be restored to [False, False], found {after}")
