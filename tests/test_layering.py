"""The package's rooms and which way they depend: a lower room never imports a higher one.

Every ``import`` in ``autograder/`` (module level and inside functions, absolute and relative) is
read with ``ast`` and mapped to the room it lands in. The reference is what students are graded
against and the probe is what runs inside the student's kernel during grading: both import only torch
and the standard library; the book's library (``lab``) builds on the
reference; the checks (what tests call) may use both but never the grading pipeline; the grading
pipeline may use everything below it; the command line and the book build sit on top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autograder"

#: room -> the rooms it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "interpreter_env": set(),
    "reference": set(),
    "probe": set(),  # runs in the student's kernel: torch and the standard library only
    "lab": {"reference"},
    "checks": {"reference", "lab", "probe"},
    "grading": {"reference", "lab", "checks", "probe", "interpreter_env"},
    "top": {"reference", "lab", "checks", "probe", "grading", "interpreter_env"},
}
#: Modules at the package's top level that are the top room (entry points).
TOP = {"__init__", "__main__", "cli", "book_build", "book_downloads"}


def room_of(module: str) -> str:
    """The room of a dotted module name inside the package ("autograder.lab.data" -> "lab")."""
    parts = module.split(".")
    if parts[0] != "autograder":
        raise ValueError(module)
    if len(parts) == 1 or parts[1] in TOP:
        return "top"
    return parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            # ``from autograder import checks`` imports autograder.checks: name each imported object
            # under its module, so the room is read from the first two parts of the path.
            found += [f"{target}.{alias.name}" for alias in node.names]
    return found


def package_files() -> list[Path]:
    """Importable modules (the catalogue's wrong answers are data files, not modules)."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "catalogue" not in p.relative_to(PACKAGE).parts[:-1]
                  or p.name == "__init__.py")


def violations() -> list[str]:
    problems = []
    for path in package_files():
        source_room = room_of(module_name(path))
        if source_room not in ALLOWED:
            problems.append(f"{path.relative_to(PACKAGE.parent)}: room {source_room!r} is not declared")
            continue
        for target in imports_of(path):
            if target.split(".")[0] != "autograder" or target == "autograder":
                continue  # outside the package, or the bare package (to find its folder)
            target_room = room_of(target)
            if target_room != source_room and target_room not in ALLOWED[source_room]:
                problems.append(f"{path.relative_to(PACKAGE.parent)} ({source_room}) imports {target}")
    return problems


def test_no_room_imports_a_higher_one() -> None:
    assert violations() == []


@pytest.mark.parametrize("room", ["reference", "probe"])
def test_the_bottom_rooms_import_only_torch_and_the_standard_library(room: str) -> None:
    allowed = set(sys.stdlib_module_names) | {"torch", "__future__", "autograder"}
    outside = {
        f"{path.name}: {target}"
        for path in (PACKAGE / room).rglob("*.py")
        for target in imports_of(path)
        if target.split(".")[0] not in allowed
    }
    assert outside == set()


def test_the_import_reader_sees_imports_in_every_form(tmp_path: Path) -> None:
    # The detector itself must work, or the tests above would pass vacuously.
    lab_models = imports_of(PACKAGE / "lab" / "models.py")
    assert "autograder.reference.Dropout" in lab_models
    grading = imports_of(PACKAGE / "grading" / "classroom.py")
    assert any(t.startswith("autograder.grading.course.") for t in grading)  # a relative import
    selfcheck = imports_of(PACKAGE / "grading" / "selfcheck.py")
    assert "autograder.checks.scratch" in selfcheck  # an import inside a function
    assert "autograder.checks" in selfcheck  # "from autograder import checks"
    assert room_of("autograder.grading.sandbox") == "grading"
    assert room_of("autograder.cli") == "top"


@pytest.mark.parametrize(
    ("room", "target"),
    [("reference", "autograder.grading.classroom"), ("checks", "autograder.grading.classroom"),
     ("lab", "autograder.checks"), ("reference", "autograder.lab.data")],
)
def test_a_forbidden_import_is_reported(room: str, target: str) -> None:
    assert room_of(target) not in ALLOWED[room] and room_of(target) != room
