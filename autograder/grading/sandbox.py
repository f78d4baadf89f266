"""Run a student's kernel with limits, and without sight of hidden tests or other students' work.

nbgrader runs student code unsandboxed, in the same kernel as the hidden tests. The class grader
(:mod:`autograder.grading.classroom`) starts each kernel through this module's launcher instead, named in a
kernelspec (:func:`write_kernelspec`), so that every notebook runs:

* with a memory limit (``RLIMIT_AS``) and a file-size limit (``RLIMIT_FSIZE``) on the kernel;
* in a working folder that is a private copy of the submission's folder (on a fresh ``tmpfs``, which
  also holds its ``TMPDIR``), with a private ``/dev/shm``; every other mount is read-only;
* with the paths it is told to hide (the course's ``solutions/``, the instructor workspace with the
  gradebook and every other submission, a database socket folder) covered by empty read-only mounts;
* in its own PID namespace with a fresh ``/proc`` (no peeking at the grader's files through
  ``/proc/<pid>/cwd``), and finally in a user namespace, which locks all of the above: the kernel can
  neither unmount the covers nor make anything writable again.

Network: the grader starts nbgrader itself in an empty network namespace (:func:`offline_command`),
where the kernel and nbgrader talk over a private loopback and nothing else is reachable.

All of this needs Linux and root (CI and the course machines run as root). Elsewhere
:func:`isolation_available` says why not, and the launcher applies the resource limits only; the
grader reports which isolation it used. Not covered: CPU time beyond the time limits (the grader
kills a notebook that runs past its limit), and side channels such as timing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KERNEL_NAME = "dropout-sandbox"

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    """Limits on one submission's notebook."""

    cell_timeout_s: int = 60  # nbgrader interrupts a cell after this long and records an error
    notebook_timeout_s: int = 300  # the grader kills the whole notebook's run after this long
    memory_mb: int = 6144  # address space of the kernel (torch alone maps about 1.5 GB)
    max_file_mb: int = 64  # largest file the kernel may write


# --------------------------------------------------------------------------------------------------
# What the grader calls
# --------------------------------------------------------------------------------------------------
def isolation_available() -> tuple[bool, str]:
    """Whether this machine can isolate kernels (Linux, root, namespaces allowed) and, if not, why."""
    if not sys.platform.startswith("linux"):
        return False, f"kernel isolation needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return False, "kernel isolation needs root (namespaces and mounts); running with limits only"
    with tempfile.TemporaryDirectory() as empty:
        probe = subprocess.run(
            [sys.executable, "-m", "autograder.grading.sandbox", "--probe"],
            capture_output=True, text=True, timeout=60, cwd=empty,
        )  # fmt: skip
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return False, f"this machine refuses the namespaces kernel isolation needs ({reason})"
    return True, "isolated: private file view, hidden tests and other submissions hidden, no network"


def offline_command(command: Sequence[str]) -> list[str]:
    """``command`` run in an empty network namespace with only its own loopback up."""
    script = 'ip link set lo up && exec "$@"'
    return ["unshare", "--net", "--", "sh", "-c", script, "sh", *command]


def network_isolation_available() -> tuple[bool, str]:
    """Whether :func:`offline_command` works here (needs root, ``unshare`` and ``ip``)."""
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return False, f"no network isolation: {', '.join(missing)} not found"
    result = subprocess.run(offline_command(["true"]), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return False, f"no network isolation: {result.stderr.strip()[-200:] or 'unshare failed'}"
    return True, "no network (an empty network namespace)"


def write_kernelspec(
    jupyter_path: Path, *, hide: Sequence[Path], limits: Limits, isolate: bool = True
) -> str:
    """Write a kernelspec whose kernel starts through the launcher; put ``jupyter_path`` on JUPYTER_PATH."""
    kernel_dir = jupyter_path / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "autograder.grading.sandbox", "--memory-mb", str(limits.memory_mb)]
    argv += ["--file-mb", str(limits.max_file_mb)]
    for path in hide:
        argv += ["--hide", str(Path(path).resolve())]
    if not isolate:
        argv.append("--limits-only")
    argv += ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (dropout-course sandbox)", "language": "python"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return KERNEL_NAME


# --------------------------------------------------------------------------------------------------
# The launcher (runs as the kernel's process)
# --------------------------------------------------------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _apply_limits(memory_mb: int, file_mb: int) -> None:
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


_MAX_COPY_BYTES = 256 * 2**20


def _copy_submission(source: str, target: str) -> None:
    """Copy the submission folder, refusing one too large to be a submission (a wrong working folder)."""
    total = 0
    for folder, _, files in os.walk(source):
        for name in files:
            path = os.path.join(folder, name)
            total += os.lstat(path).st_size
            if total > _MAX_COPY_BYTES:
                raise OSError(f"the submission folder {os.getcwd()} holds over 256 MiB; refusing to copy it")
    shutil.copytree(source, target, symlinks=True)


def _mount_points() -> list[str]:
    """Every mount point of this mount namespace (from /proc/self/mountinfo, octal escapes decoded)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split()[4]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def _enter_private_view(work_root: str, hide: Sequence[str]) -> None:
    """In the new mount namespace: a private work area, covers on hidden paths, everything else ro.

    ``work_root`` is an empty folder made for this kernel; a fresh tmpfs on it holds a copy of the
    submission folder (the kernel's working folder) and the kernel's temporary files (``TMPDIR``).
    The rest of the file system stays visible (the interpreter and the course package may live
    anywhere, even under /tmp) but read-only, except a private /dev/shm.
    """
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("tmpfs", work_root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=512m,mode=700")
    work = os.path.join(work_root, "submission")
    _copy_submission(".", work)  # "." is still the submission folder (the cwd)
    os.chdir(work)
    os.makedirs(os.path.join(work_root, "tmp"))
    os.environ["TMPDIR"] = os.path.join(work_root, "tmp")
    writable = {work_root, "/proc"}
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=256m,mode=1777")
        writable.add("/dev/shm")
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    for path in hide:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "size=4k,mode=555")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, _MS_BIND | _MS_RDONLY)
    for point in _mount_points():
        if point in writable or point.startswith(("/proc/", "/sys/")) or point in ("/sys",):
            continue
        try:
            _mount(None, point, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
        except OSError:
            if point == "/":
                raise  # the one that matters most; others (pseudo file systems) may refuse


def _lock_in_user_namespace() -> None:
    """A user namespace mapping root to root: the mounts above become locked and cannot be undone."""
    uid, gid = os.getuid(), os.getgid()
    _call(_libc.unshare(_CLONE_NEWUSER), "unshare user namespace")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/setgroups").write_text("deny")  # required before mapping a group from inside
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _launch(command: Sequence[str], hide: Sequence[str]) -> int:
    command = list(command)
    # The kernel gets its own copy of its connection file, in its private work area.
    connection = None
    if "-f" in command[:-1]:
        connection = Path(command[command.index("-f") + 1]).read_bytes()
    work_root = tempfile.mkdtemp(prefix="dropout-sandbox-")  # a mount point, empty outside the kernel
    # Opened before the new mount namespace: through it the launcher can still remove the folder
    # afterwards, although its own view of the file system is read-only by then.
    outside = os.open(os.path.dirname(work_root), os.O_RDONLY | os.O_DIRECTORY)
    connection_path = os.path.join(work_root, "kernel-connection.json")
    if connection is not None:
        command[command.index("-f") + 1] = connection_path
    _call(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWPID), "unshare mount and pid namespaces")
    child = os.fork()
    if child == 0:  # PID 1 of the new PID namespace
        try:
            _call(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            _enter_private_view(work_root, hide)
            if connection is not None:
                fd = os.open(connection_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(connection)
            _lock_in_user_namespace()
            # The home folder is read-only now: tools that cache there get a private place instead.
            private = os.environ["TMPDIR"]
            os.environ["IPYTHONDIR"] = os.path.join(private, ".ipython")
            os.environ["MPLCONFIGDIR"] = os.path.join(private, ".matplotlib")
            os.execvp(command[0], command)
        except BaseException as error:  # noqa: BLE001 - report and leave without running anything
            print(f"sandbox: {str(error)[:500]}", file=sys.stderr)
            os._exit(70)
    # The parent stays outside so that jupyter's signals (interrupt, terminate) reach the kernel.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, lambda received, _frame: os.kill(child, received))
    try:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except ChildProcessError:
                return 70
            except InterruptedError:
                continue
    finally:
        _libc.umount2(work_root.encode(), 2)  # MNT_DETACH: this namespace's copy of the work area
        try:
            os.rmdir(os.path.basename(work_root), dir_fd=outside)
        except OSError:
            pass  # an empty folder left in the temporary directory; nothing else
        os.close(outside)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.grading.sandbox", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    parser.add_argument("--file-mb", type=int, default=Limits.max_file_mb)
    parser.add_argument("--hide", action="append", default=[], help="a path the kernel must not see")
    parser.add_argument("--limits-only", action="store_true", help="apply resource limits, no namespaces")
    parser.add_argument("--probe", action="store_true", help="check that isolation works, then exit")
    parser.add_argument("command", nargs="*", help="the kernel command (after --)")
    args = parser.parse_args(argv)
    if args.probe:
        return _launch(["true"], [])
    if not args.command:
        parser.error("give the kernel command after --")
    _apply_limits(args.memory_mb, args.file_mb)
    if args.limits_only:
        os.execvp(args.command[0], args.command)
    return _launch(args.command, args.hide)


if __name__ == "__main__":
    raise SystemExit(main())
