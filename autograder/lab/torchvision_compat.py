"""Make ``import torchvision`` work when torchvision's C extension cannot load.

Why this exists: the only torchvision 0.28.0 wheel on the package registries is a CUDA build. Its
compiled extension (``torchvision/_C.so``) does not load against the CPU build of torch 2.13.0, so
``torchvision/_meta_registrations.py`` then fails at import time with::

    RuntimeError: operator torchvision::nms does not exist

because it registers "fake" kernels for two operators (``nms``, ``qnms``) whose schemas only the
extension defines. The course needs only torchvision's pure-Python parts (datasets, transforms).

The fix is contained and inert where it is not needed:

* nothing installed is edited;
* it acts only when importing torchvision raised exactly that error; it then defines the two missing
  operator *schemas* (no kernels) with :mod:`torch.library`, forgets the half-imported modules and
  imports torchvision again. Where the extension loads (a matching CUDA or CPU build), the first import
  succeeds and this module does nothing;
* ``torchvision.ops`` stays unavailable on such machines (calling ``nms`` raises torch's "no kernel"
  error), exactly as without the extension.

Two ways in:

* :func:`import_torchvision` returns the module (the package's data loaders call it);
* :func:`install` puts an import hook on ``sys.meta_path`` so that a plain ``import torchvision`` gets
  the same treatment. The project's set-up writes a one-line ``.pth`` file into the virtual
  environment (``python -m autograder.lab.torchvision_compat --write-pth``) that calls :func:`install` at
  interpreter start-up; the hook imports nothing until torchvision itself is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

_MISSING_OPERATOR_ERROR = "operator torchvision::nms does not exist"

# The schemas torchvision's extension would define for the operators that
# torchvision/_meta_registrations.py registers unconditionally (the others are guarded by
# torchvision.extension._has_ops()).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

_PTH_NAME = "dropout_course_torchvision.pth"
_libraries: list[Any] = []  # keeps the torch.library.Library objects (and so their schemas) alive


def _define_missing_schemas() -> None:
    import torch

    missing = [schema for name, schema in _SCHEMAS.items() if not _operator_exists(torch, name)]
    if not missing:
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in missing:
        library.define(schema)
    _libraries.append(library)


def _operator_exists(torch: ModuleType, name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _forget_torchvision_modules() -> None:
    for name in list(sys.modules):
        if name == "torchvision" or name.startswith("torchvision."):
            del sys.modules[name]


def import_torchvision() -> ModuleType:
    """Import and return :mod:`torchvision`, defining the missing schemas only if the import needs them."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if _MISSING_OPERATOR_ERROR not in str(error):
            raise
    _forget_torchvision_modules()
    _define_missing_schemas()
    return importlib.import_module("torchvision")


class _RetryingLoader(importlib.abc.Loader):
    """Wraps torchvision's own loader: on the missing-operator error, define schemas and run it again."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        except RuntimeError as error:
            if _MISSING_OPERATOR_ERROR not in str(error):
                raise
            for name in list(sys.modules):
                if name.startswith("torchvision."):
                    del sys.modules[name]
            _define_missing_schemas()
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # resources, get_filename, ... go to the real loader
        return getattr(self._loader, name)


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torchvision":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _RetryingLoader(spec.loader)
        return spec


def install() -> None:
    """Put the torchvision import hook first on ``sys.meta_path`` (idempotent, imports nothing)."""
    if not any(isinstance(finder, _TorchvisionFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())


def write_pth(site_packages: Path | None = None) -> Path:
    """Write the start-up file that calls :func:`install` into this interpreter's site-packages."""
    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / _PTH_NAME
    target.write_text("import autograder.lab.torchvision_compat as _tv; _tv.install()\n")
    return target


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-pth"]:
        print(f"wrote {write_pth()}")
    else:
        print("usage: python -m autograder.lab.torchvision_compat --write-pth", file=sys.stderr)
        raise SystemExit(2)
