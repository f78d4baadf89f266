"""Resource exhaustion: a correct answer plus an attempt to take more than the limits give.

The attacks are bounded so that a grader without limits is not hurt for long (the fork bomb stops at
512 processes, memory and file systems are freed at once). One that got past a limit prints an
``ESCAPED:`` line with what it held; outputs that are too big are caught by the suite's size checks.
"""

from __future__ import annotations

from typing import Any

from . import Attack, Context

_STATUS = """
import os as _os
import time as _time


def _status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return 0
"""

_FORK_BOMB = (
    _STATUS
    + """
_pids = []
for _i in range(512):
    try:
        _pid = _os.fork()
    except OSError as _error:
        print("fork refused after", _i, "processes:", type(_error).__name__)
        break
    if _pid == 0:
        _time.sleep(30)
        _os._exit(0)
    _pids.append(_pid)
if len(_pids) >= 512:
    print("ESCAPED: started", len(_pids), "processes")
for _pid in _pids:
    _os.kill(_pid, 9)
    _os.waitpid(_pid, 0)
"""
)

_FORKED_MEMORY = (
    _STATUS
    + """
import select as _select

import numpy as _numpy

_limit = @MEMORY_MB@
_each = max(64, min(_limit - _status_mb("VmSize") - 300, 1536))
_pids = []
_read, _write = _os.pipe()
for _i in range(min(40, _limit // _each + 1)):
    try:
        _pid = _os.fork()
    except OSError:
        break
    if _pid == 0:  # a child: hold the memory (report 1) or say it could not (report 0)
        try:
            _block = _numpy.ones(_each * 2**20, dtype=_numpy.uint8)
            _os.write(_write, b"1")
            _time.sleep(60)
        except BaseException:
            _os.write(_write, b"0")
        finally:
            _os._exit(0)
    _pids.append(_pid)
_reports, _dead, _deadline = b"", set(), _time.time() + 35
while len(_reports) + len(_dead) < len(_pids) and _time.time() < _deadline:
    if _select.select([_read], [], [], 1)[0]:
        _reports += _os.read(_read, 64)
    for _pid in _pids:  # a child killed for memory never reports
        if _pid not in _dead and _os.waitpid(_pid, _os.WNOHANG)[0]:
            _dead.add(_pid)
_held = _reports.count(b"1")
_failed = _reports.count(b"0")
print("children holding", _held, "x", _each, "MB;", _failed, "failed;", len(_dead), "died")
if _held * _each > _limit:
    print("ESCAPED: the kernel's children held", _held * _each, "MB against a", _limit, "MB limit")
for _pid in _pids:
    try:
        _os.kill(_pid, 9)
        _os.waitpid(_pid, 0)
    except OSError:
        pass
"""
)

_RAM_FILESYSTEMS = (
    _STATUS
    + """
import numpy as _numpy

_limit = @MEMORY_MB@


def _allocatable():
    blocks = []
    try:
        while len(blocks) * 128 < _limit + 1024:
            blocks.append(_numpy.ones(128 * 2**20, dtype=_numpy.uint8))
    except MemoryError:
        pass
    return len(blocks) * 128


def _fstype(path):
    best, kind = "", ""
    path = _os.path.realpath(path)
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        point, after = fields[4], fields[fields.index("-") + 1]
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, after
    return kind


_before = _allocatable()
"""
)

_RAM_FILESYSTEMS_AFTER = """
_written, _files = 0, []
for _folder in sorted({"/dev/shm", _os.environ.get("TMPDIR", "/tmp"), "/tmp", _os.getcwd()}):
    if _fstype(_folder) not in ("tmpfs", "ramfs"):
        continue
    try:
        while _written < _limit:
            _path = _os.path.join(_folder, f"@TAG@-{len(_files)}")
            _files.append(_path)
            with open(_path, "wb") as _handle:
                _handle.write(b"\\1" * (32 * 2**20))
            _written += 32
    except OSError as _error:
        print("stopped writing in", _folder, type(_error).__name__)
_after = _allocatable()
_mounts = {}
for _folder in {"/dev/shm", _os.environ.get("TMPDIR", "/tmp"), "/tmp", _os.getcwd()}:
    if _fstype(_folder) in ("tmpfs", "ramfs"):  # ramfs reports no size: no cap
        _stats = _os.statvfs(_folder)
        _mounts[_os.stat(_folder).st_dev] = _stats.f_blocks * _stats.f_frsize // 2**20
_capped = sum(_mounts.values())
print("allocatable", _before, "MB; wrote", _written, "MB to RAM-backed files (their size caps add up to",
      _capped, "MB); then allocatable", _after, "MB")
if _before > _limit:
    print("ESCAPED: allocated", _before, "MB against a", _limit, "MB limit")
# RAM-backed files must either count against the memory limit or be capped well below it.
if _written >= 256 and _after > _before - _written // 2 and (_capped >= _limit // 2 or _written > _capped):
    print("ESCAPED:", _written, "MB of RAM-backed files did not count against the memory limit")
for _path in _files:
    try:
        _os.remove(_path)
    except OSError:
        pass
"""


def _huge_notebook(notebook: Any, context: Context) -> None:
    """150 MB of a stale output in a student cell: the file itself is huge before anything runs."""
    import nbformat

    demo = next(c for c in notebook.cells if c.cell_type == "code" and "nbgrader" not in c.metadata)
    demo.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "A" * 150_000_000})]


ATTACKS = [
    Attack(
        "fork_bomb",
        "resources",
        "starts up to 512 sleeping processes",
        base="solution",
        before={"dropout_mask": _FORK_BOMB},
    ),
    Attack(
        "forked_memory",
        "resources",
        "forked children each allocate as much as a per-process limit allows, together more than the limit",
        base="solution",
        before={"dropout_mask": _FORKED_MEMORY},
    ),
    Attack(
        "ram_filesystems",
        "resources",
        "writes /dev/shm, the temporary folder and the working folder when they are RAM-backed, and "
        "measures whether that memory counts against the kernel's limit (allocatable before and after)",
        base="solution",
        before={"dropout_mask": _RAM_FILESYSTEMS, "dropout_forward": _RAM_FILESYSTEMS_AFTER},
    ),
    Attack(
        "png_output_90mb",
        "resources",
        "a 90 MB image/png output",
        base="solution",
        before={
            "dropout_mask": "from IPython.display import display\n"
            'display({"image/png": "iVBORw0KGgo" + "A" * 120_000_000}, raw=True)\n'
        },
    ),
    Attack(
        "html_output_90mb",
        "resources",
        "a 90 MB text/html output",
        base="solution",
        before={
            "dropout_mask": "from IPython.display import HTML, display\n"
            "display(HTML('<p>grades</p>' * 7_500_000))\n"
        },
    ),
    Attack(
        "huge_notebook",
        "resources",
        "a 150 MB notebook file (a stale output in a student cell)",
        base="solution",
        edit=_huge_notebook,
    ),
    Attack(
        "endless_loop_ignoring_interrupt",
        "resources",
        "an endless loop in an answer cell that ignores the interrupt the cell time limit sends",
        base="solution",
        before={
            "dropout_mask": "import signal\n\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
        },
    ),
]
