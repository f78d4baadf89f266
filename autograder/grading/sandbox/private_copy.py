"""What of a submission folder goes into the kernel's private copy: regular files only, links never followed.

The folder is hostile input. A symbolic link (to a file or a folder), a second name of a file (a hard
link: ``st_nlink > 1``, so it may be the gradebook or another student's notebook), a FIFO, a device or
a socket is *refused*: left out of the copy and named in the grading result. Everything else is opened
here without following links (``O_NOFOLLOW``, then checked again on the open file) and handed to
bubblewrap as an open file, which copies its bytes into the sandbox's own tmpfs.

Notebooks (``*.ipynb``) are withheld, not refused: the only notebook in nbgrader's autograded folder is
the one being graded, written there by nbgrader's sanitising pass with the instructor's test cells,
hidden tests included (nbgrader copies a submission's other files but never its notebooks). The kernel
runs that notebook's cells as messages; it has no need of the file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

MAX_FILES = 500  # a submission is a notebook and a few data files
MAX_DEPTH = 16
MAX_BYTES = 256 * 2**20  # more than this is not a submission but a wrong working folder
WITHHELD_SUFFIX = ".ipynb"


class SubmissionTooLarge(OSError):
    """The working folder is too big to be a submission (refuse to start rather than copy it)."""


@dataclass
class SubmissionFiles:
    """The folders and open regular files to copy, and what was refused (relative path, why)."""

    folders: list[str] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def close(self) -> None:
        for _, fd in self.files:
            os.close(fd)
        self.files.clear()


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def collect(folder: str) -> SubmissionFiles:
    """Open every regular, singly linked file under ``folder``; refuse the rest (see the module doc)."""
    found = SubmissionFiles()
    total = 0
    try:
        _walk(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), "", 0, found)
        for _, fd in found.files:
            total += os.fstat(fd).st_size
        if total > MAX_BYTES:
            raise SubmissionTooLarge(
                f"the submission folder {folder} holds over {MAX_BYTES // 2**20} MiB; refusing to copy it"
            )
    except BaseException:
        found.close()
        raise
    return found


def _walk(dir_fd: int, prefix: str, depth: int, found: SubmissionFiles) -> None:
    try:
        names = sorted(os.listdir(dir_fd))
        for name in names:
            relative = prefix + name
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DEPTH:
                    found.refused.append((relative, f"folder nested deeper than {MAX_DEPTH}"))
                    continue
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                child = os.open(name, flags, dir_fd=dir_fd)
                found.folders.append(relative)
                _walk(child, relative + "/", depth + 1, found)
            elif not stat.S_ISREG(info.st_mode):
                found.refused.append((relative, _kind(info.st_mode)))
            elif name.lower().endswith(WITHHELD_SUFFIX):
                continue  # a notebook: never copied (see the module doc)
            elif info.st_nlink > 1:
                found.refused.append((relative, f"hard link ({info.st_nlink} names for one file)"))
            elif len(found.files) >= MAX_FILES:
                found.refused.append((relative, f"more than {MAX_FILES} files"))
            else:
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(name, flags, dir_fd=dir_fd)
                opened = os.fstat(fd)
                if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or opened.st_nlink > 1 \
                        or not stat.S_ISREG(opened.st_mode):  # fmt: skip
                    os.close(fd)
                    found.refused.append((relative, "changed while being copied"))
                    continue
                found.files.append((relative, fd))
    finally:
        os.close(dir_fd)


def refused_entries(folder: str) -> list[str]:
    """What :func:`collect` would leave out of ``folder``'s copy, as "path (why)" (for a preflight check).

    nbgrader copies a submission into the autograded and feedback folders with ``shutil.copy``, which
    follows links: refuse such a submission before nbgrader runs, not only in the kernel's copy."""
    found = collect(folder)
    found.close()
    return [f"{path} ({why})" for path, why in found.refused]
