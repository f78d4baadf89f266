"""The judge's view of a student's answer: handles on objects that live where the student's code runs.

A check never holds a student object. It holds a :class:`Handle` and works through the current
:class:`Session`: calling a handle, reading one of its attributes, running backward or asking what a
call saved for backward each become one request to the probe (:mod:`autograder.probe`), carried by
a :class:`Transport`:

* :class:`InProcess` runs the probe in this process on objects passed in (a student's own run of a
  visible test, the test suite, the self-check). The request and the reply still go through JSON,
  so a check sees exactly what it would see from a kernel.
* the judge's kernel transport (:mod:`autograder.grading.judge.kernel`) sends each request to the
  student's kernel while grading.

Replies are hostile input: :func:`decode` accepts only the documented shapes (:mod:`autograder.probe.wire`),
known dtypes and devices, bounded sizes and depth, and turns anything else into :class:`BadReply`, which
the harness reports as a failed check. Tensors arrive as fresh CPU (or ``meta``/CUDA) tensors of the
stated dtype, never as the student's objects; the session remembers which kernel handle each came
from, so it can be sent back (a cache passed to backward, an output to differentiate).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, Protocol

import torch
from torch.utils.data import TensorDataset

from autograder.probe import executor
from autograder.probe.wire import DTYPE_NAMES, DTYPES, bytes_to_tensor, encode_tensor

from .core import CheckFailed

#: Bounds on one reply: elements per tensor, bytes of JSON text, nesting depth, items per container.
MAX_ELEMENTS = 1 << 24
MAX_REPLY_BYTES = 256 << 20
MAX_DEPTH = 8
MAX_ITEMS = 64
MAX_BATCH = executor.MAX_BATCH  # calls per round trip in Session.call_each
#: The dropout modules a judge-sent model may contain (built by the probe from their names).
DROPOUT_KINDS = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")


class BadReply(CheckFailed):
    """The student's process answered something the judge does not accept."""


class StudentRaised(Exception):
    """The student's code raised: its type name and message, as reported."""


class StudentValueError(StudentRaised, ValueError):
    """The student's code raised a ValueError (the checks of invalid p expect one)."""


class Transport(Protocol):
    #: True when requests and replies are dicts with raw bytes (no JSON, no base64 in between)
    binary: bool

    def request(self, request: dict) -> Any:
        """Send one request to the probe and return its reply (JSON text, or a dict when binary)."""
        ...


class InProcess:
    """The probe in this process, on the objects of ``namespace`` (name -> object).

    Requests and replies stay dicts with tensor values as raw bytes (JSON and base64 would only cost
    time here); the reply is still checked value by value as a kernel's would be."""

    binary = True

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def request(self, request: dict) -> dict:
        return executor.perform(self.namespace, request, binary=True)


class Handle:
    """A student object that stays where it lives: call it, read an attribute, pass it back."""

    def __init__(self, session: Session, wire: dict, label: str) -> None:
        self._session = session
        self._wire = wire
        self.__name__ = label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._session.getattr(self, name)

    def __repr__(self) -> str:
        return f"<{self.__name__} in the student's process>"


_SESSION: ContextVar[Session | None] = ContextVar("autograder_checks_session", default=None)


def session() -> Session:
    """The session of the check now running."""
    current = _SESSION.get()
    if current is None:
        raise RuntimeError("no grading session: call checks through autograder.checks")
    return current


class Session:
    """One check's conversation with the probe: handles, the tensors it sent, the trace it got."""

    def __init__(self, transport: Transport, *, trace: bool = True, builtin_allowed: bool = False) -> None:
        self.transport = transport
        self.trace = trace
        self.binary = bool(getattr(transport, "binary", False))
        self.builtin_allowed = builtin_allowed
        self.found: list[str] = []
        #: ask the probe to run calls with ``torch.Generator(device="meta")`` allowed (see .devices)
        self.meta_generators = False
        self._sent: dict[int, tuple[Any, str]] = {}  # id(judge object) -> (object kept alive, handle)
        self._counter = 0

    @contextmanager
    def active(self) -> Iterator[Session]:
        token = _SESSION.set(self)
        try:
            yield self
        finally:
            _SESSION.reset(token)

    @contextmanager
    def generators_on_meta(self) -> Iterator[Session]:
        """Requests sent inside the block let the answer create ``torch.Generator(device="meta")``."""
        previous, self.meta_generators = self.meta_generators, True
        try:
            yield self
        finally:
            self.meta_generators = previous

    # -- requests -----------------------------------------------------------------------------
    def _request(self, op: str, **fields: Any) -> dict:
        request = {"op": op, "trace": self.trace, "builtin": self.builtin_allowed, **fields}
        if self.meta_generators:
            request["meta_generators"] = True
        return request

    def _ask(self, op: str, **fields: Any) -> tuple[Any, dict]:
        return self._answer(parse_reply(self.transport.request(self._request(op, **fields))))

    def _answer(self, reply: dict) -> tuple[Any, dict]:
        self.found += [str(reason)[:200] for reason in reply.get("trace", [])[:20]]
        if not reply.get("ok"):
            error = reply.get("error")
            if not isinstance(error, dict):
                raise BadReply("the student's process answered with a malformed error")
            kind = StudentValueError if error.get("value_error") is True else StudentRaised
            raise kind(f"{str(error.get('type', 'Error'))[:60]}: {str(error.get('message', ''))[:300]}")
        return self.decode(reply.get("value"), 0), reply

    def name(self, name: str) -> Handle:
        """A handle on the global ``name`` of the student's notebook."""
        return Handle(self, {"__t": "ref", "name": name}, name)

    def reset(self) -> None:
        self._ask("reset")

    def manual_seed(self, seed: int) -> None:
        """Seed the global generator of the student's process."""
        self._ask("seed", seed=int(seed))

    def call(self, target: Handle, *args: Any, saved: bool = False, **kwargs: Any) -> Any:
        value, reply = self._ask(
            "call",
            target=self.encode(target),
            args=[self.encode(a) for a in args],
            kwargs={k: self.encode(v) for k, v in kwargs.items()},
            saved=saved,
        )
        if saved:
            return value, _saved_list(reply.get("saved"))
        return value

    def call_each(self, target: Handle, calls: Sequence[tuple[tuple, dict]]) -> list[Any]:
        """``target(*args, **kwargs)`` for each ``(args, kwargs)`` in order, :data:`MAX_BATCH` calls per
        round trip; the results in order. The first call that raised raises, as :meth:`call` would."""
        results: list[Any] = []
        for start in range(0, len(calls), MAX_BATCH):
            chunk = calls[start : start + MAX_BATCH]
            requests = [
                self._request(
                    "call", target=self.encode(target), args=[self.encode(a) for a in args],
                    kwargs={k: self.encode(v) for k, v in kwargs.items()}, saved=False,
                )  # fmt: skip
                for args, kwargs in chunk
            ]
            reply = parse_reply(self.transport.request({"op": "batch", "requests": requests}))
            replies = reply.get("replies")
            if not isinstance(replies, list) or len(replies) != len(chunk):
                raise BadReply("the student's process answered a batch with the wrong number of replies")
            for item in replies:
                if not isinstance(item, dict) or not isinstance(item.get("trace", []), list):
                    raise BadReply("the student's process sent a malformed reply in a batch")
                results.append(self._answer(item)[0])
        return results

    def getattr(self, target: Any, name: str, *, default: bool = False) -> Any:
        return self._ask("getattr", target=self.encode(target), name=name, default=default)[0]

    def isinstance(self, target: Any, kind: str) -> bool:
        return self._ask("isinstance", target=self.encode(target), kind=kind)[0] is True

    def grad(self, outputs: Any, inputs: Any, grad_outputs: Any) -> Any:
        return self._ask(
            "grad",
            outputs=self.encode(outputs),
            inputs=self.encode(inputs),
            grad_outputs=self.encode(grad_outputs),
        )[0]

    def backward(self, tensor: Any, grad: Any) -> None:
        self._ask("backward", target=self.encode(tensor), grad=self.encode(grad))

    def observe(self, tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The values and version counter the student's copy of ``tensor`` has now."""
        value, reply = self._ask("observe", target=self.encode(tensor))
        version = reply.get("version")
        if not isinstance(value, torch.Tensor) or not isinstance(version, int) or isinstance(version, bool):
            raise BadReply("the student's process answered an observation of an input with no tensor")
        return value, version

    def assign(self, target: Any, tensors: dict[str, torch.Tensor]) -> None:
        self._ask(
            "assign", target=self.encode(target), tensors={k: self.encode(v) for k, v in tensors.items()}
        )

    def modes(self, target: Any) -> list[bool]:
        value = self._ask("modes", target=self.encode(target))[0]
        if not isinstance(value, list) or not all(isinstance(v, bool) for v in value):
            raise BadReply("the student's process answered the modules' modes with something else")
        return value

    def is_param_of(self, target: Any, param: Any) -> bool:
        return self._ask("is_param_of", target=self.encode(target), param=self.encode(param))[0] is True

    def path(self, target: Any, path: str) -> Any:
        return self._ask("path", target=self.encode(target), path=path)[0]

    def requires_grad(self, tensor: torch.Tensor) -> bool:
        """Whether the student's copy of ``tensor`` requires grad (as reported)."""
        return bool(getattr(tensor, "_remote_rg", False))

    # -- encoding what the judge sends --------------------------------------------------------
    def _ref(self, obj: Any) -> str | None:
        known = self._sent.get(id(obj))
        return known[1] if known is not None and known[0] is obj else None

    def _remember(self, obj: Any) -> str:
        self._counter += 1
        ref = f"j{self._counter}"
        self._sent[id(obj)] = (obj, ref)
        return ref

    def encode(self, obj: Any) -> Any:
        if isinstance(obj, Handle):
            return obj._wire
        ref = self._ref(obj)
        if ref is not None:
            return {"__t": "ref", "ref": ref}
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        if isinstance(obj, torch.Tensor):
            wire = encode_tensor(obj, "", binary=self.binary)
            wire["ref"] = self._remember(obj)
            return wire
        if isinstance(obj, torch.Generator):
            state = base64.b64encode(obj.get_state().numpy().tobytes()).decode("ascii")
            return {"__t": "generator", "ref": self._remember(obj), "device": str(obj.device), "state": state}
        if isinstance(obj, tuple | list):
            return {
                "__t": "tuple" if isinstance(obj, tuple) else "list",
                "items": [self.encode(v) for v in obj],
            }
        if isinstance(obj, torch.device):
            return {"__t": "device", "v": str(obj)}
        if isinstance(obj, torch.dtype):
            return {"__t": "dtype", "v": DTYPE_NAMES[obj]}
        if isinstance(obj, torch.nn.Module):
            spec = self._module_spec(obj)
            return {"__t": "module", "ref": self._remember(obj), "spec": spec}
        if isinstance(obj, TensorDataset):
            return {"__t": "dataset", "tensors": [self.encode(t) for t in obj.tensors]}
        if isinstance(obj, SimpleNamespace):
            return {"__t": "namespace", "attrs": {k: self.encode(v) for k, v in vars(obj).items()}}
        if isinstance(obj, dict):
            return {"__t": "dict", "items": {str(k): self.encode(v) for k, v in obj.items()}}
        raise TypeError(f"the judge cannot send a {type(obj).__name__}")

    def _module_spec(self, module: torch.nn.Module) -> dict:
        state = {
            name: encode_tensor(value.detach(), f"s{id(value)}", binary=self.binary)
            for name, value in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
            if value is not None
        }
        base = {"state": state, "training": module.training}
        if isinstance(module, torch.nn.Sequential):
            return {"kind": "Sequential", "children": [self._module_spec(m) for m in module], **base}
        if isinstance(module, torch.nn.Linear):
            return {"kind": "Linear", "in": module.in_features, "out": module.out_features,
                    "bias": module.bias is not None, **base}  # fmt: skip
        kind = type(module).__name__
        if kind in DROPOUT_KINDS and type(module) is getattr(torch.nn, kind):
            return {"kind": kind, "p": module.p, **base}
        if isinstance(module, torch.nn.BatchNorm1d):
            return {"kind": "BatchNorm1d", "n": module.num_features, **base}
        raise TypeError(f"the judge cannot send a {type(module).__name__}")

    # -- decoding what the student's process answers (hostile) --------------------------------
    def decode(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise BadReply("the student's process answered a value nested too deeply")
        if value is None or isinstance(value, bool | int | str):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
                raise BadReply("the student's process answered an integer out of range")
            return value if not isinstance(value, str) else value[:10_000]
        if isinstance(value, float):
            return value
        if not isinstance(value, dict):
            raise BadReply(f"the student's process answered a bare {type(value).__name__}")
        tag = value.get("__t")
        if tag == "tensor":
            return self._decode_tensor(value)
        if tag in ("tuple", "list"):
            items = value.get("items")
            if not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise BadReply(f"the student's process answered a malformed {tag}")
            decoded = [self.decode(v, depth + 1) for v in items]
            result = tuple(decoded) if tag == "tuple" else decoded
            ref = value.get("ref")
            if ref is not None:  # a subclass (a namedtuple): sending it back sends the answer's object
                if not isinstance(ref, str) or len(ref) > 40:
                    raise BadReply(f"the student's process answered a malformed {tag} handle")
                self._sent[id(result)] = (result, ref)
            return result
        if tag == "object":
            ref, kind = value.get("ref"), value.get("type")
            if not isinstance(ref, str) or not isinstance(kind, str) or len(ref) > 40:
                raise BadReply("the student's process answered a malformed object handle")
            return Handle(self, {"__t": "ref", "ref": ref}, kind[:60])
        raise BadReply(f"the student's process answered an unknown kind of value ({str(tag)[:40]!r})")

    def _decode_tensor(self, value: dict) -> torch.Tensor:
        dtype = DTYPES.get(value.get("dtype"))  # type: ignore[arg-type]
        if dtype is None:
            raise BadReply(
                f"the student's process answered a tensor of unknown dtype {str(value.get('dtype'))[:40]!r}"
            )
        shape = value.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ELEMENTS for n in shape
            )
        ):
            raise BadReply("the student's process answered a tensor with a malformed shape")
        numel = math.prod(shape)
        if numel > MAX_ELEMENTS:
            raise BadReply(
                f"the student's process answered a tensor of {numel:,} elements (limit {MAX_ELEMENTS:,})"
            )
        device = value.get("device")
        ref = value.get("ref")
        if not isinstance(device, str) or not isinstance(ref, str) or len(ref) > 40:
            raise BadReply("the student's process answered a tensor without a device")
        try:
            parsed = torch.device(device)
        except (RuntimeError, ValueError):
            raise BadReply(
                f"the student's process answered a tensor on an unknown device {device[:40]!r}"
            ) from None
        if parsed.type == "meta":
            tensor = torch.empty(shape, dtype=dtype, device="meta")
        elif parsed.type in ("cpu", "cuda"):
            data = value.get("data")
            if self.binary and isinstance(data, bytes):
                raw = data
            elif isinstance(data, str):
                try:
                    raw = base64.b64decode(data, validate=True)
                except ValueError:
                    raise BadReply(
                        "the student's process answered a tensor whose values are not base64"
                    ) from None
            else:
                raise BadReply("the student's process answered a tensor without its values")
            itemsize = torch.empty((), dtype=dtype).element_size()
            if len(raw) != numel * itemsize:
                raise BadReply(
                    f"the student's process answered a tensor of shape {tuple(shape)} with {len(raw)} bytes "
                    f"(expected {numel * itemsize})"
                )
            tensor = bytes_to_tensor(raw, dtype, shape)
            if parsed.type == "cuda":
                if not torch.cuda.is_available():
                    raise BadReply("the student's process answered a CUDA tensor where there is no GPU")
                tensor = tensor.to(parsed)
        else:
            raise BadReply(
                f"the student's process answered a tensor on an unsupported device {device[:40]!r}"
            )
        tensor._remote_rg = value.get("rg") is True  # type: ignore[attr-defined]
        self._sent[id(tensor)] = (tensor, ref)
        return tensor


def _saved_list(value: Any) -> list[tuple[str, int]]:
    if not isinstance(value, list) or len(value) > 1000:
        raise BadReply("the student's process answered no list of saved tensors")
    saved = []
    for item in value:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
        ):
            raise BadReply("the student's process answered a malformed saved-tensor entry")
        saved.append((item[0][:40], item[1]))
    return saved


def parse_reply(text: Any) -> dict:
    """A reply (JSON text, or a dict from an in-process probe), checked for size and shape;
    :class:`BadReply` otherwise."""
    if isinstance(text, dict):
        if not isinstance(text.get("trace", []), list):
            raise BadReply("the student's process sent a malformed reply")
        return text
    if not isinstance(text, str):
        raise BadReply("the student's process sent no reply")
    if len(text) > MAX_REPLY_BYTES:
        raise BadReply(
            f"the student's process sent a reply of {len(text):,} bytes (limit {MAX_REPLY_BYTES:,})"
        )
    try:
        reply = json.loads(text)
    except (ValueError, RecursionError):
        raise BadReply("the student's process sent a reply that is not JSON") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("trace", []), list):
        raise BadReply("the student's process sent a malformed reply")
    return reply
