"""The catalogue of wrong answers is a folder of files: each one parses, names real cells, is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.grading.autograde import solution_code
from autograder.grading.catalogue import (
    CATALOGUE,
    CAUGHT_BY,
    HERE,
    parse_entry,
    read_caught_by,
    write_caught_by,
)
from autograder.grading.course import ASSIGNMENTS


def test_every_file_is_an_entry_of_its_folder_assignment() -> None:
    files = sorted(HERE.glob("*/*.py"))
    assert len(files) == len(CATALOGUE) >= 50
    assert {path.parent.name for path in files} == set(ASSIGNMENTS)
    for entry in CATALOGUE:
        assert entry.mistake and entry.cells
        assert set(entry.cells) <= set(solution_code(entry.assignment)), entry.name


def test_caught_by_records_exactly_the_catalogue() -> None:
    assert set(CAUGHT_BY) == {entry.name for entry in CATALOGUE}


def test_caught_by_round_trips_through_its_file(tmp_path: Path) -> None:
    path = write_caught_by(CAUGHT_BY, tmp_path / "caught_by.json")
    assert read_caught_by(path) == CAUGHT_BY


def test_an_entry_file_is_read_as_docstring_flag_and_cells(tmp_path: Path) -> None:
    path = tmp_path / "masks" / "example.py"
    path.parent.mkdir()
    path.write_text(
        '"""Forgets\n   the rescale."""\n\nTAMPERS = True\n\n\n# %% dropout_mask\ndef f():\n    return 1\n'
        "\n\n# %% dropout_forward\nx = 2\n"
    )
    entry = parse_entry(path)
    assert (entry.name, entry.assignment, entry.mistake, entry.tampers) == (
        "example", "masks", "Forgets the rescale.", True
    )
    assert entry.cells == {"dropout_mask": "def f():\n    return 1\n", "dropout_forward": "x = 2\n"}


@pytest.mark.parametrize(
    ("text", "words"),
    [("x = 1\n", "replaces no cell"), ("\n# %% dropout_mask\nx = 1\n", "docstring")],
)
def test_a_malformed_entry_file_is_refused_with_its_name(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(text)
    with pytest.raises(ValueError, match=words) as error:
        parse_entry(path)
    assert str(path) in str(error.value)
