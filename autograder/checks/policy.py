"""The static from-scratch policy: what a student's code may import and reach, checked with ``ast``.

The judge applies it to the source of every cell the student can edit, before anything executes
(:mod:`autograder.grading.judge.static`); a student's own run of a visible test applies it to the
answer's functions. A finding names the construct and its line; it zeroes the part it was found in
(in any other student cell, every part: code there can feed any answer). Rule table:

====  ==========================================================================================
rule  refused
====  ==========================================================================================
R1    an import outside :data:`ALLOWED_IMPORTS` (``sys``, ``os``, ``inspect``, ``importlib``,
      ``ctypes``, ``gc``, ``threading``, ``builtins``, ``autograder``, ... are all outside it)
R2    the dynamic built-ins of :data:`REFUSED_NAMES` (``exec``, ``eval``, ``compile``,
      ``__import__``, ``globals``, ``vars``, ``open``, ``get_ipython``, IPython's ``In``/``Out``, ...);
      a name that is a function's own parameter or local (``def forward(self, input)``, as
      ``torch.nn``'s modules write it), or is assigned unconditionally at the top of the cell before
      its use (``input = torch.randn(3)``), is the student's variable, not the built-in; deleting one
      of these names, or declaring it ``global``/``nonlocal``, is refused
R3    ``getattr``/``setattr``/``delattr``/``hasattr`` used other than called, or called on torch (or
      on anything that is not a plain variable or attribute) with a computed name; on the student's
      own objects a computed name is allowed (weight dropout's ``getattr(module, name)``), and what
      such a name reaches is still seen by the call-time trace
R4    a dunder attribute or name outside :data:`ALLOWED_DUNDERS` (``__dict__``, ``__globals__``,
      ``__builtins__``, ``__subclasses__``, ...)
R5    torch internals (:data:`TORCH_INTERNALS`: ``torch._C``, ``torch.ops``, ``torch._VF``,
      ``torch.overrides``, ``torch.library``, ...)
R6    any of torch's dropout functions, layers and methods (every torch name containing
      "dropout": ``F.dropout``, ``nn.Dropout``, ``torch.dropout``, ``Tensor.dropout_`` ...) and
      ``scaled_dot_product_attention`` with a dropout probability; off where built-in dropout is
      allowed (the practice assignment)
R7    the course's package ``autograder`` (the reference lives there)
====  ==========================================================================================

Everything a from-scratch answer needs stays allowed: ``torch.rand``, ``torch.bernoulli``,
``bernoulli_``, ``masked_fill``, ``torch.where``, an own ``torch.Generator(device=...)``,
``super().__init__()``, underscore attributes on ``self``, ``%matplotlib`` magics.
"""

from __future__ import annotations

import ast
import re

import torch

ALLOWED_IMPORTS = frozenset(
    {
        "torch", "torch.nn", "torch.nn.functional", "torch.utils", "torch.utils.data", "torch.autograd",
        "math", "numpy", "typing", "collections", "dataclasses", "itertools", "time", "random",
        "matplotlib", "matplotlib.pyplot", "__future__",
        # what a student's own demo or plot cell commonly needs, and none of which reaches built-in
        # dropout, the reference, the interpreter or the file system beyond in-memory buffers:
        "io", "base64", "json", "functools", "operator", "copy", "statistics", "pprint", "textwrap",
        "enum", "abc", "warnings", "IPython.display", "tqdm", "tqdm.auto",
    }
)  # fmt: skip
REFUSED_NAMES = frozenset(
    {
        "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "input",
        "open", "get_ipython", "In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__", "___",
        "exit", "quit", "memoryview", "__builtins__", "__builtin__", "__loader__", "__spec__",
    }
)  # fmt: skip
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
ALLOWED_DUNDERS = frozenset(
    {"__init__", "__name__", "__class__", "__call__", "__doc__", "__len__", "__repr__"}
)
#: Dunder names a class body may assign, as ``torch.nn``'s own modules do (``__constants__``).
CLASS_DUNDERS = frozenset({"__constants__", "__slots__", "__match_args__", "__hash__"})
#: Dunder attributes that may be read, as a subclass extends its base's (``nn.Linear.__constants__``):
#: a module's list of constant attribute names, which reaches nothing else.
READABLE_DUNDERS = frozenset({"__constants__"})
TORCH_INTERNALS = frozenset(
    {
        "_C", "_VF", "ops", "_ops", "overrides", "library", "_dynamo", "hub", "cpp_extension", "_refs",
        "_prims", "_decomp", "classes", "_jit_internal", "jit", "compile", "load", "package", "_tensor",
        "_functorch", "func", "fx", "export",
    }
)  # fmt: skip
_HISTORY = re.compile(r"^_(i|ii|iii|\d+|i\d+)$")


def _torch_dropout_names() -> frozenset[str]:
    places = [torch, torch.nn, torch.nn.functional, torch.nn.modules, torch.Tensor, torch._C._nn]
    names = {n for place in places for n in dir(place) if "dropout" in n.lower()}
    return frozenset(names | {"Dropout", "dropout", "_DropoutNd", "native_dropout"})


#: Every name under which torch offers dropout (computed from the installed torch).
TORCH_DROPOUT_NAMES = _torch_dropout_names()


def _dotted(node: ast.AST) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _is_matplotlib_magic(node: ast.Call) -> bool:
    """``get_ipython().run_line_magic('matplotlib', '...')``, what ``%matplotlib inline`` becomes."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "run_line_magic"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and not func.value.args
        and len(node.args) == 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        and node.args[0].value == "matplotlib"  # type: ignore[union-attr]
    )


def ipython_to_python(source: str) -> str:
    """The cell as IPython runs it (magics become calls), or the source unchanged without IPython."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - the judge always has IPython
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - an untransformable cell is parsed as it is
        return source


def _shadowable(name: str) -> bool:
    """A refused built-in name a student may use for a variable of their own (not a dunder or history)."""
    return name in REFUSED_NAMES and not name.startswith("_") and name.isidentifier()


def _function_locals(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """The names Python makes local to this function: its parameters and every name it binds (minus
    ``global``/``nonlocal`` ones). A load of such a name never reaches a built-in: the compiler makes it
    local, and before it is bound it raises ``UnboundLocalError``."""
    arguments = node.args
    names = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    declared: set[str] = set()
    pending: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
    while pending:
        child = pending.pop()
        if isinstance(child, ast.Global | ast.Nonlocal):
            declared.update(child.names)
            continue
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(child.name)  # its body is another scope; decorators and defaults are this one's
            pending.extend(child.decorator_list)
            pending.extend([*getattr(child, "bases", []), *getattr(child, "keywords", [])])
            if not isinstance(child, ast.ClassDef):
                pending.extend([*child.args.defaults, *(d for d in child.args.kw_defaults if d is not None)])
            continue
        if isinstance(child, ast.Lambda):
            pending.extend([*child.args.defaults, *(d for d in child.args.kw_defaults if d is not None)])
            continue
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store | ast.Del):
            names.add(child.id)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            names.add(child.name)
        elif isinstance(child, ast.alias):
            names.add((child.asname or child.name).split(".")[0])
        pending.extend(ast.iter_child_nodes(child))
    return names - declared


def _top_level_bindings(tree: ast.Module) -> dict[str, int]:
    """Names the cell binds unconditionally at its top level (a plain assignment or import, not inside
    ``if``/``for``/``try``), with the line of the first such binding."""
    bound: dict[str, int] = {}
    for statement in tree.body:
        targets: list[ast.AST] = []
        if isinstance(statement, ast.Assign):
            targets = list(statement.targets)
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets = [statement.target]
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    bound.setdefault(node.id, statement.end_lineno or statement.lineno)
    return bound


class _Scanner(ast.NodeVisitor):
    def __init__(self, builtin_allowed: bool, top_level: dict[str, int] | None = None) -> None:
        self.builtin_allowed = builtin_allowed
        self.found: list[str] = []
        self.torch_aliases = {"torch", "nn", "F", "functional"}
        self._magic_calls: set[int] = set()
        self._scopes: list[set[str]] = []  # the locals of each enclosing function, innermost last
        self._class_depth = 0
        self._top_level = top_level or {}

    def _is_own_variable(self, node: ast.Name) -> bool:
        """``node`` names the student's own variable rather than a built-in (see R2)."""
        if not _shadowable(node.id) or isinstance(node.ctx, ast.Del):
            return False
        if any(node.id in scope for scope in self._scopes):
            return True
        bound_at = self._top_level.get(node.id)
        if isinstance(node.ctx, ast.Store):
            return not self._scopes and bound_at is not None
        return bound_at is not None and node.lineno > bound_at

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        # Decorators, defaults and annotations run in the enclosing scope: visited before the push.
        for outer in [*getattr(node, "decorator_list", []), *node.args.defaults]:
            self.visit(outer)
        for outer in node.args.kw_defaults:
            if outer is not None:
                self.visit(outer)
        for argument in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                         node.args.vararg, node.args.kwarg]:  # fmt: skip
            if argument is not None and argument.annotation is not None:
                self.visit(argument.annotation)
        if getattr(node, "returns", None) is not None:
            self.visit(node.returns)  # type: ignore[union-attr]
        self._scopes.append(_function_locals(node))
        outer_class, self._class_depth = self._class_depth, 0
        try:
            for statement in node.body if isinstance(node.body, list) else [node.body]:
                self.visit(statement)
        finally:
            self._scopes.pop()
            self._class_depth = outer_class

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for outer in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(outer)
        self._class_depth += 1
        try:
            for statement in node.body:
                self.visit(statement)
        finally:
            self._class_depth -= 1

    def visit_Global(self, node: ast.Global) -> None:
        self._declared(node, node.names, "global")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._declared(node, node.names, "nonlocal")

    def _declared(self, node: ast.AST, names: list[str], how: str) -> None:
        for name in names:
            if name in REFUSED_NAMES or (name.startswith("__") and name.endswith("__")):
                self.add(node, f"declares {name} {how} [R2]")

    def add(self, node: ast.AST, text: str) -> None:
        self.found.append(f"line {getattr(node, 'lineno', '?')}: {text}")

    def _check_import(self, node: ast.AST, module: str) -> None:
        if module.split(".")[0] == "autograder":
            self.add(node, f"imports {module} (the course's reference lives there) [R7]")
        elif module not in ALLOWED_IMPORTS:
            self.add(node, f"imports {module}, which answers may not import [R1]")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import(node, alias.name)
            if alias.name.split(".")[0] == "torch":
                self.torch_aliases.add((alias.asname or alias.name).split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        self._check_import(node, module)
        if module.split(".")[0] == "torch":
            for alias in node.names:
                if alias.name == "*":
                    self.add(node, f"imports * from {module} [R1]")
                elif alias.name in TORCH_INTERNALS:
                    self.add(node, f"imports torch internals {module}.{alias.name} [R5]")
                elif alias.name in TORCH_DROPOUT_NAMES and not self.builtin_allowed:
                    self.add(node, f"imports built-in dropout {module}.{alias.name} [R6]")
                else:
                    self.torch_aliases.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if self._is_own_variable(node):
            return
        if (
            self._class_depth and not self._scopes and name in CLASS_DUNDERS
            and isinstance(node.ctx, ast.Store)
        ):  # fmt: skip
            return
        if name in REFUSED_NAMES or _HISTORY.match(name):
            self.add(node, f"uses {name} [R2]")
        elif name in ATTRIBUTE_BUILTINS:
            self.add(node, f"uses {name} other than called with a constant attribute name [R3]")
        elif name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
            self.add(node, f"uses {name} [R4]")
        elif name == "autograder":
            self.add(node, "uses the autograder package (the reference lives there) [R7]")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        chain = _dotted(node)
        rooted_in_torch = bool(chain) and chain[0] in self.torch_aliases
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS | READABLE_DUNDERS:
            self.add(node, f"uses the attribute {attr} [R4]")
        elif attr in ("_C", "_VF") or (rooted_in_torch and attr in TORCH_INTERNALS):
            self.add(node, f"uses torch internals {'.'.join(chain) or attr} [R5]")
        elif attr in TORCH_DROPOUT_NAMES and not self.builtin_allowed:
            self.add(node, f"uses built-in dropout {'.'.join(chain) or attr} [R6]")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if _is_matplotlib_magic(node):
            return
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_BUILTINS:
            name = node.args[1] if len(node.args) >= 2 else None
            owner = _dotted(node.args[0]) if node.args else []
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                if not owner or owner[0] in self.torch_aliases:
                    self.add(node, f"calls {func.id} on torch with a computed name [R3]")
            else:
                self._check_constant_attribute(node, func.id, name.value)
            for child in [*node.args, *node.keywords]:
                self.visit(child)
            return
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "scaled_dot_product_attention"
            and not self.builtin_allowed
            and (any(k.arg == "dropout_p" for k in node.keywords) or len(node.args) >= 5)
        ):
            self.add(node, "calls scaled_dot_product_attention with a dropout probability (dropout_p) [R6]")
        self.generic_visit(node)

    def _check_constant_attribute(self, node: ast.AST, how: str, name: str) -> None:
        if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
            self.add(node, f"{how}(..., {name!r}) [R4]")
        elif name in TORCH_INTERNALS and name.startswith("_"):
            self.add(node, f"{how}(..., {name!r}): torch internals [R5]")
        elif "dropout" in name.lower() and not self.builtin_allowed:
            self.add(node, f"{how}(..., {name!r}): built-in dropout by name [R6]")


def scan(source: str, *, builtin_allowed: bool = False) -> list[str]:
    """Findings (``"line N: what [rule]"``) in one cell's source; none for a cell that does not parse
    (it cannot run either)."""
    try:
        tree = ast.parse(ipython_to_python(source))
    except (SyntaxError, ValueError, RecursionError):
        return []
    scanner = _Scanner(builtin_allowed, _top_level_bindings(tree))
    scanner.visit(tree)
    return list(dict.fromkeys(scanner.found))


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(ipython_to_python(source))
    except (SyntaxError, ValueError, RecursionError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names
