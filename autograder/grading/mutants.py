"""Mutation testing of the hidden tests: small wrong versions of every solution, graded by the checks.

The catalogue (:mod:`autograder.grading.catalogue`) proves that the checks catch the mistakes they
were written for. Mutants measure what they catch of the mistakes nobody wrote down: every solution
cell's answer region (between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) is changed in one
small place at a time, with the standard :mod:`ast` module, and each such mutant is graded by the same
checks the hidden tests call (:func:`autograder.grading.autograde.check_matrix`, in-process, the
other cells keeping the solution).

Operator table (``kind``: what one mutant changes, once, at one place in an answer region):

==========  =========================================================================================
kind        mutation
==========  =========================================================================================
arith       a binary or augmented operator swapped: ``+ <-> -``, ``* <-> /``, ``// -> /``,
            ``% -> //``, ``** -> *``, ``@ -> *``
operand     a binary operation replaced by one of its operands (``x * mask * scale`` ->
            ``x * mask``): a dropped factor or term
compare     a comparison swapped: ``< <-> <=``, ``> <-> >=``, ``== <-> !=``, ``is <-> is not``,
            ``in <-> not in``
constant    a number changed: ``0 -> 1``, ``1 -> 0`` and ``1 -> 2``, ``c -> 1 - c`` for ``0 < c < 1``
            (the p -> 1 - p mistake), any other ``c -> c + 1``; ``True <-> False`` (``None`` and
            strings are left alone)
boolean     ``not x -> x``; ``and <-> or``; one operand of ``and``/``or`` dropped
flag        a mode flag inverted: ``m.training -> not m.training`` (reads), ``m.training = v ->
            m.training = not v``, a name holding a mode (``training``, ``was_training``, ``flag``) read
            as its negation, ``.eval() <-> .train()``, ``torch.no_grad() <-> torch.enable_grad()``
statement   one statement of a body replaced by ``pass`` (docstrings are not statements here), and a
            ``with`` block unwrapped (its body runs without the context manager)
argument    two neighbouring positional arguments of a call swapped; one keyword argument dropped
            (``generator=generator``, ``device=x.device``); a positional argument after the first
            dropped
return      one element of a returned or built tuple dropped (``return a, b -> return a``)
call        a function or method confused with another (``rand <-> randn``, ``zeros_like <->
            ones_like``, ``mean <-> sum``, ``std <-> var``, ``argmax -> argmin``, ``stack -> cat``), or
            a conversion left out (``x.detach() -> x``, ``.clone()``, ``.float()``, ``float(p) -> p``,
            ``int(...)``, ``list(...)``)
==========  =========================================================================================

Not mutated: anything outside an answer region (the code the released notebook gives the student),
docstrings, string constants and f-strings, and the arguments of a ``raise`` (the wording of an
error message is no requirement). A mutant that does not compile, or whose syntax tree equals the
solution's or another mutant's, is skipped. The order is deterministic: cells in notebook order,
then line, column, kind.

Grading (:func:`analyse`): a mutant is **killed** when some check of its assignment fails, when its
cell raises as it is defined, when the static policy (:mod:`autograder.checks.policy`) refuses it,
or when grading it runs past ``timeout`` seconds or kills the worker process (a timeout or a crash
costs the student the test cell in nbgrader too; the report counts them separately). Mutants run in
worker processes (``jobs`` of them, each one mutant at a time, torch on one thread), so an infinite
loop cannot hang the run: the worker is ended and a fresh one takes its place.

A mutant that no check kills is either **equivalent** (nothing the notebook's contract lets a test
observe tells it from the solution, or only an event too rare for any check within its false-failure
budget, such as ``torch.rand(...) <= 1 - p`` for ``<``) and listed, with the one-line argument why, in
``mutants_equivalent.json`` next to this module, or a **survivor**: a gap in the hidden tests. The
mutation score of an assignment is killed / (mutants - equivalent).
"""

from __future__ import annotations

import ast
import copy
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .cells import nbgrader_meta

EQUIVALENT_FILE = Path(__file__).resolve().parent / "mutants_equivalent.json"
KINDS: tuple[str, ...] = (
    "arith",
    "operand",
    "compare",
    "constant",
    "boolean",
    "flag",
    "statement",
    "argument",
    "return",
    "call",
)
_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
#: Default seconds one mutant may take to grade (the solutions take well under one).
DEFAULT_TIMEOUT = 60.0

_ARITH: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Div,),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.MatMult: (ast.Mult,),
}
_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_MODE_NAMES = frozenset({"training", "was_training", "flag"})
_METHOD_SWAPS = {"eval": "train", "train": "eval"}
_CONTEXT_SWAPS = {"no_grad": "enable_grad", "enable_grad": "no_grad", "inference_mode": "enable_grad"}
#: Functions and methods a student confuses with one another.
_CALL_SWAPS = {
    "rand": "randn",
    "randn": "rand",
    "zeros_like": "ones_like",
    "ones_like": "zeros_like",
    "mean": "sum",
    "sum": "mean",
    "std": "var",
    "var": "std",
    "argmax": "argmin",
    "stack": "cat",
}
#: Calls whose removal leaves a plausible program: ``x.detach() -> x``, ``float(p) -> p``.
_UNWRAP_METHODS = frozenset({"detach", "clone", "float", "double", "contiguous"})
_UNWRAP_FUNCTIONS = frozenset({"float", "int", "bool", "list", "tuple"})


@dataclass(frozen=True)
class Mutant:
    """One mutant of one solution cell: ``code`` replaces the cell; ``key`` names it stably."""

    assignment: str
    grade_id: str
    kind: str
    line: int  # line in the cell's code (solution markers removed)
    description: str  # "<scope>: `before` -> `after`"
    code: str
    key: str  # "<grade_id> | <kind> | <description>[ #n]": stable while the cell's code is

    @property
    def label(self) -> str:
        return f"{self.grade_id} line {self.line} [{self.kind}] {self.description}"


# ---------------------------------------------------------------------------------------------------
# Cells and their answer regions
# ---------------------------------------------------------------------------------------------------
def answer_cells(assignment: str) -> list[tuple[str, str, set[int]]]:
    """(grade id, code without markers, lines of the code inside answer regions), in notebook order.

    A solution cell without markers is all answer.
    """
    from .autograde import source_notebook

    cells = []
    for cell in source_notebook(assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        kept: list[str] = []
        region: set[int] = set()
        inside = False
        marked = False
        for line in cell.source.splitlines():
            if line.strip() == _BEGIN:
                inside, marked = True, True
                continue
            if line.strip() == _END:
                inside = False
                continue
            kept.append(line)
            if inside:
                region.add(len(kept))
        if not marked:
            region = set(range(1, len(kept) + 1))
        cells.append((meta["grade_id"], "\n".join(kept) + "\n", region))
    return cells


# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------
@dataclass
class _Site:
    """One candidate change: node ``index`` (in :func:`ast.walk` order) of the tree, made by ``make``."""

    index: int
    kind: str
    order: int
    line: int
    col: int
    before: str
    after: str
    make: Callable[[ast.AST], ast.AST | list[ast.stmt]]


def _short(node: ast.AST | str, limit: int = 90) -> str:
    text = node if isinstance(node, str) else ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number_tweaks(value: float) -> list[float]:
    if value == 0:
        return [1]
    if value == 1:
        return [0, 2]
    if isinstance(value, float) and 0 < value < 1:
        return [1 - value]
    return [value + 1]


class _Sites(ast.NodeVisitor):
    """Every mutation site of one cell (answer regions only)."""

    def __init__(self, tree: ast.Module, region: set[int]) -> None:
        self.region = region
        self.index = {id(node): i for i, node in enumerate(ast.walk(tree))}
        self.sites: list[_Site] = []
        self.scope: list[str] = []
        self.parents: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
        self.skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise | ast.JoinedStr):
                self.skip |= {id(n) for n in ast.walk(node) if n is not node or isinstance(n, ast.JoinedStr)}
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module) and ast.get_docstring(node):
                self.skip.add(id(node.body[0]))
                self.skip |= {id(n) for n in ast.walk(node.body[0])}

    def inside(self, node: ast.AST) -> bool:
        start = getattr(node, "lineno", None)
        end = getattr(node, "end_lineno", start)
        if start is None or id(node) in self.skip:
            return False
        return all(line in self.region for line in range(start, (end or start) + 1))

    def add(
        self,
        node: ast.AST,
        kind: str,
        after: str,
        make: Callable[[ast.AST], ast.AST | list[ast.stmt]],
        before: str | None = None,
    ) -> None:
        self.sites.append(
            _Site(
                self.index[id(node)],
                kind,
                KINDS.index(kind),
                node.lineno,  # type: ignore[attr-defined]
                node.col_offset,  # type: ignore[attr-defined]
                before if before is not None else _short(node),
                after,
                make,
            )
        )

    # scopes -----------------------------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scope.append(node.name)
        self.statements(node)
        self.generic_visit(node)
        self.scope.pop()

    # statements -------------------------------------------------------------------------------------
    def statements(self, node: ast.AST) -> None:
        for field_name in ("body", "orelse", "finalbody"):
            body = getattr(node, field_name, None)
            if not isinstance(body, list):
                continue
            for stmt in body:
                if not isinstance(stmt, ast.stmt) or isinstance(stmt, ast.Pass) or not self.inside(stmt):
                    continue
                self.add(stmt, "statement", "pass", lambda _n: ast.Pass(), before=_short(stmt, 70))

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.If | ast.For | ast.While | ast.With | ast.Try):
            self.statements(node)
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                self.statements(handler)
        super().generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        if self.inside(node):
            self.add(
                node,
                "statement",
                "its body without the context manager",
                lambda n: list(n.body),  # type: ignore[attr-defined]
                before=f"with {', '.join(_short(item) for item in node.items)}: ...",
            )
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute | ast.Name):
                    name = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
                    if name in _CONTEXT_SWAPS:
                        self.swap_name(call.func, "flag", _CONTEXT_SWAPS[name])
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if self.inside(node):
            for new in _ARITH.get(type(node.op), ()):
                changed = ast.AugAssign(node.target, new(), node.value)
                self.add(node, "arith", _short(changed), lambda n, new=new: _with(n, op=new()))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if self.inside(node) and any(
            isinstance(t, ast.Attribute) and t.attr == "training" for t in node.targets
        ):
            self.add(
                node,
                "flag",
                f"{' = '.join(_short(t) for t in node.targets)} = not {_short(node.value)}",
                lambda n: _with(n, value=ast.UnaryOp(ast.Not(), n.value)),  # type: ignore[attr-defined]
            )
        self.generic_visit(node)

    # expressions ------------------------------------------------------------------------------------
    def visit_BinOp(self, node: ast.BinOp) -> None:
        if self.inside(node):
            for new in _ARITH.get(type(node.op), ()):
                changed = ast.BinOp(node.left, new(), node.right)
                self.add(node, "arith", _short(changed), lambda n, new=new: _with(n, op=new()))
            self.add(node, "operand", _short(node.left), lambda n: n.left)  # type: ignore[attr-defined]
            self.add(node, "operand", _short(node.right), lambda n: n.right)  # type: ignore[attr-defined]
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if self.inside(node):
            for i, op in enumerate(node.ops):
                new = _COMPARE.get(type(op))
                if new is None:
                    continue
                ops = [*node.ops[:i], new(), *node.ops[i + 1 :]]
                changed = ast.Compare(node.left, ops, node.comparators)
                self.add(
                    node,
                    "compare",
                    _short(changed),
                    lambda n, i=i, new=new: _with(n, ops=[*n.ops[:i], new(), *n.ops[i + 1 :]]),
                )
        self.generic_visit(node)

    def in_context(self, node: ast.AST, replacement: ast.AST) -> tuple[str, str]:
        """(before, after) shown in the expression around ``node`` (``mean(0) -> mean(1)``)."""
        context = node
        while True:
            parent = self.parents.get(id(context))
            if isinstance(parent, ast.keyword | ast.UnaryOp | ast.Attribute) or (
                isinstance(parent, ast.Call) and context is parent.func
            ):
                context = parent
            else:
                break
        if isinstance(parent, ast.expr):
            context = parent
        if isinstance(context, ast.keyword):
            context = self.parents[id(context)]
        if context is node:
            return _short(node), _short(replacement)
        index = list(ast.walk(context)).index(node)
        copied = copy.deepcopy(context)
        target = list(ast.walk(copied))[index]
        for parent in ast.walk(copied):
            for name, value in ast.iter_fields(parent):
                if value is target:
                    setattr(parent, name, replacement)
                elif isinstance(value, list) and any(v is target for v in value):
                    value[[id(v) for v in value].index(id(target))] = replacement
        return _short(context), _short(copied)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not self.inside(node):
            return
        value = node.value
        news: list[object] = []
        if isinstance(value, bool):
            news = [not value]
        elif isinstance(value, int | float):
            news = [type(value)(new) for new in _number_tweaks(value)]
        for new in news:
            if new != value:
                before, after = self.in_context(node, ast.Constant(new))
                self.add(node, "constant", after, lambda _n, v=new: ast.Constant(v), before=before)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if self.inside(node) and isinstance(node.op, ast.Not):
            self.add(node, "boolean", _short(node.operand), lambda n: n.operand)  # type: ignore[attr-defined]
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if self.inside(node):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            self.add(
                node,
                "boolean",
                _short(ast.BoolOp(other(), node.values)),
                lambda n, other=other: _with(n, op=other()),
            )
            for i in range(len(node.values)):
                rest = node.values[:i] + node.values[i + 1 :]
                after = rest[0] if len(rest) == 1 else ast.BoolOp(node.op, rest)
                self.add(
                    node,
                    "boolean",
                    _short(after),
                    lambda n, i=i: _drop_value(n, i),  # type: ignore[arg-type]
                )
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.inside(node) and node.attr == "training" and isinstance(node.ctx, ast.Load):
            self.negate(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if self.inside(node) and node.id in _MODE_NAMES and isinstance(node.ctx, ast.Load):
            self.negate(node)

    def negate(self, node: ast.expr) -> None:
        parent = self.parents.get(id(node))
        if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
            return  # `not x -> x` is the boolean kind's
        self.add(node, "flag", f"not {_short(node)}", lambda n: ast.UnaryOp(ast.Not(), n))  # type: ignore[arg-type]

    def swap_name(self, func: ast.Attribute | ast.Name, kind: str, new: str) -> None:
        if isinstance(func, ast.Attribute):
            changed: ast.expr = ast.Attribute(func.value, new, func.ctx)
            make: Callable[[ast.AST], ast.AST] = lambda n, new=new: _with(n, attr=new)  # noqa: E731
        else:
            changed = ast.Name(new, func.ctx)
            make = lambda n, new=new: _with(n, id=new)  # noqa: E731
        before, after = self.in_context(func, changed)
        self.add(func, kind, after, make, before=before)

    def visit_Call(self, node: ast.Call) -> None:
        if self.inside(node):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _METHOD_SWAPS:
                self.swap_name(func, "flag", _METHOD_SWAPS[func.attr])
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _CALL_SWAPS and isinstance(func, ast.Attribute | ast.Name):
                self.swap_name(func, "call", _CALL_SWAPS[name])
            if isinstance(func, ast.Attribute) and func.attr in _UNWRAP_METHODS and not node.args:
                self.add(node, "call", _short(func.value), lambda n: n.func.value)  # type: ignore[attr-defined]
            if (
                isinstance(func, ast.Name)
                and func.id in _UNWRAP_FUNCTIONS
                and len(node.args) == 1
                and not node.keywords
                and not isinstance(node.args[0], ast.Starred)
            ):
                self.add(node, "call", _short(node.args[0]), lambda n: n.args[0])  # type: ignore[attr-defined]
            args = node.args
            for i in range(len(args) - 1):
                a, b = args[i], args[i + 1]
                if isinstance(a, ast.Starred) or isinstance(b, ast.Starred) or ast.dump(a) == ast.dump(b):
                    continue
                swapped = [*args[:i], b, a, *args[i + 2 :]]
                self.add(
                    node,
                    "argument",
                    _short(ast.Call(func, swapped, node.keywords)),
                    lambda n, i=i: _with(
                        n,
                        args=[*n.args[:i], n.args[i + 1], n.args[i], *n.args[i + 2 :]],  # type: ignore[attr-defined]
                    ),
                )
            for i in range(1, len(args)):
                fewer = args[:i] + args[i + 1 :]
                self.add(
                    node,
                    "argument",
                    _short(ast.Call(func, fewer, node.keywords)),
                    lambda n, i=i: _with(n, args=n.args[:i] + n.args[i + 1 :]),  # type: ignore[attr-defined]
                )
            for i, keyword in enumerate(node.keywords):
                if keyword.arg is None:
                    continue
                fewer_kw = node.keywords[:i] + node.keywords[i + 1 :]
                self.add(
                    node,
                    "argument",
                    _short(ast.Call(func, args, fewer_kw)),
                    lambda n, i=i: _with(n, keywords=n.keywords[:i] + n.keywords[i + 1 :]),  # type: ignore[attr-defined]
                )
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        if self.inside(node) and isinstance(node.ctx, ast.Load) and len(node.elts) >= 2:
            returned = isinstance(self.parents.get(id(node)), ast.Return)
            for i in range(len(node.elts)):
                rest = node.elts[:i] + node.elts[i + 1 :]
                single = returned and len(rest) == 1
                after = rest[0] if single else ast.Tuple(rest, ast.Load())
                self.add(
                    node,
                    "return",
                    _short(after),
                    lambda n, i=i, single=single: _drop_element(n, i, single),  # type: ignore[arg-type]
                )
        self.generic_visit(node)


def _with(node: ast.AST, **changes: Any) -> ast.AST:
    for name, value in changes.items():
        setattr(node, name, value)
    return node


def _drop_value(node: ast.BoolOp, i: int) -> ast.AST:
    rest = node.values[:i] + node.values[i + 1 :]
    return rest[0] if len(rest) == 1 else _with(node, values=rest)


def _drop_element(node: ast.Tuple, i: int, single: bool) -> ast.AST:
    rest = node.elts[:i] + node.elts[i + 1 :]
    return rest[0] if single else _with(node, elts=rest)


def _apply(tree: ast.Module, site: _Site) -> ast.Module:
    """A copy of ``tree`` with ``site``'s change made."""
    new_tree = copy.deepcopy(tree)
    nodes = list(ast.walk(new_tree))
    target = nodes[site.index]
    replacement = site.make(target)
    if replacement is target:
        return new_tree
    for parent in nodes:
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                return ast.fix_missing_locations(new_tree)
            if isinstance(value, list) and any(v is target for v in value):
                i = next(k for k, v in enumerate(value) if v is target)
                spliced = replacement if isinstance(replacement, list) else [replacement]
                value[i : i + 1] = spliced
                return ast.fix_missing_locations(new_tree)
    raise LookupError(f"no parent for the node of {site}")  # pragma: no cover - walk covers every node


def _scope_at(tree: ast.Module, line: int) -> str:
    """Dotted name of the innermost class/function containing ``line`` ("" at module level)."""
    best: list[str] = []

    def visit(node: ast.AST, names: list[str]) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                if child.lineno <= line <= (child.end_lineno or child.lineno):
                    best = [*names, child.name]
                    visit(child, best)
            else:
                visit(child, names)

    visit(tree, [])
    return ".".join(best)


def mutate_source(code: str, region: set[int] | None = None) -> Iterator[tuple[str, int, str, str]]:
    """Every mutant of ``code``: (kind, line, description, mutant code), deterministic, deduplicated.

    ``region``: the lines that may change (default: all of them).
    """
    tree = ast.parse(code)
    if region is None:
        region = set(range(1, len(code.splitlines()) + 2))
    finder = _Sites(tree, region)
    finder.visit(tree)
    seen = {ast.dump(tree)}
    for site in sorted(finder.sites, key=lambda s: (s.line, s.col, s.order)):
        mutated = _apply(tree, site)
        fingerprint = ast.dump(mutated)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        source = ast.unparse(mutated) + "\n"
        try:
            compile(source, "<mutant>", "exec")
        except (SyntaxError, ValueError):
            continue
        scope = _scope_at(tree, site.line)
        description = f"{scope + ': ' if scope else ''}`{site.before}` -> `{site.after}`"
        yield site.kind, site.line, description, source


def generate(assignment: str) -> list[Mutant]:
    """Every mutant of every answer region of ``assignment``, in a deterministic order."""
    mutants: list[Mutant] = []
    keys: dict[str, int] = {}
    for grade_id, code, region in answer_cells(assignment):
        for kind, line, description, source in mutate_source(code, region):
            key = f"{grade_id} | {kind} | {description}"
            keys[key] = keys.get(key, 0) + 1
            if keys[key] > 1:
                key += f" #{keys[key]}"
            mutants.append(Mutant(assignment, grade_id, kind, line, description, source, key))
    return mutants


# ---------------------------------------------------------------------------------------------------
# Equivalent mutants
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Equivalent:
    """A mutant no check can kill because it behaves as the solution does, and why."""

    assignment: str
    key: str
    why: str


def load_equivalent(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    if not path.exists():
        return []
    return [Equivalent(e["assignment"], e["key"], e["why"]) for e in json.loads(path.read_text())]


# ---------------------------------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """How one mutant fared: ``status`` is killed, timeout, crashed or survived."""

    key: str
    status: str
    reason: str  # the first failing check and its message, the exception, or ""

    @property
    def killed(self) -> bool:
        return self.status != "survived"


def _reset() -> None:
    import random

    import torch

    torch.manual_seed(0)
    random.seed(0)
    torch.set_grad_enabled(True)


def defined_names(code: str) -> set[str]:
    """The names a cell defines at its top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def builtin_allowed_for(mutant: Mutant) -> bool:
    """Whether the static policy allows built-in dropout in this mutant's cell, as the judge decides it.

    The judge scans the cells of the answers a check is handed, strictly or leniently as *that* check
    says; so a cell is judged leniently when every check that is handed what it defines allows built-in
    dropout (``mc_predict`` in the practice assignment), not only when every check of the assignment
    does (``generalization_gap``'s check is strict, which used to send every ``mc_predict`` mutant, with
    its ``nn.modules.dropout._DropoutNd``, to the static policy's refusal instead of to the checks).
    """
    from autograder import checks

    defined = defined_names(mutant.code)
    handed = [
        info
        for info in checks.REGISTRY.values()
        if info.assignment == mutant.assignment and defined & set(info.part.split(", "))
    ]
    return bool(handed) and all(info.builtin_allowed for info in handed)


def grade(mutant: Mutant) -> Verdict:
    """Grade one mutant in this process (use :func:`analyse` for a bounded, isolated run)."""
    from autograder.checks import policy

    from .autograde import answer_namespace, check_matrix
    from .catalogue import WrongAnswer

    findings = policy.scan(mutant.code, builtin_allowed=builtin_allowed_for(mutant))
    if findings:
        return Verdict(mutant.key, "killed", f"static policy: {findings[0]}")
    entry = WrongAnswer(
        f"mutant-{mutant.grade_id}", mutant.assignment, mutant.description, {mutant.grade_id: mutant.code}
    )
    _reset()
    try:
        answer_namespace(mutant.assignment, entry)
    except Exception as error:  # noqa: BLE001 - the cell raising as it is defined kills the mutant
        return Verdict(mutant.key, "killed", f"the cell raised {type(error).__name__}: {str(error)[:200]}")
    _reset()
    try:
        verdicts = check_matrix(mutant.assignment, entry)
    except Exception as error:  # noqa: BLE001 - a test cell raising costs its points
        return Verdict(mutant.key, "killed", f"grading raised {type(error).__name__}: {str(error)[:200]}")
    failing = [(name, message) for name, message in verdicts.items() if message]
    if failing:
        name, message = failing[0]
        return Verdict(mutant.key, "killed", f"{name}: {' '.join(message.split())[:240]}")
    return Verdict(mutant.key, "survived", "")


def _worker(conn: Connection, assignments: tuple[str, ...]) -> None:
    """A worker process: warm up (checks' intervals, torch), then grade the mutants it is sent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from .autograde import check_matrix

    failures = {}
    for assignment in assignments:  # the solutions must pass (and this fills the checks' caches)
        failing = {k: v for k, v in check_matrix(assignment, None).items() if v}
        if failing:
            failures[assignment] = failing
    conn.send(("ready", failures))
    while True:
        mutant = conn.recv()
        if mutant is None:
            return
        conn.send(("done", asdict(grade(Mutant(**mutant)))))


class _Pool:
    """``jobs`` worker processes, one mutant at a time each, with a time limit per mutant."""

    def __init__(self, jobs: int, assignments: tuple[str, ...], timeout: float) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.assignments = assignments
        self.timeout = timeout
        self.workers: list[tuple[Any, Connection]] = []
        self.solution_failures: dict[str, dict[str, str]] = {}
        for _ in range(max(1, jobs)):
            self.workers.append(self._start())

    def _start(self) -> tuple[Any, Connection]:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child, self.assignments), daemon=True)
        process.start()
        child.close()
        try:
            status, failures = parent.recv()
        except (EOFError, OSError):
            process.join()
            raise RuntimeError(
                f"a mutant worker died while grading the solutions of {', '.join(self.assignments)} "
                f"(exit code {process.exitcode}); "
                "`python -m autograder selfcheck --skip-nbgrader --stat-runs 0` shows why"
            ) from None
        if status != "ready":  # pragma: no cover - the worker sends nothing else first
            raise RuntimeError(f"a mutant worker answered {status!r} instead of 'ready'")
        self.solution_failures.update(failures)
        return process, parent

    def _stop(self, worker: tuple[Any, Connection]) -> None:
        process, conn = worker
        if process.is_alive():
            process.kill()
        process.join()
        conn.close()

    def close(self) -> None:
        for process, conn in self.workers:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()

    def run(self, mutants: list[Mutant], progress: Callable[[Verdict], None]) -> dict[str, Verdict]:
        pending = list(reversed(mutants))
        busy: dict[int, tuple[Mutant, float]] = {}  # worker slot -> (mutant, deadline)
        results: dict[str, Verdict] = {}

        def dispatch(slot: int) -> None:
            if pending:
                mutant = pending.pop()
                try:
                    self.workers[slot][1].send(asdict(mutant))
                except (BrokenPipeError, OSError):  # the worker died between two mutants: a fresh one
                    self._stop(self.workers[slot])
                    self.workers[slot] = self._start()
                    self.workers[slot][1].send(asdict(mutant))
                busy[slot] = (mutant, time.monotonic() + self.timeout)

        def finish(slot: int, verdict: Verdict) -> None:
            results[verdict.key] = verdict
            del busy[slot]
            progress(verdict)
            dispatch(slot)

        for slot in range(len(self.workers)):
            dispatch(slot)
        while busy:
            now = time.monotonic()
            wait_for = max(0.0, min(deadline for _, deadline in busy.values()) - now)
            ready = wait([self.workers[s][1] for s in busy], timeout=wait_for)
            for slot in list(busy):
                mutant, deadline = busy[slot]
                conn = self.workers[slot][1]
                if conn in ready:
                    try:
                        _, data = conn.recv()
                    except (EOFError, OSError):
                        self._stop(self.workers[slot])
                        self.workers[slot] = self._start()
                        finish(slot, Verdict(mutant.key, "crashed", "the worker process died"))
                        continue
                    finish(slot, Verdict(**data))
                elif time.monotonic() >= deadline:
                    self._stop(self.workers[slot])
                    self.workers[slot] = self._start()
                    finish(slot, Verdict(mutant.key, "timeout", f"grading took over {self.timeout:g} s"))
        return results


@dataclass
class AssignmentScore:
    """One assignment's mutation analysis."""

    assignment: str
    mutants: int
    killed: int  # including timeouts and crashes
    timeouts: int
    crashed: int
    equivalent: list[dict[str, str]]  # key, why (mutants that survived and are declared equivalent)
    survivors: list[dict[str, object]]  # grade_id, line, kind, description, key
    killed_equivalent: list[str] = field(default_factory=list)  # declared equivalent, yet killed
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [mutants, killed]
    verdicts: list[dict[str, object]] = field(default_factory=list)  # every mutant: key, status, reason

    @property
    def score(self) -> float:
        denominator = self.mutants - len(self.equivalent)
        return self.killed / denominator if denominator else 1.0


@dataclass
class MutationResult:
    """The analysis of every assignment asked for; ``ok`` when each scores at least ``target``."""

    scores: dict[str, AssignmentScore]
    solution_failures: dict[str, dict[str, str]]
    stale_equivalent: list[str]  # declared keys that name no mutant any more
    target: float = 0.95
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.solution_failures
            and not self.stale_equivalent
            and all(s.score >= self.target and not s.killed_equivalent for s in self.scores.values())
        )

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["ok"] = self.ok
        for name, score in self.scores.items():
            data["scores"][name]["score"] = score.score  # type: ignore[index]
        return data


def analyse(
    assignments: tuple[str, ...],
    *,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = False,
    equivalent: list[Equivalent] | None = None,
) -> MutationResult:
    """Generate and grade every mutant of ``assignments`` in ``jobs`` worker processes."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    declared = load_equivalent() if equivalent is None else equivalent
    mutants = {a: generate(a) for a in assignments}
    every = [m for a in assignments for m in mutants[a]]
    existing = {(m.assignment, m.key) for m in every}
    stale = [e.key for e in declared if e.assignment in assignments and (e.assignment, e.key) not in existing]
    bar = tqdm(total=len(every), desc="mutants", unit="mutant", disable=not progress)
    pool = _Pool(jobs, assignments, timeout)
    try:
        verdicts = pool.run(every, lambda _v: bar.update(1))
    finally:
        pool.close()
        bar.close()
    why = {(e.assignment, e.key): e.why for e in declared}
    scores = {}
    for assignment in assignments:
        found = [(m, verdicts[m.key]) for m in mutants[assignment]]
        by_kind: dict[str, list[int]] = {}
        for m, v in found:
            counts = by_kind.setdefault(m.kind, [0, 0])
            counts[0] += 1
            counts[1] += int(v.killed)
        scores[assignment] = AssignmentScore(
            assignment,
            mutants=len(found),
            killed=sum(v.killed for _, v in found),
            timeouts=sum(v.status == "timeout" for _, v in found),
            crashed=sum(v.status == "crashed" for _, v in found),
            equivalent=[
                {"key": m.key, "why": why[(assignment, m.key)]}
                for m, v in found
                if not v.killed and (assignment, m.key) in why
            ],
            survivors=[
                {
                    "grade_id": m.grade_id,
                    "line": m.line,
                    "kind": m.kind,
                    "description": m.description,
                    "key": m.key,
                }
                for m, v in found
                if not v.killed and (assignment, m.key) not in why
            ],
            killed_equivalent=[m.key for m, v in found if v.killed and (assignment, m.key) in why],
            by_kind={k: by_kind[k] for k in KINDS if k in by_kind},
            verdicts=[
                {"key": m.key, "line": m.line, "status": v.status, "reason": v.reason} for m, v in found
            ],
        )
    return MutationResult(scores, pool.solution_failures, stale, seconds=time.perf_counter() - start)


def report(result: MutationResult) -> str:
    """The per-assignment table and the survivors, as ``selfcheck --mutants`` prints them."""
    header = ("assignment", "mutants", "killed", "timeout", "equiv.", "survivors", "score")
    widths = (11, 7, 6, 7, 6, 9, 7)
    lines = [
        " ".join(
            f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        ),
        " ".join("-" * w for w in widths),
    ]
    for s in result.scores.values():
        lines.append(
            f"{s.assignment:<11} {s.mutants:>7} {s.killed:>6} {s.timeouts + s.crashed:>7} "
            f"{len(s.equivalent):>6} {len(s.survivors):>9} {100 * s.score:>6.1f}%"
        )
    lines.append(
        "score = killed / (mutants - equivalent); a timeout or a crashed worker counts as killed "
        f"(target {100 * result.target:.0f}% per assignment)"
    )
    for s in result.scores.values():
        for survivor in s.survivors:
            lines.append(
                f"  SURVIVOR {s.assignment}: {survivor['grade_id']} line {survivor['line']} "
                f"[{survivor['kind']}] {survivor['description']}"
            )
        for key in s.killed_equivalent:
            lines.append(f"  DECLARED EQUIVALENT BUT KILLED {s.assignment}: {key}")
    for key in result.stale_equivalent:
        lines.append(f"  STALE equivalent entry (no such mutant): {key}")
    for assignment, failing in result.solution_failures.items():
        lines.append(f"  the solution of {assignment} fails checks: {sorted(failing)}")
    return "\n".join(lines)
