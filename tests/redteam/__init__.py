"""The red-team suite's attacks: submissions a student who wants the points would hand in.

Each :class:`Attack` is one submission for the **masks** assignment, built from a *base* answer (what
the honest part of the submission earns, graded as a control in the same class) plus the attack: code
put before or after the base answer in solution cells, structural edits of the released notebook, and
extra files or links in the submission folder. ``tests/test_redteam.py`` grades one class holding every
attack and the controls through the real class grader and states, per attack, whether the grader held:

* the attack scores no more than its base control (a forgery never adds a point);
* every submission ends with a result and a reason (no grade is lost);
* no file outside the student's private copy changes (course, gradebook, other submissions, the
  virtual environment, the repository), and nothing outside answers on the network;
* the feedback holds no line of a hidden test or of ``autograder/checks/``, no other student's work,
  and no live script (``<script>``, ``on*=`` handlers, ``javascript:`` URLs, frames) from the student.

Attack code names the grader's paths through placeholders (``@COURSE@``, ``@REPO@``, ``@SITE@``,
``@TOKEN@``, ``@PORT@``, ``@MEMORY_MB@``) that :meth:`Context.fill` replaces. An attack that achieves
something the grader cannot observe from outside (a write to ``/proc/sys`` that leaves the value as it
was, a signal it was allowed to send) prints a line starting with ``ESCAPED:``; the suite treats any
such line in the autograded notebook as a breach. Files an attack writes outside its copy carry
``redteam-<token>-<attack>`` in their names, so the suite can say who wrote them and remove them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The kinds of attack, in report order.
KINDS = ("forgery", "from-scratch", "escape", "leak", "structure", "feedback-script", "resources")

#: Base answers: the honest part of a submission. Each is graded as a control in the same class.
#: solution: the course's solution; stub: functions that return None (a blank answer that still
#: defines the names the tests call); wrong: the catalogue's missing_rescale answer; mask_only: the
#: solution's dropout_mask with stub dropout_forward / dropout_backward.
BASES = ("solution", "stub", "wrong", "mask_only")


@dataclass(frozen=True)
class Context:
    """What attack code may name: the grader's paths and this run's token, port and memory limit."""

    course: Path
    repo: Path
    site_packages: Path
    token: str
    port: int
    memory_mb: int

    def tag(self, attack: str) -> str:
        """The name part of every file ``attack`` writes outside its copy."""
        return f"redteam-{self.token}-{attack}"

    def fill(self, code: str, attack: str = "") -> str:
        return (
            code.replace("@COURSE@", str(self.course))
            .replace("@REPO@", str(self.repo))
            .replace("@SITE@", str(self.site_packages))
            .replace("@TOKEN@", self.token)
            .replace("@PORT@", str(self.port))
            .replace("@MEMORY_MB@", str(self.memory_mb))
            .replace("@TAG@", self.tag(attack))
            .replace("@ATTACK@", attack)
        )


Edit = Callable[[Any, Context], None]  # (notebook, context): edits the built notebook in place
Files = Callable[[Path, Context], None]  # (submission folder, context): adds files or links


@dataclass(frozen=True)
class Attack:
    """One submission: ``base`` answer plus the attack; it may score at most what ``base`` scores."""

    name: str
    kind: str
    summary: str
    base: str = "stub"
    bound: str | None = None  # the base whose control score bounds this attack (default: ``base``)
    cells: Mapping[str, str] = field(default_factory=dict)  # grade id -> code replacing the base's
    before: Mapping[str, str] = field(default_factory=dict)  # grade id -> code run before the base's
    after: Mapping[str, str] = field(default_factory=dict)  # grade id -> code run after the base's
    edit: Edit | None = None
    files: Files | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"attack {self.name}: unknown kind {self.kind!r} (one of {KINDS})")
        for base in (self.base, self.bound or self.base):
            if base not in BASES:
                raise ValueError(f"attack {self.name}: unknown base {base!r} (one of {BASES})")

    @property
    def bounded_by(self) -> str:
        """The control whose score is the most this attack may get."""
        return self.bound or self.base


def all_attacks() -> list[Attack]:
    """Every attack of the suite, in report order (by kind), names unique."""
    from . import escape, forgery, leak, resources, scratch, scripts, structure

    attacks = [
        *forgery.ATTACKS,
        *scratch.ATTACKS,
        *escape.ATTACKS,
        *leak.ATTACKS,
        *structure.ATTACKS,
        *scripts.ATTACKS,
        *resources.ATTACKS,
    ]
    names = [attack.name for attack in attacks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"attack names must be unique: {duplicates}")
    return attacks
