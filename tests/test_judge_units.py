"""The judge's parts in isolation: hostile replies give verdicts (never a crash), the static policy
refuses each listed construct and lets every correct style through, test cells parse into plans.

Everything here is deterministic and in-process (a few seconds).
"""

from __future__ import annotations

import base64
import inspect
import json

import nbformat
import pytest
import torch

from autograder import checks
from autograder.checks import policy
from autograder.checks.core import CheckFailed
from autograder.checks.remote import BadReply, Session, parse_reply
from autograder.grading.course import ASSIGNMENTS, SOLUTIONS
from autograder.grading.judge.plan import PlanError, parse_plan, without_checks_import
from autograder.grading.judge.static import scan_notebook


class Scripted:
    """A transport whose 'kernel' answers every request with the same text."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def request(self, text: str) -> str:
        return self.reply


def _tensor_reply(**fields: object) -> str:
    value = {"__t": "tensor", "ref": "k1", "dtype": "float32", "shape": [2], "device": "cpu", "rg": False}
    value["data"] = base64.b64encode(torch.ones(2).numpy().tobytes()).decode()
    value.update(fields)
    return json.dumps({"ok": True, "value": value, "trace": []})


HOSTILE = {
    "not JSON": "<<<",
    "a list": "[1, 2]",
    "unknown dtype": _tensor_reply(dtype="complex128"),
    "object dtype": _tensor_reply(dtype="object"),
    "bytes do not match the shape": _tensor_reply(shape=[3]),
    "gigantic shape": _tensor_reply(shape=[1 << 20, 1 << 20]),
    "negative shape": _tensor_reply(shape=[-2]),
    "unknown device": _tensor_reply(device="tpu"),
    "values not base64": _tensor_reply(data="@@@@"),
    "no values": _tensor_reply(data=None),
    "unknown tag": json.dumps({"ok": True, "value": {"__t": "pickle", "data": "gASV"}, "trace": []}),
    "deep nesting": json.dumps(
        {"ok": True, "value": json.loads('{"__t": "tuple", "items": [' * 20 + "1" + "]}" * 20), "trace": []}
    ),
    "malformed error": json.dumps({"ok": False, "error": "boom", "trace": []}),
}


@pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_replies_become_verdicts(reply: str) -> None:
    session = Session(Scripted(reply))
    with pytest.raises(BadReply):
        session.call(session.name("dropout_forward"), torch.ones(2))


def test_a_check_given_hostile_replies_fails_with_a_message_and_never_crashes() -> None:
    for reply in [*HOSTILE.values(), None]:
        session = Session(Scripted(reply))  # type: ignore[arg-type]
        with session.active(), pytest.raises(CheckFailed) as caught:
            checks.masks.check_forward_output(session.name("dropout_forward"))
        assert str(caught.value)


def test_nan_in_a_reply_is_data_and_fails_the_dtype_check() -> None:
    def dropout_forward(x, p=0.5, training=True, generator=None):
        return x * float("nan"), (None, 1.0)

    def dropout_backward(grad, cache):
        return grad

    with pytest.raises(CheckFailed, match="finite"):
        checks.masks.check_forward_dtype(dropout_forward, dropout_backward)


def test_a_tensor_subclass_crosses_as_plain_data() -> None:
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105 - would lie to an in-process comparison
            return True

    def dropout_mask(shape, p, generator=None, device=None):
        if not 0 <= p <= 1:
            raise ValueError(p)
        return (torch.rand(shape, generator=generator, device=device) < 1 - p).as_subclass(Sneaky)

    checks.masks.check_mask_edge_cases(dropout_mask)  # correct values pass, as plain tensors
    reply = parse_reply(json.dumps({"ok": True, "value": 1, "trace": []}))
    assert reply["value"] == 1


def test_oversized_reply_is_refused() -> None:
    from autograder.checks import remote

    with pytest.raises(BadReply, match="bytes"):
        parse_reply(" " * (remote.MAX_REPLY_BYTES + 1))


REFUSED = {
    "exec('x = 1')": "exec",
    "eval('1')": "eval",
    "compile('1', 'f', 'eval')": "compile",
    "getattr(torch.nn.functional, 'drop' + 'out')": "getattr",
    "__import__('os')": "__import__",
    "import importlib": "importlib",
    "import inspect": "inspect",
    "import ctypes": "ctypes",
    "import gc": "gc",
    "import sys": "sys",
    "import os": "os",
    "import subprocess": "subprocess",
    "import IPython": "IPython",
    "from IPython import get_ipython": "IPython",
    "import threading": "threading",
    "import builtins": "builtins",
    "torch._C._set_grad_enabled(True)": "_C",
    "torch.ops.aten.native_dropout": "ops",
    "torch._VF.dropout": "_VF",
    "F.dropout(x, 0.5)": "dropout",
    "torch.nn.Dropout(0.5)": "Dropout",
    "torch.dropout(x, 0.5, True)": "dropout",
    "x.bernoulli_(0.5); F.alpha_dropout(x)": "alpha_dropout",
    "F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)": "scaled_dot_product_attention",
    "from autograder.reference import dropout": "autograder",
    "from torch.nn.functional import dropout": "dropout",
    "vars(checks)['x'] = 1": "vars",
    "get_ipython().input_transformers_cleanup.append(f)": "get_ipython",
    "x.__class__.__subclasses__()": "__subclasses__",
    "print(In)": "In",
    # A name the student binds is theirs only where it cannot be the built-in (issue 22): these still are.
    "def f(x):\n    return input('?')\n": "input",
    "input = 1\ndel input\ninput('x')\n": "input",
    "if False:\n    input = 1\nprint(input)\n": "input",
    "def f():\n    global input\n    del input\n": "global",
    "class A:\n    input = 3\n    def m(self):\n        return input\n": "input",
    "input = input\n": "input",
    "def f(e=eval):\n    return e('1')\n": "eval",
    "__builtins__ = {}\n": "__builtins__",
    "class A:\n    __dict__ = 1\n": "__dict__",
}


@pytest.mark.parametrize("code", list(REFUSED), ids=list(REFUSED.values()))
def test_the_static_policy_refuses_each_construct_and_names_it(code: str) -> None:
    findings = policy.scan(code)
    assert findings and any(REFUSED[code] in f for f in findings), findings
    assert all(f.startswith("line ") for f in findings)


CORRECT_STYLES = [
    (
        "class D(nn.Module):\n    def __init__(self, p):\n        super().__init__()\n        self._p = p\n"
        "    def forward(self, x):\n        if not self.training:\n            return x\n"
        "        m = torch.bernoulli(torch.full_like(x, 1 - self._p))\n        return x * m / (1 - self._p)\n"
    ),
    (
        "def f(x, p):\n    keep = torch.rand_like(x) >= p\n"
        "    return torch.where(keep, x / (1 - p), torch.zeros_like(x))\n"
    ),
    "def f(x, p):\n    return x.masked_fill(torch.rand(x.shape, device=x.device) < p, 0.0) / (1 - p)\n",
    (
        "g = torch.Generator(device='cpu').manual_seed(0)\n"
        "m = torch.empty(3, dtype=torch.bool).bernoulli_(0.5, generator=g)\n"
    ),
    "import math\nimport numpy as np\nfrom torch import nn\n"
    "import torch.nn.functional as F\ny = F.linear(x, w)\n",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\n",
    # a student's own plot or demo cell: an image through an in-memory buffer, a progress bar
    "import io, base64, json\nfrom IPython.display import Image, display\nbuffer = io.BytesIO()\n"
    "display(Image(buffer.getvalue()))\nfrom tqdm.auto import tqdm\n",
    "for name in names:\n    w = getattr(module, name)\n"
    "    delattr(module, name)\n    setattr(module, name, w)\n",
    # torch.nn's own style: `input` as an argument, type hints, __constants__, extra_repr (issue 22)
    "class Dropout(nn.Module):\n    __constants__ = ['p']\n    p: float\n"
    "    def __init__(self, p: float = 0.5) -> None:\n        super().__init__()\n        self.p = p\n"
    "    def forward(self, input: torch.Tensor) -> torch.Tensor:\n        if not self.training:\n"
    "            return input\n        return input * (torch.rand_like(input) >= self.p) / (1 - self.p)\n"
    "    def extra_repr(self) -> str:\n        return f'p={self.p}'\n",
    "input = torch.randn(3)\nout = layer(input)\n",
    "class D(nn.Linear):\n    __constants__ = nn.Linear.__constants__ + ['p']\n",
    "f = lambda input: input * 2\n",
    "def outer(input):\n    def inner():\n        return input + 1\n    return inner\n",
    "def f(x):\n    if (n := x.numel()) > 0:\n        return [input for input in range(n)]\n",
]


@pytest.mark.parametrize("code", CORRECT_STYLES)
def test_the_static_policy_lets_correct_styles_through(code: str) -> None:
    assert policy.scan(code) == []


def test_practice_allows_builtin_dropout_but_not_the_reference() -> None:
    assert policy.scan("nn.Dropout(0.5)", builtin_allowed=True) == []
    assert policy.scan("from autograder.reference import mc_predict", builtin_allowed=True)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_a_plan_and_the_solutions_pass_the_static_policy(assignment: str) -> None:
    notebook = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    locked = set()
    module = checks.ASSIGNMENT_MODULES[assignment]
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            locked.add(meta["grade_id"])
        if meta.get("grade") and not meta.get("solution"):
            for planned in parse_plan(cell.source):
                assert hasattr(module, planned.function), planned
        if meta.get("grade_id") == "setup":
            assert "autograder.checks" not in without_checks_import(cell.source)
    findings = scan_notebook(notebook.cells, locked)
    assert not any(findings.strict.values() if assignment != "practice" else findings.lenient.values()), (
        findings
    )


def test_a_test_cell_without_a_check_call_is_a_plan_error() -> None:
    with pytest.raises(PlanError):
        parse_plan("assert 1 == 1")


def test_in_process_checks_keep_no_objects_after_they_end() -> None:
    """The in-process probe's table is emptied after every check, statistical runs included (it used
    to keep every tensor of every run: the self-check's 10,000 seeds grew to tens of gigabytes)."""
    from autograder.probe import executor

    name = next(iter(checks.STATISTICAL_BODIES))
    body = checks.STATISTICAL_BODIES[name]
    module = checks.ASSIGNMENT_MODULES[checks.REGISTRY[name].assignment]
    answers = [module.REFERENCE[p] for p in inspect.signature(body).parameters if p != "seed"]
    for seed in range(3):
        body(*answers, seed=seed)
        assert executor._TABLE == {}, f"{len(executor._TABLE)} objects kept after {name}"
    masks = checks.ASSIGNMENT_MODULES["masks"]
    with pytest.raises(CheckFailed, match="from scratch"):  # a check on plain objects that fails
        masks.check_mask_keep_rate(masks.REFERENCE["dropout_mask"])
    assert executor._TABLE == {}


# -- batched calls (Session.call_each, the probe's "batch" request) ---------------------------------------
BATCH_HOSTILE = {
    "no replies": json.dumps({"ok": True, "value": None, "trace": []}),
    "too few replies": json.dumps({"ok": True, "value": None, "trace": [], "replies": []}),
    "a reply that is not an object": json.dumps(
        {"ok": True, "value": None, "trace": [], "replies": [1, 2, 3]}
    ),
    "a reply with a malformed trace": json.dumps(
        {"ok": True, "value": None, "trace": [], "replies": [{"ok": True, "value": 1, "trace": 5}] * 3}
    ),
    "a hostile value inside": json.dumps(
        {"ok": True, "value": None, "trace": [], "replies": [json.loads(_tensor_reply(shape=[-2]))] * 3}
    ),
}


@pytest.mark.parametrize("reply", list(BATCH_HOSTILE.values()), ids=list(BATCH_HOSTILE))
def test_hostile_batch_replies_become_verdicts(reply: str) -> None:
    session = Session(Scripted(reply))
    with pytest.raises(BadReply):
        session.call_each(session.name("dropout_mask"), [(((4,), 0.5), {})] * 3)


def test_a_batch_runs_its_calls_in_order_with_one_generator_and_splits_past_the_limit() -> None:
    from autograder.checks import remote
    from autograder.checks.remote import InProcess

    class Counting(InProcess):
        requests = 0

        def request(self, request: dict) -> dict:
            Counting.requests += 1
            return super().request(request)

    def dropout_mask(shape, p, generator=None, device=None):
        return torch.rand(shape, generator=generator, device=device) < 1 - p

    session = Session(Counting({"dropout_mask": dropout_mask}))
    g = torch.Generator().manual_seed(5)
    calls = remote.MAX_BATCH + 6
    masks = session.call_each(session.name("dropout_mask"), [(((16,), 0.5), {"generator": g})] * calls)
    expected_g = torch.Generator().manual_seed(5)
    expected = [dropout_mask((16,), 0.5, generator=expected_g) for _ in range(calls)]
    assert Counting.requests == 2  # 64 calls in the first round trip, the other 6 in the second
    assert len(masks) == calls and all(torch.equal(a, b) for a, b in zip(masks, expected, strict=True))


def test_the_first_call_of_a_batch_that_raises_is_the_verdict() -> None:
    from autograder.checks.harness import StudentError, invoke_each

    seen: list[int] = []

    def dropout_mask(shape, p, generator=None, device=None):
        seen.append(len(seen))
        if len(seen) == 3:
            raise RuntimeError("third call broke")
        return torch.ones(shape, dtype=torch.bool)

    from autograder.checks.remote import InProcess

    session = Session(InProcess({"dropout_mask": dropout_mask}))
    with pytest.raises(StudentError, match="third call broke"):
        invoke_each("dropout_mask((4,), p=0.5)", session.name("dropout_mask"), [(((4,), 0.5), {})] * 5)
    assert len(seen) == 5  # the whole batch ran in the kernel; the judge reports the first failure


def test_the_probe_refuses_an_oversized_batch() -> None:
    from autograder.probe import executor

    request = {"op": "batch", "requests": [{"op": "reset"}] * (executor.MAX_BATCH + 1)}
    reply = executor.perform({}, request)
    assert reply["ok"] is False and "at most" in reply["error"]["message"]


def test_the_judge_ends_the_kernel_with_a_terminate_not_a_shutdown_request() -> None:
    """A graceful shutdown request waits for the kernel's exit handlers (about a second per submission);
    the judge terminates the launcher, which kills the sandbox's process tree (tested in test_zygote)."""
    import asyncio

    from autograder.grading.judge.execute import JudgeExecute

    calls: list[str] = []

    class Provisioner:
        async def terminate(self, restart: bool = False) -> None:
            calls.append("terminate")

    class Manager:
        has_kernel = True
        provisioner = Provisioner()

        def is_alive(self) -> bool:
            return "terminate" not in calls

        def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            calls.append(f"shutdown_kernel(now={now})")

        def cleanup_resources(self, restart: bool = False) -> None:
            calls.append("cleanup_resources")

    judge = JudgeExecute()
    judge.km = Manager()
    judge.kc = None
    asyncio.run(judge._async_cleanup_kernel())
    assert calls == ["terminate", "cleanup_resources"]
    judge.km = Manager()
    calls.clear()
    judge._cleanup_kernel()  # the synchronous wrapper nbclient's setup_kernel calls is the judge's too
    assert calls == ["terminate", "cleanup_resources"]


def test_a_request_missing_from_the_message_metadata_is_answered_with_an_error() -> None:
    from autograder.probe import handle_attached

    reply = json.loads(handle_attached({}).text)  # no kernel here: no message to read the request from
    assert reply["ok"] is False and "metadata" in reply["error"]["message"]
    from autograder.checks.remote import StudentRaised

    session = Session(Scripted(handle_attached({}).text))
    with pytest.raises(StudentRaised, match="metadata"):  # a check turns it into a failing verdict
        session.call(session.name("f"))
