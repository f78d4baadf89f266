"""The blind examiner's sets (tests/blind/): they load, each answer names what it breaks, and the
scorer's arithmetic and its refusal of a malformed answer (the grading itself: ``python -m autograder
blind-score tests/blind/set1``, minutes, not part of the suite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.grading.blind import BlindScore, format_scores, load_set
from autograder.grading.course import ASSIGNMENTS

SET1 = Path(__file__).parent / "blind" / "set1"


def test_the_first_blind_set_loads_and_every_wrong_answer_quotes_its_notebook() -> None:
    answers = load_set(SET1)
    assert len(answers) == 118
    assert {answer.assignment for answer in answers} == set(ASSIGNMENTS)
    notebooks = {
        a: (Path(__file__).parents[1] / "exercises" / a / f"{a}.ipynb").read_text() for a in ASSIGNMENTS
    }
    for answer in answers:
        assert answer.cells, answer.name
        if answer.kind == "wrong":
            quoted = answer.violates.split()[:6]
            assert quoted and all(
                json.dumps(word)[1:-1] in notebooks[answer.assignment] for word in quoted
            ), answer.name


def test_a_malformed_answer_is_named(tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "broken.json").write_text('{"kind": "wrong"}')
    with pytest.raises(ValueError, match="broken.json"):
        load_set(tmp_path)


def test_the_scores_add_up() -> None:
    scores = [BlindScore("masks", wrong=4, caught=3, correct=2, full_marks=2, missed=["a: why"])]
    text = format_scores(scores)
    assert "75%" in text and "100%" in text and "missed (masks) a: why" in text
