"""The preloaded nbgrader process (:mod:`autograder.grading.zygote`): forks run nbgrader's command line,
report their exit status, can be stopped at a time limit, refuse requests without the token, and a class
graded through forks gets exactly the grades of a class graded with a new process per submission (also
when the zygote dies before grading: each run then falls back to a new process).

Nothing here is random: the checks grade with fixed seeds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.grading.classroom import grade_class, load_course
from autograder.grading.course import nbgrader_env
from autograder.grading.run_submission import kill_tree
from autograder.grading.sandbox import Limits
from autograder.grading.synthetic_class import build_class, make_graded_course
from autograder.grading.zygote import IMPORTS_ENV, Zygote, ZygoteError

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    with Zygote.start(nbgrader_env()) as started:
        yield started


def test_a_fork_runs_nbgrader_and_reports_its_status(zygote: Zygote, tmp_path: Path) -> None:
    output = tmp_path / "out.txt"
    forked = zygote.spawn(["--version"], cwd=tmp_path, env=nbgrader_env(), output=output)
    assert forked.pid != os.getpid()
    assert forked.wait(60) == 0
    assert "nbgrader version 0.9" in output.read_text(), output.read_text()
    failing = zygote.spawn(
        ["autograde", "no-such-assignment"], cwd=tmp_path, env=nbgrader_env(), output=output
    )
    assert failing.wait(60) != 0


def test_a_fork_gets_exactly_the_environment_and_folder_it_asked_for(zygote: Zygote, tmp_path: Path) -> None:
    # nbgrader reads nbgrader_config.py from its working folder: a config that writes what it sees of
    # the environment proves both (the zygote's own variable must be gone).
    (tmp_path / "nbgrader_config.py").write_text(
        "import os, pathlib\n"
        "seen = [os.environ.get('MARK', 'unset'), os.environ.get('PYTORCH_NVML_BASED_CUDA_CHECK', 'none')]\n"
        "pathlib.Path('seen.txt').write_text(' '.join(seen))\n"
    )
    env = {**nbgrader_env(), "MARK": "forked-with-this"}
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    forked = zygote.spawn(["db", "student", "list"], cwd=tmp_path, env=env, output=tmp_path / "out.txt")
    assert forked.wait(60) == 0, (tmp_path / "out.txt").read_text()
    assert (tmp_path / "seen.txt").read_text() == "forked-with-this none"


def test_a_run_past_its_limit_is_reported_and_can_be_killed(zygote: Zygote, tmp_path: Path) -> None:
    forked = zygote.spawn(["--help-all"], cwd=tmp_path, env=nbgrader_env(), output=tmp_path / "out.txt")
    with pytest.raises(subprocess.TimeoutExpired):
        forked.wait(0.001)  # nbgrader's start alone takes far longer than a millisecond
    kill_tree(forked.pid)
    assert forked.wait(30) in (0, -signal.SIGKILL)  # killed, or finished in the meantime
    assert zygote.alive()


def test_a_request_without_the_token_is_refused(zygote: Zygote, tmp_path: Path) -> None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(30)
    connection.connect(str(zygote.socket_path))
    request = {
        "token": "0" * 64,
        "argv": ["--version"],
        "cwd": str(tmp_path),
        "env": {},
        "output": "/dev/null",
    }
    connection.sendall(json.dumps(request).encode() + b"\n")
    reply = json.loads(connection.recv(4096).split(b"\n")[0])
    connection.close()
    assert reply == {"error": "bad token"}
    assert oct(zygote.folder.stat().st_mode & 0o777) == "0o700"


def test_a_closed_zygote_refuses_to_fork(tmp_path: Path) -> None:
    started = Zygote.start(nbgrader_env())
    started.close()
    assert not started.alive()
    with pytest.raises(ZygoteError):
        started.spawn(["--version"], cwd=tmp_path, env=nbgrader_env(), output=tmp_path / "out.txt")


def test_forked_grading_gives_the_grades_of_new_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three submissions (the solution and two wrong answers) graded three ways: forked, a new process
    each, and with a zygote that died before the first run (each run falls back to a new process)."""
    import autograder.grading.classroom as classroom

    limits = Limits(cell_timeout_s=60, notebook_timeout_s=300, memory_mb=4096)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as base:
        root = make_graded_course(Path(base) / "course", ("masks",))
        build_class(root, "masks", 3)
        course = load_course(root)

        def scores(**options: bool) -> dict[str, tuple[str, float, list[str]]]:
            report = grade_class(
                "masks", course=course, jobs=1, force=True, limits=limits, progress=False, **options
            )
            return {r.student: (r.status, r.score, sorted(r.failed_tests)) for r in report.results}

        forked = scores()
        fresh = scores(preload=False)
        start = classroom.start_zygote

        def dead_zygote(env: dict[str, str], offline: bool) -> Zygote | None:
            started = start(env, offline)
            assert started is not None
            started.close()
            return started

        monkeypatch.setattr(classroom, "start_zygote", dead_zygote)
        fallback = scores()
    assert forked == fresh == fallback
    assert [status for status, _, _ in forked.values()] == ["graded"] * 3
    assert len({score for _, score, _ in forked.values()}) > 1  # the wrong answers lost points


def test_a_graded_fork_imports_nothing_the_zygote_could_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork's run imports no grading library the zygote did not preload: lazily imported modules
    once raced between the judge's warm-up thread and nbgrader's kernel-spec lookup in a fresh fork
    (``KeyError: 'IPython'``, a correct submission scored 0)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as base:
        root = make_graded_course(Path(base) / "course", ("masks",))
        build_class(root, "masks", 1)
        imports = Path(base) / "imports.json"
        monkeypatch.setenv(IMPORTS_ENV, str(imports))
        report = grade_class("masks", course=load_course(root), jobs=1, force=True, progress=False)
        assert [r.score for r in report.results] == [report.results[0].max_score]
        new = json.loads(imports.read_text())
    heavy = {
        "IPython",
        "sqlite3",
        "sqlalchemy",
        "torch",
        "nbgrader",
        "nbclient",
        "jupyter_client",
        "autograder",
    }
    assert not [name for name in new if name.split(".")[0] in heavy], new


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_kernel_ends_at_once_and_takes_everything_it_started_with_it() -> None:
    """The judge ends each kernel with a terminate, not a polite shutdown request (a second saved per
    submission): a process the student detached from the kernel must still be gone when grading
    returns. The kernel is forked into its sandbox from the kernel zygote by default (where a cgroup
    can be made, as in CI): its parent then lies outside the sandbox's PID namespace."""
    import nbformat

    from autograder.grading.synthetic_class import solution_submission, submit

    marker = "613.2571"  # an unusual sleep length names the student's process
    detach = (
        "import subprocess\n"
        f"child = subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "print('started', child.pid)\n"
        "import os\n"
        "print('parent', os.getppid())\n"  # 0: forked into its sandbox (the parent is outside); 1: a program
    )
    with tempfile.TemporaryDirectory(dir="/var/tmp") as base:
        root = make_graded_course(Path(base) / "course", ("masks",))
        notebook = solution_submission(root, "masks")
        notebook.cells.append(nbformat.v4.new_code_cell(detach))  # a cell of the student's own, last
        submit(root, "student000", "masks", notebook)
        report = grade_class("masks", course=load_course(root), jobs=1, force=True, progress=False)
        graded = nbformat.read(root / "autograded" / "student000" / "masks" / "masks.ipynb", as_version=4)
    (result,) = report.results
    assert result.status == "graded", result.message  # (the import costs the from-scratch points)
    assert "started" in str(graded.cells[-1].outputs), graded.cells[-1].outputs
    from autograder.grading.sandbox.cgroups import kernel_cgroup

    cgroup, _ = kernel_cgroup(2**30, 64)
    if cgroup is not None:  # forked kernels need one (root, as in CI)
        cgroup.remove()
        assert "parent 0" in str(graded.cells[-1].outputs), "the kernel was not forked into its sandbox"
    assert _processes_with(marker) == []
