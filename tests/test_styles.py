"""Correct answers in other styles score full marks, and an answer's own generator is graded fairly.

Every style of :mod:`autograder.grading.styles` runs through every check of its assignment in this
process (as the catalogue's entries do in ``test_checks.py``) and must pass all of them. The device
checks are tested both ways: on the data-less ``meta`` device (what a grader without a GPU uses) and, on
a machine with CUDA, on the GPU, with a correct own-generator answer passing and an answer whose mask is
made on the CPU failing.
"""

from __future__ import annotations

import pytest
import torch

from autograder import checks
from autograder.checks import devices
from autograder.grading.autograde import answer_namespace, check_matrix, solution_code
from autograder.grading.catalogue import WrongAnswer
from autograder.grading.course import ASSIGNMENTS
from autograder.grading.styles import HERE, STYLES, styles

DEVICE_CHECKS = (
    "masks.check_mask_device",
    "masks.check_forward_device",
    "autograd.check_module_device",
    "weights.check_dropconnect_dtype_device",
    "weights.check_weight_dropout_device",
)


def test_the_suite_has_fifteen_styles_in_every_assignment() -> None:
    assert len(STYLES) >= 15
    assert {style.assignment for style in STYLES} == set(ASSIGNMENTS)
    assert len(sorted(HERE.glob("*/*.py"))) == len(STYLES)
    for style in STYLES:
        assert style.mistake and style.cells and not style.tampers, style.name
        assert set(style.cells) <= set(solution_code(style.assignment)), style.name


def test_the_suite_covers_the_styles_the_issue_names() -> None:
    text = "\n".join(code for style in STYLES for code in style.cells.values())
    for idiom in (
        "torch.bernoulli", "masked_fill", "torch.where", "torch.Generator(device=", "torch.float64",
        ".clone()", "inference_mode", "var_mean", ".uniform_(", "namedtuple", "@dataclass",
        "super(Dropout, self)", "nn.Module.__init__(self)", "self._p",
    ):  # fmt: skip
        assert idiom in text, f"no style uses {idiom}"


@pytest.mark.parametrize("style", STYLES, ids=[f"{s.assignment}:{s.name}" for s in STYLES])
def test_a_correct_style_passes_every_check(style: WrongAnswer) -> None:
    verdicts = check_matrix(style.assignment, style)
    assert verdicts, "no check ran"
    failures = {name: message for name, message in verdicts.items() if message}
    assert not failures, f"{style.name} ({style.mistake}) lost points:\n" + "\n".join(
        f"{name}: {message}" for name, message in failures.items()
    )


OWN_GENERATOR = [s for s in STYLES if "torch.Generator(device=" in "".join(s.cells.values())]

#: An answer with its own generator on x's device that still draws its mask on the CPU.
CPU_MASK_OWN_GENERATOR = {
    "masks": {
        "dropout_mask": (
            "def dropout_mask(shape, p, generator=None, device=None):\n"
            "    if not 0 <= p <= 1:\n"
            "        raise ValueError('p')\n"
            "    g = generator if generator is not None else torch.Generator(device=device or 'cpu')\n"
            "    return torch.rand(shape, generator=g if generator is not None else None) < 1 - p\n"
        ),
    },
    "autograd": {
        "dropout_module": (
            "class Dropout(nn.Module):\n"
            "    def __init__(self, p=0.5):\n"
            "        super().__init__()\n"
            "        if not 0 <= p <= 1:\n"
            "            raise ValueError('p')\n"
            "        self.p = p\n"
            "    def forward(self, x):\n"
            "        if not self.training or self.p == 0:\n"
            "            return x\n"
            "        if self.p == 1:\n"
            "            return x * 0.0\n"
            "        g = torch.Generator(device=x.device)\n"
            "        mask = torch.rand(x.shape, generator=g) < 1 - self.p\n"
            "        return x * mask / (1 - self.p)\n"
        ),
    },
    "weights": {
        "dropconnect": (
            "class DropConnectLinear(nn.Linear):\n"
            "    def __init__(self, in_features, out_features, p=0.5, bias=True):\n"
            "        super().__init__(in_features, out_features, bias=bias)\n"
            "        if not 0 <= p <= 1:\n"
            "            raise ValueError('p')\n"
            "        self.p = p\n"
            "    def forward(self, x):\n"
            "        w = self.weight\n"
            "        if self.training and self.p == 1:\n"
            "            w = w * 0.0\n"
            "        elif self.training and self.p > 0:\n"
            "            g = torch.Generator(device=w.device)\n"
            "            g.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))\n"
            "            w = w * (torch.rand(w.shape, generator=g) < 1 - self.p) / (1 - self.p)\n"
            "        return F.linear(x, w, self.bias)\n"
        ),
    },
}


def _cpu_mask_answer(assignment: str) -> WrongAnswer:
    return WrongAnswer(
        f"cpu_mask_own_generator_{assignment}",
        assignment,
        "own generator on x's device, mask drawn on the CPU",
        CPU_MASK_OWN_GENERATOR[assignment],
    )


def _device_verdicts(answer: WrongAnswer) -> dict[str, str | None]:
    namespace = answer_namespace(answer.assignment, answer)
    module = checks.ASSIGNMENT_MODULES[answer.assignment]
    verdicts = {}
    for name in DEVICE_CHECKS:
        if not name.startswith(answer.assignment + "."):
            continue
        function = getattr(module, name.split(".", 1)[1])
        part = checks.REGISTRY[name].part
        if not any(f" {part}(" in code for code in answer.cells.values()):
            continue  # the part keeps the solution's code
        try:
            function(namespace[part])
            verdicts[name] = None
        except AssertionError as error:
            verdicts[name] = str(error)
    return verdicts


def test_own_generator_styles_exist_for_every_assignment_with_a_device_check() -> None:
    assert {s.assignment for s in OWN_GENERATOR} >= {"masks", "autograd", "weights"}


def test_a_generator_on_meta_is_refused_by_pytorch_and_recognised() -> None:
    """The premise: without the stand-in, PyTorch refuses, and the refusal is recognised as such."""
    with pytest.raises(RuntimeError) as error:
        torch.Generator(device="meta")
    assert devices.generator_on_meta_failed(str(error.value))
    assert devices.generator_on_meta_failed("Device type META is not supported for torch.Generator() api.")
    assert not devices.generator_on_meta_failed("Tensor on device cpu is not on the expected device meta!")


@pytest.fixture
def without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_cuda_available", lambda: False)


@pytest.mark.parametrize("style", OWN_GENERATOR, ids=[s.name for s in OWN_GENERATOR])
def test_own_generator_passes_the_device_checks_without_a_gpu(style: WrongAnswer, without_gpu: None) -> None:
    verdicts = _device_verdicts(style)
    assert verdicts and not any(verdicts.values()), verdicts


@pytest.mark.parametrize("style", OWN_GENERATOR, ids=[s.name for s in OWN_GENERATOR])
def test_without_the_fallback_own_generator_would_lose_points(
    style: WrongAnswer, without_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug the fallback fixes, reproduced: on ``meta`` alone, every own-generator style fails."""
    monkeypatch.setattr(devices, "generator_on_meta_failed", lambda message: False)
    verdicts = _device_verdicts(style)
    assert verdicts and all(verdicts.values()), verdicts
    assert all("accelerator" in m or "Generator" in m for m in verdicts.values()), verdicts


@pytest.mark.parametrize("assignment", sorted(CPU_MASK_OWN_GENERATOR))
def test_a_cpu_mask_with_own_generator_fails_without_a_gpu(assignment: str, without_gpu: None) -> None:
    verdicts = _device_verdicts(_cpu_mask_answer(assignment))
    assert verdicts and all(verdicts.values()), verdicts
    for message in verdicts.values():
        assert "meta" in message and not devices.generator_on_meta_failed(message.split("]", 1)[-1]), message


def test_the_stand_in_is_active_only_inside_the_fallback(without_gpu: None) -> None:
    from autograder.probe import executor

    original = torch.Generator
    with executor.meta_generators():
        made = torch.Generator(device="meta")
        assert isinstance(made, original) and made.device.type == "cpu"
        assert torch.Generator(device="cpu").device.type == "cpu"
    assert torch.Generator is original


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("assignment", sorted(CPU_MASK_OWN_GENERATOR))
def test_own_generator_on_a_gpu(assignment: str) -> None:
    """With a GPU the device checks use CUDA: the correct styles pass, the CPU masks fail."""
    for style in [s for s in OWN_GENERATOR if s.assignment == assignment]:
        verdicts = _device_verdicts(style)
        assert verdicts and not any(verdicts.values()), verdicts
    verdicts = _device_verdicts(_cpu_mask_answer(assignment))
    assert verdicts and all(verdicts.values()), verdicts


def test_styles_of_one_assignment() -> None:
    assert styles("practice") and all(s.assignment == "practice" for s in styles("practice"))


def test_selfcheck_reports_the_styles(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import autograder.grading.styles as styles_module
    from autograder.grading.catalogue import entry
    from autograder.grading.selfcheck import MatrixResult, SelfcheckReport, run_styles

    chosen = (styles("masks")[0], styles("practice")[0])
    monkeypatch.setattr(styles_module, "STYLES", chosen)
    found = run_styles()
    assert found == {"total": 2, "full_marks": 2, "failures": {}}
    assert "correct styles: 2 of 2 full marks" in capsys.readouterr().out
    report = SelfcheckReport(matrix=MatrixResult({"c": ["e"]}, {}, {"masks": 1e-9}, found))
    assert report.ok and report.to_json()["matrix"]["correct_styles"]["full_marks"] == 2

    wrong = entry("mc_not_restored")  # a wrong answer posing as a style must be reported
    monkeypatch.setattr(styles_module, "STYLES", (*chosen, wrong))
    found = run_styles()
    assert found["total"] == 3 and found["full_marks"] == 2
    assert list(found["failures"]) == ["practice:mc_not_restored"]
    assert "correct styles: 2 of 3 full marks" in capsys.readouterr().out
    assert not SelfcheckReport(matrix=MatrixResult({"c": ["e"]}, {}, {"masks": 1e-9}, found)).ok


class _JsonTransport:
    """The probe reached through JSON text, as the judge reaches a kernel (no binary shortcut)."""

    binary = False

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace

    def request(self, request: dict) -> str:
        import json

        from autograder.probe import executor

        return executor.respond(self.namespace, json.dumps(request))


def test_a_namedtuple_cache_reaches_backward_as_itself_through_json() -> None:
    """The bug the namedtuple style exposed: the cache came back to backward as a plain tuple."""
    from autograder.checks.remote import Session

    style = next(s for s in STYLES if s.name == "own_generator_where_namedtuple")
    namespace = answer_namespace("masks", style)
    judge = Session(_JsonTransport(namespace))
    with judge.active():
        forward, backward = judge.name("dropout_forward"), judge.name("dropout_backward")
        checks.masks.check_backward_same_mask(forward, backward)
        checks.masks.check_backward_identity_cache(forward, backward)
        _, cache = forward(torch.ones(4), 0.5)
        assert type(cache).__name__ == "tuple"  # the judge sees the items ...
        assert judge.getattr(cache, "_fields") == ("keep", "scale")  # ... and the answer keeps its namedtuple
