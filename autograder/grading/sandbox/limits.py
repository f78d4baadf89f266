"""The limits one submission's notebook runs under (time, memory, processes, file and folder sizes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Limits on one submission's notebook."""

    cell_timeout_s: int = 60  # nbgrader interrupts a cell after this long and records an error
    notebook_timeout_s: int = 300  # the grader kills the whole notebook's run after this long
    memory_mb: int = 6144  # the kernel's whole process tree, RAM-backed files included (a memory cgroup)
    max_file_mb: int = 64  # largest file the kernel may write
    max_processes: int = 256  # processes and threads of the kernel's whole tree (a pids cgroup)
    work_mb: int = 512  # the private copy of the submission folder (a size-capped tmpfs)
    tmp_mb: int = 256  # the private /tmp (a size-capped tmpfs; also HOME and TMPDIR)
    shm_mb: int = 64  # the private /dev/shm (a size-capped tmpfs)
