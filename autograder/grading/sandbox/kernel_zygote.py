"""A preloaded kernel process, forked into each submission's bubblewrap sandbox.

Every submission needs a fresh kernel in a fresh sandbox. Started as a new program, that kernel pays
for a new interpreter, ipykernel and ``import torch`` (about 1.8 s of the 3.3 s a submission cost on two
cores, measured with ``python -m autograder bench-grading``). The kernel zygote pays for them once per
grading run: it imports torch, ipykernel and the probe, then waits on a Unix socket in a private folder.
The sandbox itself is still made by bubblewrap, exactly as for a new program (:mod:`.launcher`,
:mod:`.bwrap_view`: the same file view, private copy, tmpfs sizes, namespaces and cgroup); only the
program bubblewrap runs is a placeholder that waits. For each kernel the launcher asks the zygote, and

1. the zygote checks the request's token and forks; it never parses the request itself and drops its
   copy at once (the fork that serves it parses it);
2. the fork joins the placeholder's cgroup, then all its namespaces at once (``setns`` on a pidfd:
   user, mount, PID, network, IPC, UTS and cgroup), which also makes the sandbox's root its root;
3. it takes the working folder, the file-size and address-space limits, drops every capability
   (bounding, ambient, permitted, effective, inheritable), sets ``no_new_privs`` and loads the same
   seccomp filter bubblewrap installs (:mod:`.seccomp_filter`, built with libseccomp);
4. it checks all of that in its host ``/proc`` entry (``status`` and the namespace links), and refuses
   (the launcher then starts a new program as before) when anything differs;
5. it forks once more, so the kernel is inside the sandbox's PID namespace, killed with it; the kernel
   gets the launcher's standard streams and environment, a new session and fresh random seeds, and
   runs ``ipykernel`` (or ``python -c CODE``, which the sandbox's tests use).

The zygote is the grader's own process: it never runs student code, and it starts with the grading
environment, before any submission is read. Its socket lies in a private (0700) folder under the
temporary folder, which every sandbox masks; the token travels only in the launcher's environment,
which the launcher removes before starting bubblewrap. Fork mode needs root (or a delegated cgroup) for
the cgroup and Linux 5.8 for ``setns`` on a pidfd; where it is not available, or when anything fails,
the kernel starts as a new program, as before. ``tests/test_sandbox.py`` runs every isolation attack
against both.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

SOCKET_ENV = "AUTOGRADER_KERNEL_ZYGOTE"
TOKEN_ENV = "AUTOGRADER_KERNEL_ZYGOTE_TOKEN"
START_TIMEOUT_S = 120.0
CLOSE_TIMEOUT_S = 10.0  # how long :meth:`PreloadedProcess.close` waits for it to clean up before SIGKILL

#: What a grading kernel imports anyway: loaded once, before any fork.
PRELOAD = (
    "torch",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "IPython",
    "IPython.core.interactiveshell",
    "autograder.probe",
    "autograder.probe.lazy_dynamo",  # the setup cell imports it (it defers nothing: dynamo is loaded)
    # Imported by every ``Optimizer.step`` (the practice assignment trains): about a second per kernel
    # otherwise. Importing it starts no thread.
    "torch._dynamo",
)

_NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")
_CLONE_FLAGS = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x02000000
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
_PR_SET_PDEATHSIG = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class KernelZygoteError(RuntimeError):
    """The kernel zygote could not start, or could not fork a kernel into a sandbox."""


class PreloadedProcess:
    """A grader's helper process that imports once and then forks on request: started with a random
    token on its standard input, answering on a Unix socket in a private (0700) folder, ready once it
    writes ``ready`` there. :class:`KernelZygote` and the nbgrader zygote
    (:class:`autograder.grading.zygote.Zygote`) are both made this way.

    It never outlives the process that started it: it holds the read end of a pipe (its *lifeline*)
    whose write end only that process holds. However that process ends (its own end, an exception,
    SIGTERM, SIGKILL), the kernel closes the write end; the helper sees end-of-file, kills the forks it
    made (:class:`Forks`), removes their folders, the folders it was told to :meth:`own` and its own
    folder, and exits (:class:`Lifeline`). A pipe, not ``PR_SET_PDEATHSIG``: that signal follows the
    *thread* that started the helper, and a Dask worker starts it from a task's thread.
    """

    SOCKET = "preloaded.sock"  # the socket's name in the folder
    Error: type[RuntimeError] = RuntimeError  # what :meth:`_launch` raises
    WHAT = "the preloaded process"  # its name in messages

    def __init__(self, folder: Path, process: subprocess.Popen[bytes], token: str, lifeline: int) -> None:
        self.folder = folder
        self.socket_path = folder / self.SOCKET
        self._process = process
        self._token = token
        self._lifeline: int | None = lifeline  # the write end of its lifeline (see the class docstring)

    @classmethod
    def _launch(cls, command: Sequence[str], env: dict[str, str], prefix: str) -> Self:
        """Start ``command`` + the private folder + its lifeline's descriptor (its two arguments) with
        ``env`` (CUDA is never initialised before a fork) and wait until it is ready; :attr:`Error` when
        it cannot."""
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        folder.chmod(0o700)
        token = secrets.token_hex(32)
        child_env = {**env, "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}  # NVML answers without initialising CUDA
        log_path = folder / "process.log"
        log = open(log_path, "wb")  # noqa: SIM115 - its output, read on failure
        # Both ends are close-on-exec: no other child of this process inherits the write end (which
        # would keep the lifeline open after this process died); only the helper gets the read end.
        lifeline_read, lifeline_write = os.pipe()
        try:
            process = subprocess.Popen(
                [*command, str(folder), str(lifeline_read)], stdin=subprocess.PIPE, stdout=log, stderr=log,
                env=child_env, start_new_session=True, pass_fds=(lifeline_read,),
            )  # fmt: skip
        except OSError as error:
            os.close(lifeline_write)
            shutil.rmtree(folder, ignore_errors=True)
            raise cls.Error(f"could not start {cls.WHAT}: {error}") from error
        finally:
            log.close()
            os.close(lifeline_read)
        assert process.stdin is not None
        process.stdin.write(token.encode() + b"\n")
        process.stdin.close()
        started = cls(folder, process, token, lifeline_write)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (folder / "ready").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                why = log_path.read_text(errors="replace").strip().splitlines()
                started.close(grace_s=0)
                raise cls.Error(f"{cls.WHAT} did not start: {(why or ['no output'])[-1][:300]}")
            time.sleep(0.02)
        return started

    def alive(self) -> bool:
        return self._process.poll() is None

    def own(self, folder: Path) -> None:
        """Have it remove ``folder`` (a folder of this run) if this process dies without :meth:`close`."""
        self._tell(f"own {folder}\n".encode())

    def _tell(self, line: bytes) -> None:
        if self._lifeline is not None:
            with contextlib.suppress(OSError):  # it is gone (a broken pipe): nothing to tell
                os.write(self._lifeline, line)

    def close(self, grace_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop it: it kills the forks it made (a run or kernel still going ends now), removes their
        folders and its own, and exits; killed (SIGKILL) when it has not within ``grace_s`` seconds."""
        if self._lifeline is not None:
            self._tell(b"close\n")  # an orderly end: the folders it was told to own stay
            os.close(self._lifeline)
            self._lifeline = None
        if self._process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace_s)
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- inside a preloaded process: its lifetime --------------------------------------------------------


def die_with_parent(parent: int) -> None:
    """In a fork of a preloaded process (``parent``, single-threaded, so the forking thread lives as
    long as it does): be killed (SIGKILL) when ``parent`` dies; exit at once if it already has."""
    _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")
    if os.getppid() != parent:
        os._exit(1)


def remove_folder(folder: Path, timeout: float = 5.0) -> None:
    """Remove ``folder`` and keep removing it until it stays gone (a dying process may still write a
    last file into it) or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.lexists(folder) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


class Forks:
    """The forks a preloaded process made that may still run, each with the folder to remove if it is
    killed. Held as pidfds, so a PID reused after a fork ended is never signalled."""

    def __init__(self) -> None:
        self._forks: dict[int, tuple[int, Path | None]] = {}  # pidfd -> (pid, folder)

    def add(self, pid: int, folder: Path | None) -> None:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # ended already (or no pidfds: Linux before 5.3): it dies with us anyway
            return
        self._forks[pidfd] = (pid, folder)

    def _ended(self, pidfds: Sequence[int], timeout: float) -> set[int]:
        """Which of ``pidfds`` have ended (a pidfd turns readable), waiting up to ``timeout`` seconds
        for a first one."""
        poller = select.poll()
        for pidfd in pidfds:
            poller.register(pidfd, select.POLLIN)
        return {pidfd for pidfd, _ in poller.poll(max(0, int(timeout * 1000)))}

    def prune(self) -> None:
        """Forget the forks that have ended and whose folder is gone (the grader removed it)."""
        for pidfd in self._ended(list(self._forks), 0) if self._forks else ():
            folder = self._forks[pidfd][1]
            if folder is None or not os.path.lexists(folder):
                del self._forks[pidfd]
                os.close(pidfd)

    def close_in_child(self) -> None:
        """In a new fork: drop the descriptors (they are its siblings')."""
        for pidfd in self._forks:
            with contextlib.suppress(OSError):
                os.close(pidfd)
        self._forks = {}

    def end(self, timeout: float = 10.0) -> None:
        """Kill every fork still running, wait until they have ended, remove their folders."""
        for pidfd in self._forks:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        running = list(self._forks)
        while running and time.monotonic() < deadline:
            ended = self._ended(running, deadline - time.monotonic())
            running = [pidfd for pidfd in running if pidfd not in ended]
        for _pid, folder in self._forks.values():
            if folder is not None:
                remove_folder(folder)


class Lifeline:
    """A preloaded process's end of the pipe the process that started it holds open (see
    :class:`PreloadedProcess`). That process writes ``own PATH`` (a folder of the run to remove if it
    dies) and ``close`` (an orderly end) lines; end-of-file without ``close`` means it died."""

    def __init__(self, fd: int, folder: Path) -> None:
        self.fd = fd
        self.folder = folder  # the helper's own private folder
        self.owned: list[Path] = []
        self._buffer = b""
        self._orderly = False

    def read(self) -> bool:
        """Read what is waiting (call when ``fd`` is readable); ``False``: the helper must end now."""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"own "):
                self.owned.append(Path(os.fsdecode(line[4:])))
            elif line == b"close":
                self._orderly = True
                return False
        return True

    def end(self, forks: Forks | None = None) -> None:
        """End the helper: kill its forks (and remove their folders), remove the owned folders (unless
        this is an orderly close: the grader keeps using them) and its own folder; never returns."""
        try:
            if forks is not None:
                forks.end()
            for folder in [] if self._orderly else self.owned:
                remove_folder(folder)
            remove_folder(self.folder)
        finally:
            os._exit(0)


class KernelZygote(PreloadedProcess):
    """The preloaded kernel process of one grading run: :meth:`start`, :meth:`env`, :meth:`close`."""

    SOCKET = "kernel-zygote.sock"
    Error = KernelZygoteError
    WHAT = "the kernel zygote"

    @classmethod
    def start(cls, env: dict[str, str]) -> KernelZygote:
        """Start it with the kernels' environment ``env``; :class:`KernelZygoteError` when it cannot."""
        # Run as a script, not as ``-m autograder.grading.sandbox...``: its forks are the students'
        # kernels, which must not hold the grading package (the checks, the pipeline) in memory.
        child_env = {k: v for k, v in env.items() if k not in (SOCKET_ENV, TOKEN_ENV)}
        return cls._launch([sys.executable, "-I", __file__], child_env, "dropout-kernel-zygote-")

    def env(self) -> dict[str, str]:
        """The variables that tell the launcher where to ask for forked kernels."""
        return {SOCKET_ENV: str(self.socket_path), TOKEN_ENV: self._token}


# --- the launcher's side ---------------------------------------------------------------------------


def forkable(command: Sequence[str]) -> list[str] | None:
    """The arguments after ``python -I`` when ``command`` is a kernel the zygote can become (``-m
    ipykernel_launcher ...`` or ``-c CODE``) run by this interpreter; ``None`` otherwise."""
    if len(command) < 3 or os.path.realpath(command[0]) != os.path.realpath(sys.executable):
        return None
    if command[1] != "-I":
        return None
    rest = list(command[2:])
    if rest[:2] == ["-m", "ipykernel_launcher"] or (rest[:1] == ["-c"] and len(rest) >= 2):
        return rest
    return None


class ForkedKernel:
    """A kernel the zygote forked into a sandbox: its PID (seen from outside) and a wait for its exit."""

    def __init__(self, pid: int, connection: socket.socket, rest: bytes) -> None:
        self.pid = pid
        self._connection = connection
        self._buffer = rest

    def wait(self) -> int | None:
        """Block until the kernel exits; its exit status (negative: killed by that signal), or None."""
        try:
            self._connection.settimeout(None)
            while b"\n" not in self._buffer:
                chunk = self._connection.recv(4096)
                if not chunk:
                    return None
                self._buffer += chunk
            reply = json.loads(self._buffer.split(b"\n", 1)[0])
            return int(reply["rc"]) if isinstance(reply, dict) and isinstance(reply.get("rc"), int) else None
        except (OSError, ValueError):
            return None
        finally:
            self._connection.close()


def request_kernel(
    socket_path: str, token: str, *, sandbox_pid: int, python_args: Sequence[str], env: dict[str, str],
    workdir: str, cgroup_procs: Sequence[str], file_bytes: int, address_bytes: int,
    seccomp_bpf: bytes | None, timeout: float = 30.0,
) -> ForkedKernel:  # fmt: skip
    """Ask the zygote for a kernel in the sandbox whose placeholder is ``sandbox_pid``. Standard streams
    are this process's. :class:`KernelZygoteError` when it failed."""
    request = {
        "sandbox_pid": sandbox_pid, "args": list(python_args), "env": env, "workdir": workdir,
        "cgroup_procs": list(cgroup_procs), "file_bytes": file_bytes, "address_bytes": address_bytes,
        "seccomp": seccomp_bpf.hex() if seccomp_bpf is not None else None,
    }  # fmt: skip
    data = token.encode() + b"\n" + json.dumps(request).encode() + b"\n"
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(timeout)
        connection.connect(socket_path)
        socket.send_fds(connection, [data], [0, 1, 2])
        buffer = b""
        while b"\n" not in buffer:
            chunk = connection.recv(4096)
            if not chunk:
                raise KernelZygoteError("the kernel zygote closed the connection without a kernel")
            buffer += chunk
        line, rest = buffer.split(b"\n", 1)
        reply = json.loads(line)
    except (OSError, ValueError) as error:
        connection.close()
        raise KernelZygoteError(f"the kernel zygote did not answer: {error}") from error
    if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
        connection.close()
        raise KernelZygoteError(f"the kernel zygote refused: {str(reply.get('error', reply))[:300]}")
    return ForkedKernel(int(reply["pid"]), connection, rest)


# --- inside the zygote -----------------------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)
    ]  # fmt: skip


def _drop_privileges(libc: ctypes.CDLL, last: int) -> None:
    """Every capability set emptied, then ``no_new_privs`` (as bubblewrap's ``--cap-drop ALL``)."""
    for cap in range(last + 1):
        _check(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap} from the bounding set")
    _check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _load_seccomp(program: bytes) -> None:
    """Load the BPF program bubblewrap would load (``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)``)."""

    class _SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    pr_set_seccomp, seccomp_mode_filter = 22, 2
    _check(_libc().prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0), "seccomp")


def _status(proc: int) -> dict[str, str]:
    """This process's ``/proc/<pid>/status`` through ``proc``, a descriptor of its /proc folder."""
    fd = os.open("status", os.O_RDONLY, dir_fd=proc)
    try:
        text = os.read(fd, 1 << 16).decode()
    finally:
        os.close(fd)
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _verify(proc: int, namespaces: dict[str, str], seccomp: bool) -> None:
    """Refuse unless this process is in exactly the sandbox's namespaces, with nothing left to escalate.

    ``proc`` is a descriptor of this process's folder in the host's /proc, opened before ``setns``: the
    sandbox's /proc shows only its own PID namespace, which this process (unlike its children) is not in.
    """
    for name, expected in namespaces.items():
        own = "pid_for_children" if name == "pid" else name  # setns moves only this process's children
        if os.readlink(f"ns/{own}", dir_fd=proc) != expected:
            raise RuntimeError(f"not in the sandbox's {name} namespace")
    status = _status(proc)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(status.get(key, "1"), 16) != 0:
            raise RuntimeError(f"{key} is {status.get(key)}, not empty")
    if status.get("NoNewPrivs") != "1":
        raise RuntimeError("no_new_privs is not set")
    if seccomp and status.get("Seccomp") != "2":
        raise RuntimeError("the seccomp filter is not in place")


def cap_rlimit(kind: int, value: int) -> None:
    """Set the soft and hard ``kind`` limit to ``value``, or to the hard limit when that is lower (the
    launcher uses it too: this module imports only the standard library, so it can run as a script)."""
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def _become_kernel(request: dict, fds: list[int]) -> None:
    """The kernel itself (inside the sandbox's PID namespace); never returns."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(request["env"])
        import random

        random.seed()  # a fresh process's seeds, not the zygote's
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        args = request["args"]
        if args[0] == "-c":
            import types

            sys.argv = ["-c", *args[2:]]
            main = types.ModuleType("__main__")  # as ``python -c`` runs it: in a fresh __main__
            sys.modules["__main__"] = main
            try:
                exec(compile(args[1], "<string>", "exec"), main.__dict__)  # noqa: S102 - the sandboxed program
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        else:
            from ipykernel import kernelapp

            sys.argv = [str(Path(kernelapp.__file__).parent.parent / "ipykernel_launcher.py"), *args[2:]]
            kernelapp.launch_new_instance()
            code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - the kernel's own crash, shown as a new program's would be
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _fork_kernel(connection: socket.socket, buffer: bytes, fds: list[int]) -> None:
    """In the zygote's fork: enter the sandbox, lock it down, check it, fork the kernel; never returns."""
    try:
        request = json.loads(buffer.split(b"\n", 1)[0])
        del buffer
        libc = _libc()
        target = int(request["sandbox_pid"])
        namespaces = {name: os.readlink(f"/proc/{target}/ns/{name}") for name in _NAMESPACES}
        if namespaces["user"] == os.readlink("/proc/self/ns/user"):
            raise RuntimeError("the target shares the zygote's user namespace: it is not a sandbox")
        last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        proc = os.open(f"/proc/{os.getpid()}", os.O_RDONLY | os.O_DIRECTORY)
        for procs in request.get("cgroup_procs") or []:  # the sandbox's cgroup: its limits count us too
            Path(procs).write_text(str(os.getpid()))
        pidfd = os.pidfd_open(target)
        try:
            _check(libc.setns(pidfd, _CLONE_FLAGS), "setns")
        finally:
            os.close(pidfd)
        os.chdir(request["workdir"])
        cap_rlimit(resource.RLIMIT_FSIZE, int(request["file_bytes"]))
        cap_rlimit(resource.RLIMIT_AS, int(request["address_bytes"]))
        _drop_privileges(libc, last_cap)
        seccomp = request.get("seccomp")
        if seccomp:
            _load_seccomp(bytes.fromhex(seccomp))
        _verify(proc, namespaces, bool(seccomp))
        os.close(proc)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; this process waits
        kernel = os.fork()
        if kernel == 0:
            connection.close()
            _become_kernel(request, fds)
    except BaseException as error:  # noqa: BLE001 - any failure is a refusal: the launcher starts a new program
        refusal = {"error": f"{type(error).__name__}: {error}"[:400]}
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps(refusal).encode() + b"\n")
        os._exit(0)
    # Stay (outside the sandbox's PID namespace, so the kernel cannot name this process) to report the
    # kernel's exit status to the launcher, as a new program's would be.
    code = None
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps({"pid": kernel}).encode() + b"\n")
        for fd in fds:
            os.close(fd)
        code = os.waitstatus_to_exitcode(os.waitpid(kernel, 0)[1])
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps({"rc": code}).encode() + b"\n")
    os._exit(0)


def listen(socket_path: Path) -> socket.socket:
    """A preloaded process's private socket, listening; ``ready`` written beside it (what
    :class:`PreloadedProcess` waits for). Its forks are reaped by the kernel, never left as zombies."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    os.chmod(socket_path, 0o600)
    server.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    (socket_path.parent / "ready").write_text("ready\n")
    return server


def next_request(server: socket.socket, lifeline: Lifeline, forks: Forks) -> socket.socket:
    """Wait for the next connection; when the lifeline closes instead (whoever started this process
    is gone), end everything this process started and exit (:meth:`Lifeline.end`)."""
    while True:
        readable, _, _ = select.select([server, lifeline.fd], [], [])
        if lifeline.fd in readable and not lifeline.read():
            server.close()
            lifeline.end(forks)
        if server in readable:
            forks.prune()
            connection, _ = server.accept()
            return connection


def serve(folder: Path, lifeline_fd: int) -> None:
    """The zygote's main loop: preload, say ready, fork once per request that carries the token; end
    when the process that started it closes the lifeline ``lifeline_fd`` or dies (:class:`Lifeline`).

    On its way out it kills its forks (each one reports a kernel's exit status to its launcher, which
    then ends that kernel's sandbox). They are not set to die with it (``PR_SET_PDEATHSIG``): a zygote
    killed alone (the out-of-memory killer) leaves the kernels it forked to finish their notebooks, as
    their death would be reported as the student's kernel dying."""
    import importlib
    import threading

    lifeline = Lifeline(lifeline_fd, folder)
    forks = Forks()
    token = sys.stdin.readline().strip().encode()
    for name in PRELOAD:
        importlib.import_module(name)
    import torch

    _ = torch.rand(2, device="meta") < 0.5  # loads the meta decompositions; starts no thread
    # Python threads would be lost in a fork while holding its locks. (numpy's OpenBLAS starts a native
    # thread at import; it registers fork handlers, and a fork keeps only the forking thread.)
    if threading.active_count() != 1:
        raise SystemExit("the kernel zygote has Python threads after its imports: it cannot fork")
    server = listen(folder / "kernel-zygote.sock")
    while True:
        connection = next_request(server, lifeline, forks)
        fds: list[int] = []
        try:
            connection.settimeout(30)
            buffer, fds, _, _ = socket.recv_fds(connection, 1 << 22, 3)
            while buffer.count(b"\n") < 2:
                chunk = connection.recv(1 << 22)
                if not chunk:
                    break
                buffer += chunk
            if len(fds) != 3 or not secrets.compare_digest(buffer.split(b"\n", 1)[0], token):
                connection.sendall(b'{"error": "bad token"}\n')
                raise ValueError("refused")
            connection.settimeout(None)
        except (OSError, ValueError):
            connection.close()
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            server.close()
            os.close(lifeline.fd)
            forks.close_in_child()
            # The kernel will inherit this stack: leave it no reference to the token (the socket it
            # opens is out of the sandbox's sight anyway).
            data, buffer, token = buffer.split(b"\n", 1)[1], b"", b""
            _fork_kernel(connection, data, fds)
        forks.add(pid, None)
        connection.close()
        for fd in fds:
            os.close(fd)
        del buffer


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
