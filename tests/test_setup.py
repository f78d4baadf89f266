"""The installed environment and the command line: torchvision imports, no CUDA packages, CLI works."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_plain_import_torchvision_works_in_a_fresh_interpreter() -> None:
    result = _run("-c", "import torchvision, torchvision.datasets, torchvision.transforms; "
                        "print(torchvision.__version__)")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("0.28.0")


def test_the_fix_is_inert_when_torchvision_imports_cleanly() -> None:
    # Simulate a machine where the extension loads: the operator already exists, so nothing is defined.
    code = (
        "import torch, autograder.lab.torchvision_compat as tc\n"
        "lib = torch.library.Library('torchvision', 'FRAGMENT')\n"
        "lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "lib.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "tc._define_missing_schemas()\n"
        "print(len(tc._libraries))\n"
    )
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU machine may legitimately carry CUDA packages")
def test_no_cuda_packages_installed_on_a_cpu_machine() -> None:
    names = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert not {name for name in names if name.startswith(("nvidia-", "cuda-", "triton"))}
    assert torch.__version__ == "2.13.0+cpu"


def test_cli_help_lists_the_commands() -> None:
    result = _run("-m", "autograder", "--help")
    assert result.returncode == 0
    for command in ("bench", "data", "train"):
        assert command in result.stdout
    assert _run("-m", "autograder", "nonsense").returncode == 2


def test_bench_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = _run("-m", "autograder", "bench", "--sizes", "4096", "16384", "--repeats", "2",
                  "--device", "cpu", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reference seed" in result.stdout and "x native" in result.stdout
    payload = json.loads(out.read_text())
    rows = payload["rows"]
    methods = {row["method"] for row in rows}
    assert methods == {"F.dropout", "torch.native_dropout", "reference float", "reference bool",
                       "reference seed", "clone"}  # fmt: skip
    assert {row["numel"] for row in rows} == {4096, 16384}
    for row in rows:
        if row["method"] == "F.dropout":
            assert row["vs_native"] == 1.0 and row["saved_bytes_per_element"] == 4.0
        if row["method"] == "reference bool":
            assert row["saved_bytes_per_element"] == 1.0
        assert row["median_ms"] > 0
    assert len(payload["targets"]) == 4
