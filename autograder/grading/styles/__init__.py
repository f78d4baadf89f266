"""Correct answers in other styles: what the checks must never fail.

The catalogue (:mod:`..catalogue`) proves the checks catch known mistakes; this folder proves they do
not punish a correct answer written differently from the solution: other random streams
(``torch.bernoulli``, ``empty_like(...).uniform_()``, float64 draws, an answer's own
``torch.Generator(device=x.device)``), other selections (``masked_fill``, ``torch.where``), caches in
every form the masks notebook leaves free (tuple, list, dict, namedtuple, dataclass, a float mask),
copies in evaluation, ``torch.inference_mode``, ``torch.var_mean``, ``super()`` variants and
underscore attributes.

Each file, ``<assignment>/<name>.py``, has the catalogue's layout (:func:`..catalogue.parse_entry`):
its docstring says the style, each ``# %% <grade_id>`` line starts the code that replaces that solution
cell. ``tests/test_styles.py`` runs every check on each (:func:`..autograde.check_matrix`) and requires
zero failures; ``python -m autograder selfcheck`` reports "correct styles: N of N full marks". A style
that loses a point is a grader bug, fixed in the check, unless the notebook's text forbids the style.
"""

from __future__ import annotations

from pathlib import Path

from ..catalogue import WrongAnswer, parse_entry

HERE = Path(__file__).resolve().parent
_ORDER: tuple[str, ...] = ("masks", "autograd", "weights", "practice")

#: A correct answer in another style (the catalogue's record; ``mistake`` holds the style's description).
Style = WrongAnswer


def _load() -> tuple[Style, ...]:
    paths = [path for assignment in _ORDER for path in sorted((HERE / assignment).glob("*.py"))]
    return tuple(parse_entry(path) for path in paths)


#: Every style, assignments in course order, names sorted.
STYLES: tuple[Style, ...] = _load()


def styles(assignment: str | None = None) -> list[Style]:
    """The styles, or one assignment's."""
    return [style for style in STYLES if assignment is None or style.assignment == assignment]
