"""A submission folder read as hostile input: no link followed, no special file opened, sizes bounded.

A student controls every byte of their submission folder, including what kind of file each entry is.
A symbolic link named ``masks.ipynb`` that points at the solutions, a hard link to the gradebook, a FIFO
that blocks the reader forever or ``/dev/zero`` must never be read through. Everything here works on
``lstat`` results and opens files with ``O_NOFOLLOW``:

* :func:`check_folder` refuses (with :class:`UnsafeSubmission`, whose message names the file) a folder
  that is itself reached through a link, or that holds a symbolic link, a hard link (a regular file
  with more than one name, ``st_nlink > 1``), a FIFO, a socket or a device, or more files, bytes or
  depth than :class:`FolderLimits` allows;
* :func:`read_regular_file` reads one regular, singly linked file of bounded size, or refuses;
* :func:`walk` lists a folder's entries without following links, for fingerprints of folders that
  were not checked (it never raises for what it finds and reads no special file).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .faults import GraderFault

MiB = 2**20


class UnsafeSubmission(Exception):
    """A submission that must not be read; the message names the file and says why."""


@dataclass(frozen=True)
class FolderLimits:
    """What a submission folder may hold (generous for notebooks with figures, small for the grader)."""

    max_files: int = 500
    max_total_bytes: int = 64 * MiB
    max_depth: int = 8
    max_notebook_bytes: int = 20 * MiB


def human_size(size: int) -> str:
    """``size`` bytes in words: ``512 bytes``, ``48 KiB``, ``2 MiB``, ``1.5 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    if size < MiB:
        return f"{size / 1024:.3g} KiB"
    return f"{size / MiB:.3g} MiB"


def shown(relative: str | Path) -> str:
    """A file name as it may be printed in a message: odd characters (newlines, escapes) quoted."""
    text = str(relative)
    return text if text.isprintable() and text.isascii() else ascii(text)


def _kind(mode: int) -> str | None:
    """What a non-regular, non-directory entry is, in words (None for regular files and directories)."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "a special file"


def walk(folder: Path, max_entries: int = 10_000) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat result) of each entry under ``folder``, sorted, links not followed.

    Stops after ``max_entries`` entries. ``folder`` itself must be a real directory (not a link),
    else nothing is listed.
    """
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return
    except OSError:
        return
    pending, seen = [(folder, "")], 0
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as handle:
                entries = sorted(handle, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return
            relative = prefix + entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield relative, info
            if stat.S_ISDIR(info.st_mode):
                pending.append((Path(entry.path), relative + "/"))


def check_real_directory(path: Path, below: Path) -> None:
    """Refuse ``path`` unless it and every folder between ``below`` and it are real directories."""
    try:
        relative = path.relative_to(below)
    except ValueError:  # the grader built one of the two paths wrongly: never the student's doing
        raise GraderFault(f"the grader built the path {path}, which is not inside {below}", "paths") from None
    current = below
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError as error:
            where = shown(current.relative_to(below))
            raise UnsafeSubmission(f"{where} cannot be read ({error.strerror})") from None
        if not stat.S_ISDIR(mode):
            what = _kind(mode) or "not a folder"
            raise UnsafeSubmission(f"the submission folder {shown(current.relative_to(below))} is {what}")


def check_folder(folder: Path, limits: FolderLimits | None = None) -> dict[str, os.stat_result]:
    """Every entry of the submission folder, by relative path, once it is known to be safe to read.

    Raises :class:`UnsafeSubmission` naming the first entry that is a link or a special file, or the
    limit the folder exceeds.
    """
    limits = limits or FolderLimits()
    entries: dict[str, os.stat_result] = {}
    files = total = 0
    for relative, info in walk(folder, max_entries=limits.max_files * 4 + 1):
        mode = info.st_mode
        what = _kind(mode)
        if what is not None:
            target = ""
            if stat.S_ISLNK(mode):
                try:
                    target = f" (to {shown(os.readlink(folder / relative))})"
                except OSError:
                    target = ""
            raise UnsafeSubmission(
                f"{shown(relative)} is {what}{target}: links and special files are not accepted in a "
                f"submission; submit plain files only"
            )
        if relative.count("/") >= limits.max_depth:
            raise UnsafeSubmission(f"{shown(relative)} is nested more than {limits.max_depth} folders deep")
        if stat.S_ISREG(mode):
            if info.st_nlink > 1:
                raise UnsafeSubmission(
                    f"{shown(relative)} is a hard link (the same file has {info.st_nlink} names): links "
                    f"and special files are not accepted in a submission; submit plain files only"
                )
            files += 1
            total += info.st_size
        entries[relative] = info
        if len(entries) > limits.max_files:
            raise UnsafeSubmission(f"the submission holds more than {limits.max_files} files and folders")
        if total > limits.max_total_bytes:
            raise UnsafeSubmission(
                f"the submission holds more than {human_size(limits.max_total_bytes)} of files "
                f"(at {shown(relative)})"
            )
    return entries


def read_regular_file(path: Path, max_bytes: int, name: str | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file with one name and at most ``max_bytes``.

    Opened with ``O_NOFOLLOW`` (a link is refused, not followed) and ``O_NONBLOCK`` (a FIFO cannot
    block the reader); the checks are made on the open file, so a swap after checking cannot help.
    """
    label = shown(name or path.name)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno is not None and os.path.islink(path):
            raise UnsafeSubmission(f"{label} is a symbolic link: submit the notebook itself") from None
        raise UnsafeSubmission(f"{label} cannot be read ({error.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeSubmission(f"{label} is {_kind(info.st_mode) or 'a folder'}, not a file")
        if info.st_nlink > 1:
            raise UnsafeSubmission(f"{label} is a hard link (the same file has {info.st_nlink} names)")
        if info.st_size > max_bytes:
            raise UnsafeSubmission(
                f"{label} is {human_size(info.st_size)}; the limit is {human_size(max_bytes)} "
                f"(clear large outputs before submitting)"
            )
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise UnsafeSubmission(f"{label} grew past {human_size(max_bytes)} while being read")
        return data
    finally:
        os.close(descriptor)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by a new file holding ``data`` (never writing through a link at ``path``)."""
    temporary = path.with_name(f".{path.name}.grader-tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    descriptor = os.open(temporary, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
