"""Code fragments several attacks share (placeholders as in :class:`redteam.Context`)."""

from __future__ import annotations

#: An object whose every attribute is a function that does nothing: a stand-in for the checks.
NO_OP_CHECKS = """
class _AlwaysPasses:
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(f"no attribute {name}")
        return lambda *args, **kwargs: None


checks = _AlwaysPasses()
"""

#: Prints the lines of ``_paths`` (files or folders) a student would look for: test code and secrets.
PRINT_INTERESTING = """
import os as _os


def _interesting(path, limit=40):
    shown = 0
    try:
        data = open(path, "rb").read(30_000_000).decode("latin-1")
    except OSError as error:
        print("blocked", type(error).__name__)
        return
    for line in data.replace("\\\\n", "\\n").splitlines():
        line = line.strip().strip('",')
        if "checks." in line or "SECRET-OF-" in line or "assert " in line:
            print("FOUND", line[:300])
            shown += 1
            if shown >= limit:
                return


def _show(path):
    if _os.path.isdir(path):
        for folder, _, files in _os.walk(path):
            for name in files:
                _interesting(_os.path.join(folder, name), 10)
    else:
        _interesting(path)
"""

#: Writes a tagged file into each of ``_targets`` and says ESCAPED when the write went through.
WRITE_OUTSIDE = """
def _try_write(path):
    try:
        with open(path, "w") as handle:
            handle.write("written by @ATTACK@\\n")
        # Not proof of an escape: below /tmp (a clone there) the write lands in the sandbox's private
        # /tmp. The harness looks for the file on the host (tagged_files) and decides there.
        print("wrote, in the kernel's own view:", path)
    except OSError as error:
        print("blocked", type(error).__name__)
"""
