"""The probe's operations: perform one judge request on the kernel's objects, answer in plain data.

A request is a JSON object with an ``op``:

==============  ====================================================================================
op              what it does, what it answers
==============  ====================================================================================
``reset``       forget every handle (the judge sends it before each test cell)
``seed``        ``torch.manual_seed(seed)`` (the global generator the answer may use)
``call``        ``target(*args, **kwargs)``; with ``saved`` also the (dtype, size) of every tensor
                autograd saved for backward during the call
``getattr``     ``target.name`` (``default``: answer ``None`` when missing)
``isinstance``  whether ``target`` is a ``torch.nn.Linear`` / ``torch.nn.Parameter`` / ``torch.nn.Module``
``grad``        ``torch.autograd.grad(outputs, inputs, grad_outputs)``
``backward``    ``target.backward(grad)``
``observe``     a tensor's current values and version counter (did the answer modify its input?)
``assign``      copy tensors into a module's parameters (``no_grad``)
``modes``       ``[m.training for m in target.modules()]``
``is_param_of`` whether ``param`` is one of ``target.parameters()``
``path``        a dotted attribute path (``"0.running_mean"``) below ``target``
==============  ====================================================================================

A request with ``"meta_generators": true`` runs with :func:`meta_generators` active: the device checks
of a grader without a GPU send it when the answer failed on the ``meta`` device, so that an answer
creating its own ``torch.Generator(device=x.device)`` can be graded there (see
:mod:`autograder.checks.devices`).

Every answer carries the call-time trace (:mod:`.tracing`) when the request asks for it. A student
exception becomes ``{"ok": false, "error": {...}}``. See :mod:`autograder.probe` for why none of this
needs to be trusted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import types
from typing import Any

import torch

from . import tracing
from .wire import DTYPES, bytes_to_tensor, encode_tensor

#: The MIME type of a probe reply.
MIME = "application/vnd.dropout-course.probe+json"
#: The key of the judge's ``execute_request`` metadata that carries the request (see :func:`handle_attached`).
METADATA_KEY = "dropout-course.probe.request"
_TABLE: dict[str, Any] = {}
_COUNTER = [0]
_MAX_ITEMS = 64


class Reply:
    """A reply the kernel displays as an ``execute_result`` of type :data:`MIME`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {MIME: self.text}

    def __repr__(self) -> str:
        return "<probe reply>"


def _new_ref(obj: Any) -> str:
    _COUNTER[0] += 1
    ref = f"k{_COUNTER[0]}"
    _TABLE[ref] = obj
    return ref


#: The dropout modules a judge-sent model may contain.
_DROPOUT_KINDS = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
)


def _build_module(spec: dict) -> torch.nn.Module:
    kind = spec["kind"]
    if kind == "Sequential":
        module: torch.nn.Module = torch.nn.Sequential(*[_build_module(s) for s in spec["children"]])
    elif kind == "Linear":
        module = torch.nn.Linear(spec["in"], spec["out"], bias=spec["bias"])
    elif kind in _DROPOUT_KINDS:
        module = getattr(torch.nn, kind)(spec["p"])
    elif kind == "BatchNorm1d":
        module = torch.nn.BatchNorm1d(spec["n"])
    else:
        raise ValueError(f"cannot build a module of kind {kind!r}")
    with torch.no_grad():
        for name, value in spec.get("state", {}).items():
            target = module.get_parameter(name) if name in dict(module.named_parameters()) else None
            if target is None:
                target = module.get_buffer(name)
            target.copy_(_decode(value))
    # This module's own flag only: ``train()`` would also reset the children, whose flags may differ.
    module.training = bool(spec.get("training", True))
    return module


def _decode(value: Any, namespace: dict | None = None) -> Any:
    """A judge-sent value as a live object (tensors and generators are kept under their handles)."""
    if isinstance(value, list):
        return [_decode(v, namespace) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("__t")
    if tag == "ref":
        if "name" in value:
            if namespace is None or value["name"] not in namespace:
                raise NameError(f"name {value['name']!r} is not defined in the notebook")
            return namespace[value["name"]]
        return _TABLE[value["ref"]]
    if tag == "tensor":
        dtype = DTYPES[value["dtype"]]
        if value["device"].startswith("meta"):
            tensor = torch.empty(value["shape"], dtype=dtype, device="meta")
        else:
            data = value["data"]
            raw = data if isinstance(data, bytes) else base64.b64decode(data)
            tensor = bytes_to_tensor(raw, dtype, value["shape"]).to(value["device"])
        if value.get("rg"):
            tensor.requires_grad_()
        _TABLE[value["ref"]] = tensor
        return tensor
    if tag == "generator":
        generator = torch.Generator(device=value["device"])
        state = bytes_to_tensor(base64.b64decode(value["state"]), torch.uint8, [-1])
        generator.set_state(state)
        _TABLE[value["ref"]] = generator
        return generator
    if tag == "tuple":
        return tuple(_decode(v, namespace) for v in value["items"])
    if tag == "list":
        return [_decode(v, namespace) for v in value["items"]]
    if tag == "device":
        return torch.device(value["v"])
    if tag == "dtype":
        return DTYPES[value["v"]]
    if tag == "module":
        module = _build_module(value["spec"])
        _TABLE[value["ref"]] = module
        return module
    if tag == "dataset":
        return torch.utils.data.TensorDataset(*[_decode(v, namespace) for v in value["tensors"]])
    if tag == "namespace":
        return types.SimpleNamespace(**{k: _decode(v, namespace) for k, v in value["attrs"].items()})
    if tag == "dict":
        return {k: _decode(v, namespace) for k, v in value["items"].items()}
    raise ValueError(f"unknown value tag {tag!r}")


def _encode(obj: Any, binary: bool) -> Any:
    """A kernel object as a wire value: plain data when it is, a handle otherwise."""
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, torch.Tensor):
        for ref, known in _TABLE.items():
            if known is obj:
                return encode_tensor(obj, ref, binary=binary)
        return encode_tensor(obj, _new_ref(obj), binary=binary)
    if isinstance(obj, tuple | list) and len(obj) <= _MAX_ITEMS:
        wire = {
            "__t": "tuple" if isinstance(obj, tuple) else "list",
            "items": [_encode(v, binary) for v in obj],
        }
        if type(obj) not in (tuple, list):
            # a namedtuple or another subclass: its items travel, and a handle, so that the judge sends
            # the answer's own object back (a namedtuple cache reaches backward as a namedtuple)
            wire["ref"] = _new_ref(obj)
        return wire
    return {"__t": "object", "ref": _new_ref(obj), "type": type(obj).__name__, "callable": callable(obj)}


_KINDS = {"Linear": torch.nn.Linear, "Parameter": torch.nn.Parameter, "Module": torch.nn.Module}


def _path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


_GENERATOR = torch.Generator


class _MetaDrawsOnCPU(_GENERATOR):
    """``torch.Generator`` while :func:`meta_generators` is active: ``device="meta"`` gives a CPU generator.

    PyTorch cannot create a generator on ``meta`` ("META device type not an accelerator"), while its
    random functions on ``meta`` accept a CPU generator (they draw nothing). So with this stand-in an
    answer's ``torch.rand(shape, generator=g, device=x.device)`` makes a ``meta`` mask as it would make a
    CUDA one, while ``torch.rand(shape, generator=g)`` makes a CPU mask, which then fails to mix with the
    ``meta`` input just as a CPU mask fails to mix with a CUDA input (where a CUDA generator even refuses
    to draw on the CPU). Every other device is passed through unchanged; instances are genuine
    ``torch.Generator`` s.
    """

    def __new__(cls, device: Any = "cpu", *args: Any, **kwargs: Any) -> Any:
        try:
            is_meta = torch.device(device).type == "meta"
        except (RuntimeError, TypeError, ValueError):
            is_meta = False
        return _GENERATOR.__new__(cls, "cpu" if is_meta else device, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # the base class took its arguments in __new__
        pass


@contextlib.contextmanager
def meta_generators() -> Any:
    """While active, ``torch.Generator(device="meta")`` gives a CPU generator (:class:`_MetaDrawsOnCPU`)."""
    previous = torch.Generator
    torch.Generator = _MetaDrawsOnCPU  # type: ignore[misc]
    try:
        yield
    finally:
        torch.Generator = previous  # type: ignore[misc]


#: The most requests one batch may hold (the judge splits longer runs of calls).
MAX_BATCH = 64


def _perform(request: dict, namespace: dict, extra: dict) -> Any:
    op = request["op"]

    def arg(key: str) -> Any:
        return _decode(request[key], namespace)

    if op == "reset":
        _TABLE.clear()
        return None
    if op == "seed":
        torch.manual_seed(int(request["seed"]))
        return None
    if op == "call":
        target = arg("target")
        args = _decode(request.get("args", []), namespace)
        kwargs = {k: _decode(v, namespace) for k, v in request.get("kwargs", {}).items()}
        if not request.get("saved"):
            return target(*args, **kwargs)
        saved: list[list[Any]] = []

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            saved.append([str(tensor.dtype).replace("torch.", ""), tensor.numel()])
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            result = target(*args, **kwargs)
        extra["saved"] = saved
        return result
    if op == "getattr":
        target = arg("target")
        if request.get("default"):
            return getattr(target, request["name"], None)
        return getattr(target, request["name"])
    if op == "isinstance":
        return isinstance(arg("target"), _KINDS[request["kind"]])
    if op == "grad":
        return torch.autograd.grad(arg("outputs"), arg("inputs"), arg("grad_outputs"))
    if op == "backward":
        arg("target").backward(arg("grad"))
        return None
    if op == "observe":
        tensor = arg("target")
        extra["version"] = int(tensor._version)
        return tensor.detach().clone()
    if op == "assign":
        target = arg("target")
        with torch.no_grad():
            for name, value in request["tensors"].items():
                getattr(target, name).copy_(_decode(value, namespace))
        return None
    if op == "modes":
        return [bool(m.training) for m in arg("target").modules()]
    if op == "is_param_of":
        param = arg("param")
        return any(p is param for p in arg("target").parameters())
    if op == "path":
        return _path(arg("target"), request["path"])
    raise ValueError(f"unknown probe operation {op!r}")


def perform(namespace: dict, request: Any, *, binary: bool = False) -> dict:
    """Perform one request (a dict) and answer with a reply dict; never raises.

    ``{"op": "batch", "requests": [...]}`` performs up to :data:`MAX_BATCH` requests in order and
    answers them all in one reply (``"replies"``): one round trip to the kernel instead of one each."""
    if isinstance(request, dict) and request.get("op") == "batch":
        items = request.get("requests")
        if not isinstance(items, list) or len(items) > MAX_BATCH:
            message = f"a batch must be a list of at most {MAX_BATCH} requests"
            return {"ok": False, "trace": [], "error": {"type": "ValueError", "message": message}}
        replies = [perform(namespace, item, binary=binary) for item in items if isinstance(item, dict)]
        return {"ok": True, "value": None, "trace": [], "replies": replies}
    extra: dict[str, Any] = {}
    trace: list[str] = []
    try:
        watch_context = (
            tracing.watching(builtin_allowed=bool(request.get("builtin")))
            if request.get("trace")
            else contextlib.nullcontext(None)
        )
        generators = meta_generators() if request.get("meta_generators") else contextlib.nullcontext()
        with watch_context as watch, generators:
            try:
                value = _perform(request, namespace, extra)
            finally:
                if watch is not None:
                    trace = list(watch.found)
        return {"ok": True, "value": _encode(value, binary), "trace": trace, **extra}
    except Exception as error:  # noqa: BLE001 - the student's error is an observation like any other
        return {
            "ok": False,
            "trace": trace,
            "error": {
                "type": type(error).__name__,
                "value_error": isinstance(error, ValueError),
                "message": str(error)[:300],
            },
        }


def respond(namespace: dict, request_text: str) -> str:
    """Perform one request (JSON text) and answer with JSON text; never raises."""
    try:
        request = json.loads(request_text)
    except ValueError as error:
        return json.dumps({"ok": False, "trace": [], "error": {"type": "ValueError", "message": str(error)}})
    return json.dumps(perform(namespace, request))


def handle(namespace: dict, request_text: str) -> Reply:
    """Perform a request given as text (JSON) and answer with a :class:`Reply`."""
    return Reply(respond(namespace, request_text))


def handle_attached(namespace: dict) -> Reply:
    """The kernel-side entry point: the judge's constant one-line request calls this.

    The request itself travels in the ``execute_request`` message's metadata (:data:`METADATA_KEY`), not
    in the code: IPython tokenizes and compiles a cell's code, which costs about 30 ms for a 100 KB
    literal (a request carrying a layer's weights), while the message's metadata is parsed once, with
    the message, as JSON."""
    try:
        import builtins

        shell = builtins.get_ipython()  # IPython puts it there; the probe imports only torch and the stdlib
        text = shell.kernel.get_parent("shell")["metadata"][METADATA_KEY]
        if not isinstance(text, str):
            raise TypeError(f"the request is a {type(text).__name__}, not text")
    except Exception as error:  # noqa: BLE001 - answered like any failed request
        message = f"the request was not found in the message's metadata ({type(error).__name__}: {error})"
        error_fields = {"type": "LookupError", "message": message[:300]}
        return Reply(json.dumps({"ok": False, "trace": [], "error": error_fields}))
    return handle(namespace, text)
