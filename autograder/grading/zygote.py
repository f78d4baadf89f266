"""A preloaded nbgrader process, forked once per submission, so that no submission pays for starting
Python and importing nbgrader, torch and the checks (about 4 s of CPU on two cores).

Grading a submission runs ``nbgrader autograde`` in its own process: the judge
(:mod:`~autograder.grading.judge`) lives there, and a stuck run is stopped by killing that process's
tree. The zygote keeps that shape and removes the start-up: it is started once per class run (or per
cluster worker), imports everything an ``nbgrader autograde`` run needs, and then waits on a Unix socket
in a private folder. Each request forks it; the fork (a new session, its own environment, working folder
and output file) runs nbgrader's command line exactly as ``python -m nbgrader`` would and reports its
exit status. Nothing is shared between two submissions' forks but the read-only memory of the imports.

Why this is safe: neither the zygote nor its forks ever run student code. Student code runs only in
the sandboxed kernel that the fork starts (:mod:`~autograder.grading.sandbox`), a fresh ``python -I``
process in its own namespaces, exactly as without the zygote. The socket's folder is private (0700) and
covered by the kernels' hidden paths, and a request must carry the random token the zygote read from its
standard input, so a kernel running without the sandbox (``--no-isolation``) still cannot ask for a fork.

The zygote imports torch but never runs an operator that starts threads or touches CUDA (a fork keeps
only the forking thread, and CUDA cannot be used in a fork of a process that initialised it); the
first operator runs in each fork. When the zygote cannot start or dies, :func:`grade_student
<autograder.grading.run_submission.grade_student>` falls back to a new process per submission.

Nothing outlives its run: the zygote ends when the process that started it ends, however it ends (its
lifeline, :class:`~autograder.grading.sandbox.kernel_zygote.PreloadedProcess`), and kills its forks
first, removing each one's per-submission folder; each fork also dies with the zygote
(``PR_SET_PDEATHSIG``), and its kernel's launcher with it. :func:`end_runs_now` is what a grading
process does on SIGTERM before it dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .sandbox import STATUS_ENV
from .sandbox.kernel_zygote import (
    Forks,
    Lifeline,
    PreloadedProcess,
    die_with_parent,
    listen,
    next_request,
    remove_folder,
)

# What an ``nbgrader autograde`` run with the judge imports: loaded once, before any fork.
PRELOAD = (
    "nbgrader.apps.nbgraderapp",
    "nbgrader.apps.autogradeapp",
    "nbgrader.converters.autograde",
    "nbgrader.preprocessors",
    "nbclient",
    "jupyter_client",
    "torch",
    "autograder.checks",
    "autograder.checks.remote",
    "autograder.checks.scratch",
    "autograder.grading.nbgrader_plugins",
    "autograder.grading.judge.execute",
    "autograder.grading.judge.kernel",
    "autograder.grading.judge.static",
    # Imported lazily by nbgrader's kernel-spec lookup, the gradebook and the from-scratch policy:
    # loaded here so that no fork imports them from two threads at once.
    "IPython",
    "IPython.paths",
    "IPython.display",
    "IPython.core.inputtransformer2",
    "codeop",
    "sqlite3",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
)

# Names a file where a fork writes the modules its run imported beyond the preloaded ones.
IMPORTS_ENV = "AUTOGRADER_ZYGOTE_IMPORTS"

#: The names of the per-submission folders :func:`autograder.grading.sandbox.kernel_folder` makes (the
#: kernel's sockets, the launcher's status, the run's output): the zygote removes a killed run's folder.
RUN_FOLDER_PREFIX = "dropout-grading-"


class ZygoteError(RuntimeError):
    """The zygote could not start, died, or refused a request."""


class Forked:
    """One forked ``nbgrader`` run: its process id, and a wait for its exit status."""

    def __init__(self, connection: socket.socket, pid: int) -> None:
        self._connection = connection
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float) -> int:
        """The exit status; :class:`subprocess.TimeoutExpired` after ``timeout`` seconds (the run is
        left alive: kill its tree with its ``pid``). A run killed by a signal reports ``-9``."""
        deadline = time.monotonic() + timeout
        buffer = b""
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(["nbgrader"], timeout)
            self._connection.settimeout(left)
            try:
                chunk = self._connection.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:  # the fork died without reporting (killed)
                self.returncode = -signal.SIGKILL
                self.close()
                return self.returncode
            buffer += chunk
        try:
            self.returncode = int(json.loads(buffer.split(b"\n", 1)[0])["rc"])
        except (ValueError, KeyError, TypeError):
            self.returncode = -signal.SIGKILL
        self.close()
        return self.returncode

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.close()


class Zygote(PreloadedProcess):
    """The preloaded process. Start it with :meth:`start`; fork runs with :meth:`spawn`; :meth:`close`."""

    SOCKET = "zygote.sock"
    Error = ZygoteError
    WHAT = "the zygote"

    @classmethod
    def start(cls, env: dict[str, str], *, prefix: Sequence[str] = ()) -> Zygote:
        """Start a zygote with ``env`` (``prefix`` wraps its command, e.g. an offline network namespace)
        and wait until it has imported everything; :class:`ZygoteError` when it cannot."""
        command = [*prefix, sys.executable, "-I", "-m", "autograder.grading.zygote"]
        return cls._launch(command, env, "dropout-zygote-")

    def spawn(self, argv: Sequence[str], *, cwd: Path, env: dict[str, str], output: Path) -> Forked:
        """Fork a run of ``nbgrader argv...`` in ``cwd`` with exactly ``env``, its output in ``output``."""
        request = {"token": self._token, "argv": list(argv), "cwd": str(cwd), "env": env}
        request["output"] = str(output)
        if output.parent.name.startswith(RUN_FOLDER_PREFIX):  # removed by the zygote if it kills the run
            request["folder"] = str(output.parent)
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(30)
            connection.connect(str(self.socket_path))
            connection.sendall(json.dumps(request).encode() + b"\n")
            buffer = b""
            while b"\n" not in buffer:
                chunk = connection.recv(4096)
                if not chunk:
                    raise ZygoteError("the zygote closed the connection without forking")
                buffer += chunk
            reply = json.loads(buffer.split(b"\n", 1)[0])
            if "pid" not in reply:
                raise ZygoteError(f"the zygote refused the request: {reply.get('error', reply)}")
            return Forked(connection, int(reply["pid"]))
        except (OSError, ValueError) as error:
            connection.close()
            raise ZygoteError(f"the zygote did not answer: {error}") from error
        except ZygoteError:
            connection.close()
            raise


# --- inside the zygote process -------------------------------------------------------------------


def _run_fork(connection: socket.socket, request: dict, zygote: int) -> None:
    """In the fork: become an ``nbgrader`` run as :meth:`Zygote.spawn` asked, dying with the zygote
    (``zygote``, its PID); never return."""
    code = 1
    try:
        die_with_parent(zygote)
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # nbgrader waits for its kernel
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["nbgrader", *request["argv"]]
        from nbgrader.apps.nbgraderapp import main

        preloaded = set(sys.modules)
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        imports = os.environ.get(IMPORTS_ENV)
        if imports:  # what the run imported that the zygote had not (tests/test_zygote.py reads it)
            Path(imports).write_text(json.dumps(sorted(set(sys.modules) - preloaded)))
    except BaseException:  # noqa: BLE001 - reported as output and a non-zero status
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"rc": code}).encode() + b"\n")
        os._exit(code)


def serve(socket_path: Path, lifeline_fd: int) -> None:
    """The zygote's main loop: preload, say ready, fork one run per authenticated request; end (its
    runs first) when the process that started it closes the lifeline ``lifeline_fd`` or dies."""
    import importlib

    lifeline = Lifeline(lifeline_fd, socket_path.parent)
    forks = Forks()
    token = sys.stdin.readline().strip()
    for name in PRELOAD:
        importlib.import_module(name)
    import torch

    torch.ones(2, device="meta") + 1  # noqa: B018 - loads the meta kernels without starting threads
    server = listen(socket_path)
    while True:
        connection = next_request(server, lifeline, forks)
        try:
            connection.settimeout(30)
            buffer = b""
            while b"\n" not in buffer:
                chunk = connection.recv(1 << 20)
                if not chunk:
                    break
                buffer += chunk
            request = json.loads(buffer.split(b"\n", 1)[0])
            if not secrets.compare_digest(str(request.get("token", "")), token):
                connection.sendall(b'{"error": "bad token"}\n')
                connection.close()
                continue
            connection.settimeout(None)
        except (OSError, ValueError):
            connection.close()
            continue
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            server.close()
            os.close(lifeline.fd)
            forks.close_in_child()
            _run_fork(connection, request, zygote)
        folder = request.get("folder")
        forks.add(pid, Path(folder) if isinstance(folder, str) else None)
        connection.close()


# --- in a grading process that is being stopped ------------------------------------------------------


def end_runs_now(folders: Iterable[Path] = ()) -> None:
    """Kill this process's ``nbgrader`` runs started as new programs (their sandboxes end with them:
    each launcher gets SIGTERM when its run dies), remove their per-submission folders and ``folders``.
    For a grading process about to die of SIGTERM: its preloaded processes end on their own when it is
    gone, and take their forks with them."""
    import psutil

    ended: list[tuple[psutil.Process, Path]] = []
    for child in psutil.Process().children():
        try:
            status = child.environ().get(STATUS_ENV)  # set only for a submission's run
        except psutil.Error:
            continue
        if not status or not Path(status).parent.name.startswith(RUN_FOLDER_PREFIX):
            continue
        try:
            if os.getpgid(child.pid) == child.pid:  # its own group (a new session): its tree with it
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
        except (OSError, psutil.Error):
            continue
        ended.append((child, Path(status).parent))
    psutil.wait_procs([child for child, _ in ended], timeout=10)
    for _, folder in ended:
        remove_folder(folder)
    for folder in folders:
        remove_folder(folder)


if __name__ == "__main__":
    serve(Path(sys.argv[1]) / Zygote.SOCKET, int(sys.argv[2]))
