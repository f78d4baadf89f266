"""The kernel sandbox: limits, a private file view, hidden paths, no way back out, no network."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.grading.sandbox import (
    Limits,
    isolation_available,
    network_isolation_available,
    offline_command,
    write_kernelspec,
)

ISOLATION, WHY = isolation_available()
needs_isolation = pytest.mark.skipif(not ISOLATION, reason=WHY)

STUDENT = r"""
import ctypes, json, os, socket
report = {}
def attempt(name, fn):
    try:
        report[name] = ["ok", repr(fn())[:80]]
    except BaseException as error:
        report[name] = ["blocked", type(error).__name__]
attempt("read_other", lambda: open(OTHER).read())
attempt("read_other_relative", lambda: open("../bob/answer.txt").read())
attempt("list_hidden", lambda: os.listdir(HIDDEN))
attempt("write_outside", lambda: open(OUTSIDE, "w").write("x"))
attempt("write_here", lambda: open("out.txt", "w").write("x"))
attempt("read_own", lambda: open("data.txt").read())
libc = ctypes.CDLL(None, use_errno=True)
report["umount"] = libc.umount2(HIDDEN.encode(), 2)
attempt("memory", lambda: len(bytearray(3 * 2**30)))
attempt("big_file", lambda: open("big.bin", "wb").write(b"0" * (40 * 2**20)))
attempt("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("REPORT" + json.dumps(report))
"""


@pytest.fixture
def classroom() -> Iterator[dict[str, Path]]:
    # Outside /tmp on purpose: the sandbox gives the kernel a private /tmp, which would hide a folder
    # there anyway, and the test is about the covers the sandbox puts on the paths it is told to hide.
    root = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    try:
        yield _make_classroom(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _make_classroom(tmp_path: Path) -> dict[str, Path]:
    alice, bob, hidden = tmp_path / "alice", tmp_path / "bob", tmp_path / "solutions"
    for folder in (alice, bob, hidden):
        folder.mkdir()
    (alice / "data.txt").write_text("mine")
    (bob / "answer.txt").write_text("bob's answer")
    (hidden / "hidden_tests.py").write_text("assert secret")
    return {"alice": alice, "bob": bob, "hidden": hidden, "root": tmp_path}


def _run_student(classroom: dict[str, Path], launcher_args: list[str], *, offline: bool) -> dict:
    server = socket.create_server(("127.0.0.1", 0))  # a host service the student must not reach
    server.listen()
    code = (
        f"PORT = {server.getsockname()[1]}\n"
        f"OTHER = {str(classroom['bob'] / 'answer.txt')!r}\n"
        f"HIDDEN = {str(classroom['hidden'])!r}\n"
        f"OUTSIDE = {str(classroom['root'] / 'outside.txt')!r}\n" + STUDENT
    )
    launcher = [sys.executable, "-m", "autograder.grading.sandbox", *launcher_args]
    command = [*launcher, "--", sys.executable, "-c", code]
    if offline:
        command = offline_command(command)
    try:
        result = subprocess.run(command, cwd=classroom["alice"], capture_output=True, text=True, timeout=120)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


@needs_isolation
def test_isolated_kernel_sees_only_its_own_submission(classroom: dict[str, Path]) -> None:
    hide = ["--hide", str(classroom["hidden"]), "--hide", str(classroom["bob"])]
    report = _run_student(classroom, ["--memory-mb", "2048", "--file-mb", "32", *hide], offline=True)
    for attempt in ("read_other", "read_other_relative", "write_outside", "memory", "big_file", "network"):
        assert report[attempt][0] == "blocked", (attempt, report[attempt])
    assert report["list_hidden"] == ["ok", "[]"], "hidden folders look empty"
    assert report["umount"] == -1, "the covers cannot be removed"
    assert report["write_here"][0] == "ok" and report["read_own"] == ["ok", "'mine'"]
    assert report["pids"] == [1], "the kernel sees no other process"
    assert not (classroom["root"] / "outside.txt").exists()
    assert not (classroom["alice"] / "out.txt").exists(), "the kernel wrote to a private copy"


def test_limits_only_mode_still_limits_memory(classroom: dict[str, Path]) -> None:
    report = _run_student(classroom, ["--memory-mb", "2048", "--limits-only"], offline=False)
    assert report["memory"][0] == "blocked"
    assert report["read_own"] == ["ok", "'mine'"]
    assert report["network"][0] == "ok", "without the network namespace the host's loopback is reachable"


def test_network_isolation_is_available_where_isolation_is() -> None:
    available, why = network_isolation_available()
    if ISOLATION:
        assert available, why


def test_kernelspec_starts_the_kernel_through_the_launcher(tmp_path: Path) -> None:
    name = write_kernelspec(tmp_path, hide=[tmp_path / "secret"], limits=Limits(memory_mb=1234))
    spec = json.loads((tmp_path / "kernels" / name / "kernel.json").read_text())
    argv = spec["argv"]
    assert argv[1:3] == ["-m", "autograder.grading.sandbox"]
    assert argv[argv.index("--memory-mb") + 1] == "1234"
    assert argv[argv.index("--hide") + 1] == str((tmp_path / "secret").resolve())
    assert argv[-2:] == ["-f", "{connection_file}"]
