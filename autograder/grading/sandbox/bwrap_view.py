"""The bubblewrap command line for one kernel: what it sees, what it may write, what it may not do.

:func:`bwrap_arguments` turns a :class:`View` into ``bwrap`` options. The kernel sees the host's file
system read-only (``--ro-bind / /``) except:

* folders that hold other people's data are replaced by empty read-only folders: home folders,
  ``/run`` (daemons' sockets), ``/var/lib``, ``/var/tmp``, ``/mnt``, ... (:data:`MASKED`), and the
  paths the grader names (solutions, the instructor workspace with the gradebook and every
  submission, database socket folders, the repository's ``.git``); ``/etc/shadow`` is empty;
  the interpreter, the virtual environment and the course package are mounted back read-only;
* a fresh ``/proc`` for its own PID namespace, with ``/proc/sys`` (and ``sysrq-trigger``, ``irq``,
  ``bus``) read-only, ``/sys`` read-only, a minimal ``/dev``;
* writable: a private ``/tmp`` (also ``HOME`` and ``TMPDIR``), a private ``/dev/shm`` and the private
  copy of the submission folder (``/tmp/submission``, the working folder), each its own size-capped
  tmpfs, and the folder of the kernel's own ZeroMQ sockets;
* new user, PID, IPC, UTS, cgroup and network namespaces (no network interface but loopback), no
  capabilities, no further user namespaces, a new session (no terminal injection), killed with its
  launcher, and a seccomp filter (:mod:`.seccomp_filter`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

WORK = "/tmp/submission"
MASKED = (
    "/root", "/home", "/run", "/tmp", "/var/tmp", "/var/lib", "/var/log", "/var/spool", "/var/mail",
    "/var/backups", "/var/cache", "/mnt", "/media", "/srv", "/lost+found",
)  # fmt: skip
EMPTIED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
READ_ONLY_PROC = ("sysrq-trigger", "irq", "bus", "fs")


@dataclass
class View:
    """Everything that differs between two kernels' sandboxes."""

    hide: list[str]
    folders: list[str]  # of the private copy, relative
    files: list[tuple[str, int]]  # (relative path, open fd) of the private copy
    writable: list[str] = field(default_factory=list)  # host folders bound read-write (kernel sockets)
    extra_files: list[tuple[int, str]] = field(default_factory=list)  # (fd, path in the sandbox)
    share_net: bool = False
    seccomp_fd: int | None = None
    status_fd: int | None = None
    work_mb: int = 512
    tmp_mb: int = 256
    shm_mb: int = 64
    env: dict[str, str] = field(default_factory=dict)


def needed_paths() -> list[str]:
    """What the kernel's interpreter reads: the interpreter's prefixes, its import path, the package."""
    import autograder

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths |= {entry for entry in sys.path if entry}
    paths.add(str(Path(autograder.__file__).parent))
    paths.add(str(Path(sys.executable).resolve().parent.parent))
    real = {os.path.realpath(p) for p in paths if os.path.isdir(p) or os.path.isfile(p)}
    return sorted(p for p in real if p != "/")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def bwrap_arguments(view: View) -> list[str]:
    args = ["--ro-bind", "/", "/", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    for name in READ_ONLY_PROC:
        args += ["--ro-bind-try", f"/proc/{name}", f"/proc/{name}"]
    args += ["--ro-bind-try", "/sys", "/sys", "--dev", "/dev"]
    args += ["--size", str(view.shm_mb * 2**20), "--tmpfs", "/dev/shm"]
    masked = [m for m in MASKED if os.path.isdir(m) and not os.path.islink(m)]
    home = os.path.realpath(os.path.expanduser("~"))
    if home != "/" and os.path.isdir(home) and not any(_inside(home, m) for m in masked):
        masked.append(home)
    for folder in masked:
        if folder == "/tmp":
            args += ["--size", str(view.tmp_mb * 2**20), "--perms", "1777", "--tmpfs", "/tmp"]
        else:
            args += ["--tmpfs", folder]
    for path in EMPTIED_FILES:
        if os.path.isfile(path):
            args += ["--ro-bind", "/dev/null", path]
    needed = needed_paths()
    for path in needed:
        if any(_inside(path, m) for m in masked):
            args += ["--ro-bind", path, path]
    args += ["--size", str(view.work_mb * 2**20), "--tmpfs", WORK]
    for folder in view.folders:
        args += ["--dir", f"{WORK}/{folder}"]
    for relative, fd in view.files:
        args += ["--file", str(fd), f"{WORK}/{relative}"]
    for fd, path in view.extra_files:
        args += ["--perms", "0600", "--file", str(fd), path]
    for path in view.writable:
        args += ["--bind", path, path]
    for path in view.hide:
        hidden_already = any(_inside(path, m) for m in masked) and not any(_inside(path, n) for n in needed)
        if hidden_already or not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    for folder in masked:
        if folder != "/tmp":
            args += ["--remount-ro", folder]
    args += ["--chdir", WORK, "--unshare-all", "--unshare-user", "--disable-userns"]
    if view.share_net:
        args.append("--share-net")
    args += ["--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if view.seccomp_fd is not None:
        args += ["--seccomp", str(view.seccomp_fd)]
    if view.status_fd is not None:
        args += ["--json-status-fd", str(view.status_fd)]
    for name, value in view.env.items():
        args += ["--setenv", name, value]
    return args
