"""A memory and pids cgroup for one kernel's whole process tree (cgroup v1 or v2), where one can be made.

:func:`kernel_cgroup` makes a child of the launcher's own cgroup, named after the launcher's PID, with a
memory limit (swap included where the kernel accounts it) and a cap on processes and threads; the
launcher moves the sandbox into it before bubblewrap starts, so every process the student forks is
counted, and so are the pages of the kernel's RAM-backed files (tmpfs pages count against the memory
cgroup of the process that writes them). Without a writable hierarchy (not root, no delegation) it
returns ``None`` and the reason, and the launcher falls back to per-process resource limits.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "dropout-sandbox-"


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _own_groups() -> tuple[dict[str, str], str | None]:
    """This process's cgroup path per v1 controller, and its v2 path (if any)."""
    v1: dict[str, str] = {}
    v2 = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            v2 = path
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    return v1, v2


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, root, mount point, super options) of every cgroup mount."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, after = line.split(" - ", 1)
        fields, tail = before.split(), after.split()
        if tail[0] in ("cgroup", "cgroup2"):
            options = set(tail[2].split(",")) if len(tail) > 2 else set()
            mounts.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), options))
    return mounts


def _under(mount_root: str, mount_point: str, path: str) -> Path | None:
    relative = os.path.relpath(path, mount_root)
    if relative.startswith(".."):
        return None
    return Path(mount_point, relative).resolve()


@dataclass
class KernelCgroup:
    """The cgroup folders (one for v2, one per controller for v1) that hold one kernel."""

    version: int
    folders: list[Path]
    memory_bytes: int
    max_processes: int

    def describe(self) -> str:
        swap = " (swap included)" if self.version == 2 or any(
            (f / "memory.memsw.limit_in_bytes").exists() for f in self.folders
        ) else ""  # fmt: skip
        return (
            f"cgroup v{self.version}: {self.memory_bytes // 2**20} MiB of memory{swap} and "
            f"{self.max_processes} processes for the kernel's whole process tree"
        )

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the calling process) into every folder."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(pid or os.getpid()))

    def processes(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found |= {int(p) for p in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def oom_kills(self) -> int:
        """How many times the memory limit killed a process (0 when the kernel does not say)."""
        for folder in self.folders:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    text = (folder / name).read_text()
                except OSError:
                    continue
                match = re.search(rf"^{key} (\d+)$", text, re.M)
                if match:
                    return int(match.group(1))
        return 0

    def remove(self) -> None:
        """Kill whatever is left inside, then remove the folders."""
        _remove(self.folders)


def _remove(folders: list[Path]) -> None:
    deadline = time.monotonic() + 10
    for folder in folders:
        while folder.exists():
            try:
                pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                pids = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                folder.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _sweep(parent: Path) -> None:
    """Remove the cgroups of launchers that died without cleaning up (killed with SIGKILL)."""
    for folder in parent.glob(PREFIX + "*"):
        pid = folder.name[len(PREFIX) :]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove([folder])


def cgroup_available() -> tuple[bool, str]:
    """Whether a kernel cgroup can be made here (made and removed at once) and what it is, or why not.

    Kernels are forked from the preloaded kernel process only into a cgroup: without one (an ordinary
    user without a delegated cgroup) they start as new programs, and no kernel zygote is worth starting."""
    cgroup, why = kernel_cgroup(256 * 2**20, 16)
    if cgroup is None:
        return False, why
    description = cgroup.describe()
    cgroup.remove()
    return True, description


def kernel_cgroup(memory_bytes: int, max_processes: int) -> tuple[KernelCgroup | None, str]:
    """A fresh cgroup with these limits, or ``None`` and why none could be made."""
    name = f"{PREFIX}{os.getpid()}"
    try:
        v1, v2 = _own_groups()
        mounts = _mounts()
    except OSError as error:
        return None, f"no cgroups ({error})"
    v1_parents = {}
    for fstype, root, point, options in mounts:
        for controller in ("memory", "pids"):
            if fstype == "cgroup" and controller in options and controller in v1:
                v1_parents[controller] = _under(root, point, v1[controller])
    reasons = []
    if all(v1_parents.get(c) for c in ("memory", "pids")):
        made: list[Path] = []
        try:
            for controller in ("memory", "pids"):
                parent = v1_parents[controller]
                _sweep(parent)
                folder = parent / name
                folder.mkdir()
                made.append(folder)
            memory, pids = made
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
            _write(pids / "pids.max", str(max_processes))
            return KernelCgroup(1, made, memory_bytes, max_processes), ""
        except OSError as error:
            _remove(made)
            reasons.append(f"cgroup v1 not writable ({error.strerror or error})")
    for fstype, root, point, _options in mounts:
        if fstype != "cgroup2" or v2 is None:
            continue
        parent = _under(root, point, v2)
        if parent is None:
            continue
        try:
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
        except OSError:
            continue
        if not {"memory", "pids"} <= enabled:
            reasons.append("cgroup v2 without the memory and pids controllers delegated")
            continue
        folder = parent / name
        try:
            _sweep(parent)
            folder.mkdir()
            _write(folder / "memory.max", str(memory_bytes))
            if (folder / "memory.swap.max").exists():
                _write(folder / "memory.swap.max", "0")
            _write(folder / "pids.max", str(max_processes))
            return KernelCgroup(2, [folder], memory_bytes, max_processes), ""
        except OSError as error:
            _remove([folder])
            reasons.append(f"cgroup v2 not writable ({error.strerror or error})")
    return None, "; ".join(reasons) or "no memory and pids cgroup controllers mounted"
