"""Nothing outlives its run: every process a grading run starts, and every temporary folder it makes,
is gone when the run ends, however it ends.

A local ``python -m autograder grade`` is ended each way (it finishes; SIGTERM, also with
``--no-preload``; SIGKILL; an exception inside the run), and a loopback Dask worker is retired by the
scheduler after its run, ended as cluster managers end one (SIGTERM to its process group, as Kubernetes
does) and as a dying machine would (SIGKILL to the group). Signalled runs are caught in the middle of a
submission: the student's last cell runs ``sleep`` with an unusual length, so that the zygote, the
kernel zygote, the nbgrader fork, the kernel's launcher, bubblewrap and the forked kernel all exist when
the run is ended. Every process of the run is tracked (every descendant
seen while it ran, and any process whose command line or environment names the run's private folders
or marker); each must be gone within a bounded wait, and the run's private temporary folder
(``TMPDIR``) must be left empty: no ``dropout-grader-*`` kernelspec, zygote socket folder, per-submission
kernel folder or worker course.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.grading.course import make_course, nbgrader_env
from autograder.grading.synthetic_class import make_graded_course, solution_submission, submit

pytestmark = pytest.mark.timeout(600)

ASSIGNMENT = "masks"
MARKER_ENV = "DROPOUT_LIFETIME_TEST_RUN"
GONE_WITHIN_S = 20.0  # how long a run's processes and folders may take to go once it has ended
STUCK_WITHIN_S = 240.0  # how long a run may take to reach the student's sleeping cell
#: torch's compile cache (``$TMPDIR/torchinductor_<user>``, made by ``import torch._dynamo``): shared by
#: every run on purpose, so not one of the run's folders.
TORCH_CACHE = ("torchinductor_",)
GRADE_OPTIONS = ["--jobs", "1", "--force", "--cell-timeout", "200", "--notebook-timeout", "300"]


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """One generated course; each test grades a copy of it (generating takes several seconds)."""
    base = Path(tempfile.mkdtemp(prefix="lifetime-template-", dir="/var/tmp"))
    try:
        yield make_graded_course(base / "course", (ASSIGNMENT,))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def workspace(template: Path) -> Iterator[Callable[[str | None], tuple[Path, Path]]]:
    """``make(sleep)``: a copy of the course with one submission (the solution, with a last cell that
    runs ``sleep <sleep>`` when given) and an empty private temporary folder for the run."""
    made: list[Path] = []

    def make(sleep: str | None) -> tuple[Path, Path]:
        base = Path(tempfile.mkdtemp(prefix="lifetime-", dir="/var/tmp"))
        made.append(base)
        root = base / "course"
        shutil.copytree(template, root)
        make_course(root, ())  # its nbgrader_config.py, pointing at the copy
        notebook = solution_submission(root, ASSIGNMENT)
        if sleep is not None:
            cell = f"import subprocess\nsubprocess.run(['sleep', '{sleep}'])\n"
            notebook.cells.append(nbformat.v4.new_code_cell(cell))  # a cell of the student's own, last
        submit(root, "student000", ASSIGNMENT, notebook)
        tmp = Path(tempfile.mkdtemp(prefix="lt-", dir="/tmp"))  # short: socket paths must stay short
        made.append(tmp)
        return root, tmp

    yield make
    for base in made:
        shutil.rmtree(base, ignore_errors=True)


def _sleep_marker() -> str:
    """An unusual ``sleep`` length that names one test's student process."""
    return f"{700 + secrets.randbelow(200)}.{secrets.randbelow(10**6):06d}"


Key = tuple[int, float]  # a process: its PID and start time (a PID alone may be reused)


class Tracked:
    """The processes of one run: every descendant of ``root`` seen while it ran, and every process
    whose command line mentions one of ``names`` or whose environment holds ``marker``."""

    def __init__(self, root: int, names: list[str], marker: str | None = None) -> None:
        self.root, self.names, self.marker = root, names, marker
        self.seen: dict[Key, str] = {}

    def _describe(self, process: psutil.Process) -> tuple[Key, str] | None:
        try:
            with process.oneshot():
                return (process.pid, process.create_time()), " ".join(process.cmdline())[:300]
        except psutil.Error:
            return None

    def _belongs(self, process: psutil.Process) -> bool:
        try:
            command = " ".join(process.cmdline())
            if any(name in command for name in self.names):
                return True
            return self.marker is not None and process.environ().get(MARKER_ENV) == self.marker
        except psutil.Error:
            return False

    def scan(self) -> None:
        """Add every process of the run alive now."""
        found: list[psutil.Process] = []
        try:
            found += psutil.Process(self.root).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        found += [p for p in psutil.process_iter() if p.pid != os.getpid() and self._belongs(p)]
        for process in found:
            described = self._describe(process)
            if described is not None:
                self.seen.setdefault(*described)

    def alive(self) -> dict[Key, str]:
        """The tracked processes still alive (zombies count as gone: they hold no memory)."""
        self.scan()
        living = {}
        for (pid, started), command in self.seen.items():
            try:
                process = psutil.Process(pid)
                if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                    living[(pid, started)] = command
            except psutil.Error:
                continue
        return living

    def commands(self) -> list[str]:
        return list(self.seen.values())

    def kill_survivors(self) -> None:
        """After a failed test: leave nothing behind on the machine either."""
        for pid, _ in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _sleeping(marker: str) -> bool:
    for process in psutil.process_iter():
        try:
            if process.cmdline() == ["sleep", marker]:
                return True
        except psutil.Error:
            continue
    return False


def _wait_until_stuck(
    process: subprocess.Popen[bytes], tracked: Tracked, marker: str, log: Path, *, preloaded: bool = True
) -> None:
    """Track the run until its student's cell sleeps (every helper process is alive then)."""
    deadline = time.monotonic() + STUCK_WITHIN_S
    while not _sleeping(marker):
        tracked.scan()
        if process.poll() is not None:
            pytest.fail(f"the run ended before the student's cell ran: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the student's cell did not run in time: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    tracked.scan()
    commands = " ".join(tracked.commands())
    # The test proves something only if the helpers were there to outlive the run.
    assert "autograder.grading.sandbox" in commands, tracked.commands()  # the kernel's launcher
    assert "nbgrader" in commands or preloaded, tracked.commands()  # a run started as a new program
    for helper in ("autograder.grading.zygote", "kernel_zygote.py") if preloaded else ():
        assert helper in commands, tracked.commands()


def _assert_nothing_left(tracked: Tracked, tmp: Path, *, ignore: tuple[str, ...] = TORCH_CACHE) -> None:
    """Within :data:`GONE_WITHIN_S`: no process of the run alive, nothing left in its ``tmp`` (but
    names starting with ``ignore``)."""
    deadline = time.monotonic() + GONE_WITHIN_S
    while True:
        living = tracked.alive()
        left = sorted(entry.name for entry in tmp.iterdir() if not entry.name.startswith(ignore))
        if not living and not left:
            return
        if time.monotonic() > deadline:
            tracked.kill_survivors()
            pytest.fail(
                f"{GONE_WITHIN_S:.0f} s after the run ended, still alive: {sorted(living.values())}; "
                f"left in its temporary folder: {left}"
            )
        time.sleep(0.1)


def _grade(
    course: Path, tmp: Path, log: Path, marker: str, *options: str, program: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``python -m autograder grade ... options`` (or ``program`` instead of ``python -m autograder``)
    with ``tmp`` as its TMPDIR, in a session of its own."""
    env = {**nbgrader_env(), "TMPDIR": str(tmp), MARKER_ENV: marker}
    command = [*program] or [sys.executable, "-m", "autograder"]
    with log.open("wb") as output:
        return subprocess.Popen(
            [*command, "grade", ASSIGNMENT, "--course", str(course), "--local", *GRADE_OPTIONS, *options],
            env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


@pytest.mark.slow
def test_a_local_grade_that_finishes_leaves_nothing(workspace: Callable, tmp_path: Path) -> None:
    course, tmp = workspace(None)
    marker = secrets.token_hex(8)
    log = tmp_path / "grade.log"
    process = _grade(course, tmp, log, marker)
    tracked = Tracked(process.pid, [str(tmp), str(course)], marker)
    while process.poll() is None:
        tracked.scan()
        time.sleep(0.1)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert "autograder.grading.zygote" in " ".join(tracked.commands()), tracked.commands()
    _assert_nothing_left(tracked, tmp)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "preload"),
    [(signal.SIGTERM, True), (signal.SIGKILL, True), (signal.SIGTERM, False), (signal.SIGKILL, False)],
    ids=["SIGTERM", "SIGKILL", "SIGTERM-no-preload", "SIGKILL-no-preload"],
)
def test_a_local_grade_ended_mid_submission_leaves_nothing(
    workspace: Callable, tmp_path: Path, how: signal.Signals, preload: bool
) -> None:
    """The ``grade`` process alone gets the signal (its helpers are in sessions of their own, as when a
    supervisor stops one process). Without preloaded processes (``--no-preload``), the submission's
    ``nbgrader`` runs as a new program; SIGTERM ends it too, and SIGKILL through its parent-death signal
    (``setpriv --pdeathsig``); after SIGKILL without preloaded processes, only the run's folders (a few
    kilobytes) are left, since nothing of the run is left to remove them. Preloading is the default."""
    if how == signal.SIGKILL and not preload:
        from autograder.grading.run_submission import _setpriv_pdeathsig

        if _setpriv_pdeathsig() is None:
            pytest.skip("util-linux's setpriv with --pdeathsig is not installed: nothing sets the signal")
    sleep = _sleep_marker()
    course, tmp = workspace(sleep)
    marker = secrets.token_hex(8)
    log = tmp_path / "grade.log"
    process = _grade(course, tmp, log, marker, *([] if preload else ["--no-preload"]))
    tracked = Tracked(process.pid, [str(tmp), str(course), sleep], marker)
    try:
        _wait_until_stuck(process, tracked, sleep, log, preloaded=preload)
        process.send_signal(how)
        process.wait(timeout=GONE_WITHIN_S)
        assert process.returncode == -how, log.read_text()[-3000:]
        orphaned = how == signal.SIGKILL and not preload
        folders_stay = ("dropout-grader-", "dropout-grading-") if orphaned else ()
        _assert_nothing_left(tracked, tmp, ignore=(*TORCH_CACHE, *folders_stay))
    finally:
        tracked.kill_survivors()
        if process.poll() is None:
            process.kill()
            process.wait()


_RAISING_GRADE = """\
import sys
import autograder.grading.classroom as classroom
from autograder.cli import main


def broken(*args, **kwargs):
    raise RuntimeError("an exception inside the run (tests/test_lifetimes.py)")


classroom.save_result = broken
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_local_grade_that_raises_leaves_nothing(workspace: Callable, tmp_path: Path) -> None:
    course, tmp = workspace(None)
    marker = secrets.token_hex(8)
    log = tmp_path / "grade.log"
    process = _grade(course, tmp, log, marker, program=(sys.executable, "-c", _RAISING_GRADE))
    tracked = Tracked(process.pid, [str(tmp), str(course)], marker)
    try:
        while process.poll() is None:
            tracked.scan()
            time.sleep(0.1)
        assert process.returncode == 1, log.read_text()[-3000:]
        assert "an exception inside the run" in log.read_text(), log.read_text()[-3000:]
        assert "autograder.grading.zygote" in " ".join(tracked.commands()), tracked.commands()
        _assert_nothing_left(tracked, tmp)
    finally:
        tracked.kill_survivors()


@pytest.mark.slow
@pytest.mark.parametrize("how", [None, signal.SIGTERM, signal.SIGKILL], ids=["retired", "SIGTERM", "SIGKILL"])
def test_a_dask_worker_that_ends_leaves_nothing(
    workspace: Callable, tmp_path: Path, how: signal.Signals | None
) -> None:
    """A worker retired by the scheduler once its run is done (its course and preloaded processes idle),
    or one whose process group (the ``dask worker`` nanny and its worker process) gets the signal in the
    middle of a submission, as Kubernetes and SLURM stop a worker; the preloaded processes are in
    sessions of their own, so the signal does not reach them."""
    pytest.importorskip("distributed")
    from autograder.grading.cluster import LoopbackCluster, connect

    sleep = _sleep_marker() if how is not None else None
    course, _ = workspace(sleep)
    dask_tmp = tmp_path / "dask"  # Dask's own scratch space: not the run's folders
    dask_tmp.mkdir()
    client_tmp = Path(tempfile.mkdtemp(prefix="lt-client-", dir="/tmp"))
    marker = secrets.token_hex(8)
    env = {MARKER_ENV: marker, "DASK_TEMPORARY_DIRECTORY": str(dask_tmp)}
    client: subprocess.Popen[bytes] | None = None
    with LoopbackCluster(workers=1, env=env) as cluster:
        tmp = cluster.folder / "tmp"  # the workers' TMPDIR
        worker = cluster.worker_processes["loopback-0"]
        tracked = Tracked(worker.pid, [str(tmp), *([sleep] if sleep else [])], marker)
        log = tmp_path / "client.log"
        try:
            with log.open("wb") as output:
                client = subprocess.Popen(
                    [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course),
                     "--scheduler", cluster.address, *GRADE_OPTIONS],
                    env={**nbgrader_env(), "TMPDIR": str(client_tmp)}, stdout=output,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            if how is None:
                while client.poll() is None:
                    tracked.scan()
                    time.sleep(0.1)
                assert client.returncode == 0, log.read_text()[-3000:]
                commands = " ".join(tracked.commands())
                assert "autograder.grading.zygote" in commands, tracked.commands()
                dask = connect(cluster.address)
                try:
                    dask.retire_workers(close_workers=True, remove=True)
                finally:
                    dask.close()
            else:
                assert sleep is not None
                _wait_until_stuck(client, tracked, sleep, log)
                os.killpg(worker.pid, how)
            worker.wait(timeout=60)
            _assert_nothing_left(tracked, tmp)
        finally:
            tracked.kill_survivors()
            if client is not None and client.poll() is None:
                os.killpg(client.pid, signal.SIGKILL)
                client.wait()
            shutil.rmtree(client_tmp, ignore_errors=True)
