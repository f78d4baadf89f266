"""The seccomp filter bubblewrap installs on the kernel: system calls no notebook needs fail with EPERM.

Built with libseccomp (through ``pyseccomp``, a ctypes binding to the system's ``libseccomp.so.2``)
and exported as a BPF program that bubblewrap loads with ``--seccomp FD``. It denies debugging other
processes (``ptrace``, ``process_vm_*``, ``pidfd_getfd``), mounting and namespaces, kernel modules
and ``kexec``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, the kernel keyring,
clock and swap changes; a system call of another architecture (32-bit or x32 ABI) kills the caller.
Without libseccomp the sandbox still runs, and says it has no filter.
"""

from __future__ import annotations

import os
import tempfile

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "swapon", "swapoff", "reboot", "acct", "quotactl",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "iopl", "ioperm",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "fanotify_init", "vhangup", "uselib",
)  # fmt: skip


def seccomp_program() -> tuple[int | None, str]:
    """An open file holding the BPF program (for ``--seccomp FD``), or ``None`` and why not."""
    try:
        import pyseccomp
    except (ImportError, OSError) as error:  # the binding is missing, or libseccomp.so.2 is
        return None, f"no seccomp filter (libseccomp unavailable: {error})"
    errno_eperm = 1
    try:
        rules = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
        for name in DENIED:
            try:
                rules.add_rule(pyseccomp.ERRNO(errno_eperm), name)
            except (ValueError, RuntimeError, OSError):
                continue  # unknown to this libseccomp or architecture
        handle = tempfile.TemporaryFile()
        rules.export_bpf(handle)
        handle.flush()
        fd = os.dup(handle.fileno())
        handle.close()
        os.lseek(fd, 0, os.SEEK_SET)
        return fd, f"seccomp filter denying {len(DENIED)} system calls"
    except (OSError, RuntimeError, ValueError) as error:
        return None, f"no seccomp filter ({error})"
