"""Mutation testing of the hidden tests (:mod:`autograder.grading.mutants`): the generator, the grading of
a mutant, the list of equivalent mutants, and one full analysis (the practice assignment, about 15 s).

Nothing here is statistical beyond the checks themselves: a mutant's verdict is a run of the exact and
binomial checks at their fixed seeds, so it is reproducible.
"""

from __future__ import annotations

import ast

import pytest

from autograder.grading import mutants
from autograder.grading.course import ASSIGNMENTS
from autograder.grading.mutants import (
    KINDS,
    AssignmentScore,
    Mutant,
    MutationResult,
    Verdict,
    answer_cells,
    generate,
    load_equivalent,
    mutate_source,
    report,
)

SAMPLE = '''
class Layer(nn.Module):
    def forward(self, x, training=True):
        """A docstring is not a statement to remove."""
        if not self.training or self.p == 0.0:
            return x
        with torch.no_grad():
            y = x + 1
        mask = torch.rand(x.shape, generator=g, device=x.device) < 1.0 - self.p
        self.total += 1
        model.eval()
        flag = self.training and training
        return x * mask / (1.0 - self.p), (mask, 0.5)
'''


def _mutants(code: str, region: set[int] | None = None) -> list[tuple[str, int, str, str]]:
    return list(mutate_source(code, region))


def test_every_operator_kind_is_generated_on_a_sample() -> None:
    found = _mutants(SAMPLE)
    assert {kind for kind, *_ in found} == set(KINDS)
    descriptions = {description for _, _, description, _ in found}
    expected = {
        "Layer.forward: `self.training` -> `not self.training`",  # flag
        "Layer.forward: `training` -> `not training`",  # flag
        "Layer.forward: `model.eval()` -> `model.train()`",  # flag
        "Layer.forward: `torch.no_grad()` -> `torch.enable_grad()`",  # flag
        "Layer.forward: `with torch.no_grad(): ...` -> `its body without the context manager`",
        "Layer.forward: `1.0 - self.p` -> `0.0 - self.p`",  # constant 1 -> 0
        "Layer.forward: `self.p == 0.0` -> `self.p == 1.0`",  # constant 0 -> 1
        "Layer.forward: `self.p == 0.0` -> `self.p != 0.0`",  # comparison
        "Layer.forward: `not self.training` -> `self.training`",  # not removed
        "Layer.forward: `not self.training or self.p == 0.0` -> `not self.training and self.p == 0.0`",
        "Layer.forward: `torch.rand(x.shape, generator=g, device=x.device)` -> "
        "`torch.rand(x.shape, device=x.device)`",  # a keyword dropped
        "Layer.forward: `(mask, 0.5)` -> `(mask,)`",  # a tuple element dropped
        "Layer.forward: `self.total += 1` -> `self.total -= 1`",  # augmented operator
        "Layer.forward: `x * mask` -> `mask`",  # an operand dropped
        "Layer.forward: `model.eval()` -> `pass`",  # a statement removed
        "Layer.forward: `torch.rand(x.shape, generator=g, device=x.device) < 1.0 - self.p` -> "
        "`torch.randn(x.shape, generator=g, device=x.device) < 1.0 - self.p`",  # a function confused
    }
    assert expected <= descriptions, expected - descriptions
    assert not any("`0.5` -> `0.5`" in d or "(mask, 0.5)` -> `(mask, 0.5)`" in d for d in descriptions)


def test_mutants_compile_differ_from_the_original_and_from_each_other() -> None:
    original = ast.dump(ast.parse(SAMPLE))
    found = _mutants(SAMPLE)
    dumps = [ast.dump(ast.parse(code)) for *_, code in found]
    for _, _, description, code in found:
        compile(code, "<mutant>", "exec")
        assert ast.dump(ast.parse(code)) != original, description
    assert len(set(dumps)) == len(dumps)


def test_docstrings_strings_and_raise_arguments_are_left_alone() -> None:
    code = (
        'def f(p):\n    """Doc 1."""\n    if p > 1:\n        raise ValueError(f"p {p} > 1")\n    return "x"\n'
    )
    found = _mutants(code)
    assert {kind for kind, *_ in found} == {"statement", "compare", "constant"}
    for _, _, description, mutant in found:
        assert "Doc 1." in mutant, description
        assert "return 'x'" in mutant or description.endswith("`return 'x'` -> `pass`"), description
        assert "raise" not in mutant or "ValueError(f'p {p} > 1')" in mutant, description


def test_only_the_answer_region_changes() -> None:
    code = "def f(x, p):\n    y = x * p\n    z = y + 1\n    return z - 1\n"
    found = _mutants(code, region={3})
    assert found and {line for _, line, _, _ in found} == {3}
    for *_, mutant in found:
        assert "y = x * p" in mutant and "return z - 1" in mutant


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_mutants_lie_in_answer_regions_and_have_unique_keys(assignment: str) -> None:
    regions = {grade_id: region for grade_id, _, region in answer_cells(assignment)}
    found = generate(assignment)
    assert found, f"no mutants for {assignment}"
    for mutant in found:
        assert mutant.line in regions[mutant.grade_id], mutant.label
    keys = [m.key for m in found]
    assert len(set(keys)) == len(keys)
    solutions = {grade_id: ast.dump(ast.parse(code)) for grade_id, code, _ in answer_cells(assignment)}
    for mutant in found:
        compile(mutant.code, mutant.label, "exec")
        assert ast.dump(ast.parse(mutant.code)) != solutions[mutant.grade_id], mutant.label


def test_generation_is_deterministic() -> None:
    first = generate("practice")
    second = generate("practice")
    assert first == second
    cells = [grade_id for grade_id, _, _ in answer_cells("practice")]
    assert [m.grade_id for m in first] == sorted((m.grade_id for m in first), key=cells.index)
    for grade_id in cells:
        lines = [m.line for m in first if m.grade_id == grade_id]
        assert lines == sorted(lines)


def test_every_declared_equivalent_mutant_exists_and_says_why() -> None:
    declared = load_equivalent()
    assert declared, "the equivalent mutants are listed"
    existing = {(m.assignment, m.key) for a in ASSIGNMENTS for m in generate(a)}
    stale = [e.key for e in declared if (e.assignment, e.key) not in existing]
    assert stale == [], f"declared equivalent but no such mutant any more (stale): {stale}"
    assert all(len(e.why) > 20 for e in declared)
    assert len({(e.assignment, e.key) for e in declared}) == len(declared)


def _mutant(assignment: str, key_part: str) -> Mutant:
    matches = [m for m in generate(assignment) if key_part in m.key]
    assert len(matches) == 1, [m.key for m in matches]
    return matches[0]


def test_grading_classifies_a_killed_and_an_equivalent_mutant() -> None:
    killed = mutants.grade(_mutant("practice", "`final.train_accuracy + final.test_accuracy`"))
    assert killed.status == "killed" and "practice.check_generalization_gap" in killed.reason
    equivalent = mutants.grade(_mutant("practice", "`torch.utils.data.DataLoader(dataset)`"))
    assert equivalent.status == "survived" and equivalent.reason == ""
    declared = {(e.assignment, e.key) for e in load_equivalent()}
    assert ("practice", _mutant("practice", "`torch.utils.data.DataLoader(dataset)`").key) in declared


def test_a_mutant_that_raises_as_it_is_defined_is_killed() -> None:
    broken = Mutant(
        "practice", "generalization_gap", "statement", 1, "raises", "raise RuntimeError('x')\n", "k"
    )
    assert mutants.grade(broken) == Verdict("k", "killed", "the cell raised RuntimeError: x")


def test_an_endless_mutant_times_out_and_counts_as_killed() -> None:
    endless = Mutant(
        "practice",
        "generalization_gap",
        "statement",
        2,
        "loops forever",
        "def generalization_gap(history):\n    while True:\n        pass\n",
        "endless",
    )
    pool = mutants._Pool(1, (), timeout=2.0)  # no warm-up: the worker only imports
    try:
        verdicts = pool.run([endless], lambda _v: None)
    finally:
        pool.close()
    assert verdicts["endless"].status == "timeout" and verdicts["endless"].killed


def test_score_and_report_count_equivalent_mutants_out() -> None:
    score = AssignmentScore(
        "masks",
        mutants=10,
        killed=8,
        timeouts=1,
        crashed=0,
        equivalent=[{"key": "e", "why": "same values"}],
        survivors=[
            {"grade_id": "g", "line": 3, "kind": "arith", "description": "`a + b` -> `a - b`", "key": "s"}
        ],
    )
    assert score.score == pytest.approx(8 / 9)
    result = MutationResult({"masks": score}, {}, [], target=0.95)
    assert not result.ok
    text = report(result)
    assert "SURVIVOR masks: g line 3 [arith] `a + b` -> `a - b`" in text and "88.9%" in text
    score.survivors = []
    score.killed = 9
    assert MutationResult({"masks": score}, {}, []).ok
    assert not MutationResult({"masks": score}, {}, ["stale key"]).ok


def test_full_analysis_of_the_practice_assignment() -> None:
    result = mutants.analyse(("practice",), jobs=1)
    score = result.scores["practice"]
    assert result.solution_failures == {}
    assert result.stale_equivalent == []
    assert score.mutants == len(generate("practice"))
    assert score.survivors == [], report(result)
    assert score.score >= 0.95 and result.ok
    assert result.to_json()["scores"]["practice"]["score"] == score.score  # type: ignore[index]


def test_the_static_policy_judges_a_mutant_as_the_checks_handed_its_cell_do() -> None:
    """mc_predict's checks allow built-in dropout (not generalization_gap's): its mutants reach the checks."""
    from autograder.grading.mutants import builtin_allowed_for, defined_names, generate

    by_cell: dict[str, bool] = {}
    for assignment in ("masks", "practice"):
        for mutant in generate(assignment):
            by_cell.setdefault(f"{assignment}:{mutant.grade_id}", builtin_allowed_for(mutant))
    assert by_cell["practice:mc_predict"] is True
    assert by_cell["practice:accuracy"] is True
    assert by_cell["practice:generalization_gap"] is False
    assert not any(allowed for key, allowed in by_cell.items() if key.startswith("masks:"))
    assert defined_names("def f():\n    pass\nclass C:\n    pass\nx = 1\n") == {"f", "C", "x"}
