"""Benchmark: what each way of remembering the mask costs in time and memory, side by side.

For every available device and every size, one run times forward + backward of

* ``F.dropout`` (PyTorch's own, the *native* baseline) and ``torch.native_dropout``,
* the reference :func:`~autograder.reference.dropout` with each ``keep_mask_as`` strategy,
* a *clone* baseline: ``x.clone()`` forward and ``grad.clone()`` backward, the memory traffic any
  dropout must do (read the input, write the output; read the gradient, write the input's gradient),

interleaving the methods within each repetition so drift in the machine's speed hits them alike. Times
are medians of the repetitions; ratios divide by native's and clone's medians from the same run. Bytes
saved for backward are measured with saved-tensor hooks (:mod:`autograder.lab.memory`).

Chapter 2 of the book and ``python -m autograder bench`` both call :func:`run_benchmark`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from autograder.reference import KEEP_MASK_STRATEGIES, dropout

from .memory import saved_bytes

DEFAULT_SIZES: tuple[int, ...] = (2**20, 2**22, 2**24)
NATIVE = "F.dropout"
CLONE = "clone"


@dataclass(frozen=True)
class BenchRow:
    """One method at one size on one device."""

    device: str
    numel: int
    method: str
    median_ms: float
    vs_native: float  # this method's median time / F.dropout's median time
    vs_clone: float  # this method's median time / the clone baseline's median time
    saved_bytes_per_element: float  # bytes autograd keeps for backward, per input element


def _methods(p: float) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    methods: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        NATIVE: lambda x: F.dropout(x, p, training=True),
        "torch.native_dropout": lambda x: torch.native_dropout(x, p, True)[0],
    }
    for strategy in KEEP_MASK_STRATEGIES:
        methods[f"reference {strategy}"] = lambda x, s=strategy: dropout(x, p, keep_mask_as=s)
    return methods


def available_devices() -> list[str]:
    """``cpu`` plus ``cuda`` where a GPU is present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_forward_backward(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, grad: torch.Tensor
) -> float:
    _synchronize(x.device)
    start = time.perf_counter()
    out = fn(x)
    torch.autograd.grad(out, x, grad)
    _synchronize(x.device)
    return time.perf_counter() - start


def _time_clone(x: torch.Tensor, grad: torch.Tensor) -> float:
    _synchronize(x.device)
    start = time.perf_counter()
    x.detach().clone()
    grad.clone()
    _synchronize(x.device)
    return time.perf_counter() - start


def run_benchmark(
    sizes: Sequence[int] = DEFAULT_SIZES,
    devices: Sequence[str] | None = None,
    repeats: int = 7,
    p: float = 0.5,
    *,
    progress: bool = True,
) -> list[BenchRow]:
    """Measure every method at every size on every device; return one row per (device, size, method)."""
    from tqdm.auto import tqdm

    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    devices = list(devices) if devices is not None else available_devices()
    methods = _methods(p)
    rows: list[BenchRow] = []
    total = len(devices) * len(sizes) * (repeats + 1)
    with tqdm(total=total, desc="bench", unit="rep", disable=not progress, leave=False) as bar:
        for device_name in devices:
            device = torch.device(device_name)
            for numel in sizes:
                x = torch.randn(numel, device=device, requires_grad=True)
                grad = torch.randn(numel, device=device)
                times: dict[str, list[float]] = {name: [] for name in [*methods, CLONE]}
                for repetition in range(repeats + 1):  # repetition 0 warms up and is discarded
                    for name, fn in methods.items():
                        elapsed = _time_forward_backward(fn, x, grad)
                        if repetition:
                            times[name].append(elapsed)
                    elapsed = _time_clone(x, grad)
                    if repetition:
                        times[CLONE].append(elapsed)
                    bar.update()
                medians = {name: statistics.median(values) for name, values in times.items()}
                for name, median in medians.items():
                    fn = methods.get(name)
                    per_element = saved_bytes(fn, x).bytes_per_element(numel) if fn else 0.0
                    rows.append(
                        BenchRow(
                            device=device_name,
                            numel=numel,
                            method=name,
                            median_ms=median * 1e3,
                            vs_native=median / medians[NATIVE],
                            vs_clone=median / medians[CLONE],
                            saved_bytes_per_element=per_element,
                        )
                    )
                del x, grad
    return rows


def format_table(rows: Sequence[BenchRow]) -> str:
    """A plain-text table, one block per device and size."""
    header = f"{'method':<22}{'median ms':>11}{'x native':>10}{'x clone':>9}{'saved B/elem':>14}"
    lines: list[str] = []
    current = None
    for row in rows:
        if (row.device, row.numel) != current:
            current = (row.device, row.numel)
            lines += ["", f"{row.device}, {row.numel:,} float32 elements ({row.numel / 2**20:g}M)", header]
        lines.append(
            f"{row.method:<22}{row.median_ms:>11.2f}{row.vs_native:>10.2f}{row.vs_clone:>9.2f}"
            f"{row.saved_bytes_per_element:>14.4f}"
        )
    return "\n".join(lines).lstrip("\n")


@dataclass(frozen=True)
class TargetResult:
    description: str
    met: bool
    measured: str


#: The course's CPU speed targets (issue 14): time of forward + backward relative to native
#: ``F.dropout`` at every measured size, with the bytes saved for backward per element unchanged.
BOOL_TIME_TARGET = 0.8
SEED_TIME_TARGET = 1.0


def check_targets(rows: Sequence[BenchRow], device: str = "cpu") -> list[TargetResult]:
    """The CPU targets of the course, checked at every size (the worst size counts):

    * ``bool`` (the default): at most 0.8x native's time, saving 1 byte per element (native saves 4);
    * ``seed``: at most 1.0x native's time, saving no mask (a few kilobytes in all).
    """
    by_method: dict[str, list[BenchRow]] = {}
    for row in rows:
        if row.device == device:
            by_method.setdefault(row.method, []).append(row)
    if not by_method:
        return []
    default = by_method["reference bool"]
    seed = by_method["reference seed"]
    worst_default = max(r.vs_native for r in default)
    worst_seed = max(r.vs_native for r in seed)
    default_bytes = max(r.saved_bytes_per_element for r in default)
    seed_bytes = max(r.saved_bytes_per_element for r in seed)
    return [
        TargetResult(
            f"default (bool) time <= {BOOL_TIME_TARGET}x native F.dropout",
            worst_default <= BOOL_TIME_TARGET,
            f"worst {worst_default:.2f}x native",
        ),
        TargetResult("default (bool) saves 1 B/elem", default_bytes == 1, f"{default_bytes:g} B/elem"),
        TargetResult("seed saves no mask (< 0.01 B/elem)", seed_bytes < 0.01, f"{seed_bytes:.4f} B/elem"),
        TargetResult(
            f"seed time <= {SEED_TIME_TARGET}x native F.dropout",
            worst_seed <= SEED_TIME_TARGET,
            f"worst {worst_seed:.2f}x native",
        ),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        metavar="N",
        help="numbers of float32 elements (default: 1M 4M 16M)",
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per method (default 7)")
    parser.add_argument(
        "--runs", type=int, default=1, help="independent runs, each with its own table (default 1)"
    )
    parser.add_argument("--p", type=float, default=0.5, help="drop probability (default 0.5)")
    parser.add_argument(
        "--device",
        action="append",
        dest="devices",
        help="device to measure (repeatable; default: cpu and cuda where present)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON here")


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit(f"--runs must be at least 1, got {args.runs}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"devices: {', '.join(args.devices or available_devices())}; "
        f"forward+backward, median of {args.repeats} repetitions, p={args.p}"
    )
    runs = []
    for index in range(args.runs):
        rows = run_benchmark(args.sizes, args.devices, args.repeats, args.p)
        targets = check_targets(rows)
        runs.append({"rows": [asdict(row) for row in rows], "targets": [asdict(t) for t in targets]})
        if args.runs > 1:
            print(f"\nrun {index + 1} of {args.runs}")
        print(format_table(rows))
        if targets:
            print("\nCPU targets:")
            for target in targets:
                print(f"  [{'met' if target.met else 'MISSED'}] {target.description}: {target.measured}")
    if args.runs > 1:
        print("\nratio to native F.dropout over the runs (min-max):")
        for method in ("reference float", "reference bool", "reference seed"):
            ratios = [r["vs_native"] for run in runs for r in run["rows"] if r["method"] == method]
            print(f"  {method:<18} {min(ratios):.2f}-{max(ratios):.2f}x")
    if args.json:
        payload = {"torch": torch.__version__, "threads": torch.get_num_threads(), **runs[-1], "runs": runs}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0
