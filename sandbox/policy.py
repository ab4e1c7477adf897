"""What a script may say: parse, desugar, RestrictedPython's policy plus Terrarium's, compile.

RestrictedPython's transformer is the base policy (no names or attributes starting with `_`,
attribute/item/iteration/write access routed through guard functions, print collected).
Terrarium adds, each in one visitor method with its reason:
- structured problems (line, column, source line, hint) instead of strings, all of them at once;
- every binding of a name starting with `_` is refused (positional-only arguments, match
  captures, `except ... as`, import aliases...) so a script can never shadow a guard hook;
- imports are checked against the allow-list at compile time, so a refused import costs nothing;
- the value of the last top-level expression is kept as the script's result.
This runs in the sandbox child (compiling hostile source is itself an attack surface).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any, TypeVar

from RestrictedPython.transformer import (
    FORBIDDEN_FUNC_NAMES,
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
)

from sandbox.desugar import AWAIT, AWAIT_CALL, desugar
from sandbox.facades import FACADES, import_refusal
from sandbox.guards import (
    ATTRIBUTE_WALKERS,
    BLOCKED_ATTRIBUTES,
    CLASS_BODY_DUNDERS,
    DUNDER_METHODS,
    REFUSED_DUNDERS,
    WRITABLE_DUNDERS,
)
from sandbox.messages import Problem
from sandbox.preflight import check as preflight_check
from sandbox.preflight import param_warnings
from sandbox.problems import source_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sandbox.surface import SurfaceSpec

    # What a NodeTransformer's visit method returns: a node, the nodes replacing it, or None.
    Visited = ast.AST | Iterable[ast.AST] | None

_Node = TypeVar("_Node", bound=ast.AST)

FILENAME = "<script>"
RESULT_NAME = "__terrarium_last__"


@dataclass
class Compiled:
    code: CodeType | None
    tree: ast.Module | None
    problems: list[Problem] = field(default_factory=list)
    defines_run: bool = False
    calls_run_itself: bool = False
    kind: str = "policy"  # "syntax" or "policy" when problems are present
    warnings: list[str] = field(default_factory=list)  # imports that will fail when they run


# Names the compiled code itself uses (guard hooks `_getattr_`..., `_print`, `_tmp0`...):
# a script can never bind or read them, so it can never replace a guard.
_RESERVED_NAME = re.compile(r"_.*_|_print|_tmp\d+|__.*")
# Dunder names a script may read as plain names.
_READABLE_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__debug__"})


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _hint_for(message: str) -> str | None:
    if "reserved for the sandbox" in message:
        return "pick a name that does not start and end with '_'"
    if "import *" in message or '"*" imports' in message:
        return "name what you use (from json import dumps, loads), or import the module"
    if "Exec calls" in message or "Eval calls" in message:
        return (
            "code cannot build code in the sandbox: write the code out, or keep functions in a dict"
        )
    if "cannot be assigned or deleted" in message:
        return "store your data under an ordinary name, or define the method in the class body"
    if "dunder" in message:
        return (
            "read type(x).__name__, __qualname__, __doc__, __class__, an exception's "
            "__cause__/__context__, and your own classes' methods; nothing else of the "
            "interpreter's machinery is reachable"
        )
    if 'starts with "_"' in message or "starts with '_'" in message:
        return "names and attributes starting with '_' are not available in the sandbox"
    if "is a restricted name" in message:
        return "frame, code and traceback internals are not available in the sandbox"
    return None


class TerrariumPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy with structured problems and Terrarium's own refusals."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(errors=[], warnings=[], used_names={})
        self.problems = problems
        self._class_members: set[int] = set()  # ids of nodes that define a class's members
        self._class_names: list[str] = []  # the classes being visited, innermost last
        self.import_warnings: list[str] = []
        self._visitors, self._inert = _walk_tables(type(self))

    # NodeTransformer's walk, made cheaper with the same visits in the same order and the same
    # result: each node's visitor found by its type in a table made once (a type without a
    # `visit_` method of its own still goes to RestrictedPython's generic_visit, which refuses
    # it), and a context or operator not visited only when its visitor is RestrictedPython's
    # `return self.node_contents_visit(node)` on a node with no fields (see `_inert_nodes`).
    def visit(self, node: ast.AST) -> Any:
        visitor = self._visitors.get(type(node))
        if visitor is None:
            method = "visit_" + node.__class__.__name__
            return getattr(self, method, self.generic_visit)(node)
        return visitor(self, node)

    def node_contents_visit(self, node: _Node) -> _Node:
        """NodeTransformer.generic_visit: a visitor's None removes the node, a list of nodes
        takes its place in a list field."""
        cls = type(node)
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _fields_of(cls)
        inert = self._inert
        for name, context in fields:
            value = getattr(node, name, None)
            if context and (type(value) in inert or _inert(value, inert)):
                continue
            if isinstance(value, list):
                self._visit_list(value)
            elif isinstance(value, ast.AST):
                new = self.visit(value)
                if new is None:
                    delattr(node, name)
                elif new is not value:
                    setattr(node, name, new)
        return node

    def _visit_list(self, value: list[Any]) -> None:
        new_values: list[Any] | None = None  # made at the first item replaced or removed
        for i, item in enumerate(value):
            if isinstance(item, ast.AST):
                new = self.visit(item)
                if new is item and new_values is None:
                    continue
                if new_values is None:
                    new_values = value[:i]
                if new is None:
                    continue
                if isinstance(new, ast.AST):
                    new_values.append(new)
                else:
                    new_values.extend(new)
            elif new_values is not None:
                new_values.append(item)
        if new_values is not None:
            value[:] = new_values

    def error(self, node: ast.AST, info: str) -> None:
        self.errors.append(info)
        self.problems.append(
            Problem(
                line=getattr(node, "lineno", None),
                col=getattr(node, "col_offset", None),
                message=info,
                hint=_hint_for(info),
            )
        )

    # -- names: `_private` names are the script's own; no binding may shadow a guard hook ----
    def _check_binding(self, node: ast.AST, name: str | None) -> None:
        if name and name.startswith("_") and name != "_" and _RESERVED_NAME.fullmatch(name):
            self.error(node, f'"{name}" is reserved for the sandbox.')

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        """Every name a script binds or reads: `_private` names are allowed; dunders only as
        class members (`__init__`, `__repr__`, `__slots__`...) and `__name__` as a value."""
        if name is None or name == "_":
            return
        if _is_dunder(name):
            if id(node) in self._class_members and name in CLASS_BODY_DUNDERS:
                return
            ctx = getattr(node, "ctx", None)
            if isinstance(ctx, ast.Load) and name in _READABLE_DUNDER_NAMES:
                return
            if name in DUNDER_METHODS:
                # `def __init__(self, x): ...` in a decorator, then `cls.__init__ = __init__`:
                # the data model's method names mean nothing to the module or the guards.
                return
            if id(node) in self._class_members:
                message = f'"{name}" cannot be defined in a class body in the sandbox (dunder'
                self.error(node, message + " methods that reach the interpreter are refused).")
            else:
                self.error(node, f'"{name}" is a dunder name, not available in the sandbox.')
            return
        if name.startswith("_") and _RESERVED_NAME.fullmatch(name):
            self.error(node, f'"{name}" is reserved for the sandbox.')
        elif name.endswith("__roles__"):
            self.error(node, f'"{name}" is an invalid variable name.')
        elif name in FORBIDDEN_FUNC_NAMES:
            self.error(node, f'"{name}" is a reserved name.')

    def visit_Name(self, node: ast.Name) -> Visited:
        """`print` stays the builtin (one object, `print is print`); the rest as the base."""
        if node.id == "print" and isinstance(node.ctx, ast.Load):
            return node
        return super().visit_Name(node)

    def visit_Call(self, node: ast.Call) -> Visited:
        """Calls stay calls: `f(*args, **kw)` is not routed through `_apply_`, so errors name
        `f`, not a guard (nothing is checked there: arguments are plain values)."""
        if isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval"):
            self.error(node, f"{node.func.id.capitalize()} calls are not allowed.")
        return self.node_contents_visit(node)

    def gen_unpack_spec(self, tpl: ast.Tuple) -> ast.Dict:
        """RestrictedPython's spec, marked `exact` when no target is starred (the guard then
        reads at most one value past the targets, as CPython does)."""
        spec = super().gen_unpack_spec(tpl)
        spec.keys.append(ast.Constant("exact"))
        spec.values.append(ast.Constant(not any(self.is_starred(e) for e in tpl.elts)))
        return spec

    def visit_Nonlocal(self, node: ast.Nonlocal) -> Visited:
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Global(self, node: ast.Global) -> Visited:
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Visited:
        """`x: int = 5`, `self.x: int = 5`, class-body fields: target, annotation and value
        go through the same visitors (and guards) as any assignment and expression."""
        return self.node_contents_visit(node)

    # -- classes: members may be dunders of the data model; `__x` names are mangled ------------
    def visit_ClassDef(self, node: ast.ClassDef) -> Visited:
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._class_members.add(id(stmt))
            elif isinstance(stmt, ast.Assign):
                self._class_members.update(id(t) for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._class_members.add(id(stmt.target))
        keywords = [k for k in node.keywords if k.arg != "metaclass"]
        self._class_names.append(node.name)
        try:
            new = super().visit_ClassDef(node)
        finally:
            self._class_names.pop()
        if isinstance(new, ast.ClassDef):
            # RestrictedPython rebuilds the class from a template parsed on its own: it and its
            # `metaclass=` keyword sit at line 1, where an error raised while the class is made
            # (a base that is not a class) would be reported. They take the class's location.
            for keyword in new.keywords:
                ast.copy_location(keyword, node)
                ast.copy_location(keyword.value, node)
            ast.copy_location(new, node)
            new.keywords.extend(keywords)  # `total=False` of a TypedDict, an Enum's options
        return new

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Visited:
        self.check_name(node, node.name)
        return super().visit_FunctionDef(node)

    def _mangle(self, attr: str) -> str:
        """`self.__x` inside `class C` is `self._C__x`, as CPython compiles it (the guard then
        sees the name the attribute really has)."""
        if attr.startswith("__") and not attr.endswith("__") and self._class_names:
            owner = self._class_names[-1].lstrip("_")
            if owner:
                return f"_{owner}{attr}"
        return attr

    def _check_attribute(self, node: ast.AST, attr: str, ctx: ast.expr_context) -> None:
        if attr in INSPECT_ATTRIBUTES or (attr in REFUSED_DUNDERS and attr != "__dict__"):
            self.error(node, f'"{attr}" is a dunder of the interpreter\'s machinery, not '
                             "available in the sandbox.")  # fmt: skip
        elif _is_dunder(attr) and not isinstance(ctx, ast.Load) and attr not in WRITABLE_DUNDERS:
            self.error(node, f'"{attr}" cannot be assigned or deleted in the sandbox; only the '
                             "data model's methods (__init__, __repr__...) and __doc__ can be, "
                             "on your own classes.")  # fmt: skip
        elif attr.endswith("__roles__"):
            self.error(node, f'"{attr}" is an invalid attribute name.')

    def visit_Attribute(self, node: ast.Attribute) -> Visited:
        """`a.b` -> `_getattr_(a, "b")` (the guard decides on `_` names at run time: see
        guards.guarded_getattr); `a.b = c` -> `_write_(a).b = c`; dunders are never written."""
        node.attr = self._mangle(node.attr)
        self._check_attribute(node, node.attr, node.ctx)
        node = self.node_contents_visit(node)
        # The new nodes take the attribute's location one by one: RestrictedPython's
        # copy_locations walks the whole value below them again, for every attribute of a chain.
        if isinstance(node.ctx, ast.Load):
            func, name = ast.Name("_getattr_", ast.Load()), ast.Constant(node.attr)
            call = ast.Call(func=func, args=[node.value, name], keywords=[])
            _locate(node, call, func, name)
            return call
        func = ast.Name("_write_", ast.Load())
        write = ast.Call(func=func, args=[node.value], keywords=[])
        _locate(node.value, write, func)
        node.value = write
        return node

    # -- augmented assignment to items and attributes -----------------------------------------
    def visit_AugAssign(self, node: ast.AugAssign) -> Visited:
        """`a[k] += v` and `a.b += v` evaluate `a` and `k` once, read through `_getitem_`/
        `_getattr_`, combine through `_inplacevar_` and store through `_write_`, in CPython's
        order (target, key, read, value, operation, store)."""
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        obj_name = self.gen_tmp_name()
        stmts: list[ast.stmt] = [_assign(obj_name, self.visit(target.value))]
        if isinstance(target, ast.Attribute):
            attr = self._mangle(target.attr)
            self._check_attribute(target, attr, ast.Store())
            current: ast.expr = _call("_getattr_", _load(obj_name), ast.Constant(attr))
            store: ast.expr = ast.Attribute(_call("_write_", _load(obj_name)), attr, ast.Store())
        elif isinstance(target, ast.Subscript):
            key_name = self.gen_tmp_name()
            key = target.slice
            if isinstance(key, ast.Slice):
                parts = [p if p is not None else ast.Constant(None)
                         for p in (key.lower, key.upper, key.step)]  # fmt: skip
                key = _call("slice", *parts)
            stmts.append(_assign(key_name, self.visit(key)))
            current = _call("_getitem_", _load(obj_name), _load(key_name))
            store = ast.Subscript(_call("_write_", _load(obj_name)), _load(key_name), ast.Store())
        else:  # pragma: no cover - the grammar allows no other target
            self.error(node, "this augmented assignment target is not allowed")
            return node
        value = _call("_inplacevar_", op, current, self.visit(node.value))
        stmts.append(ast.Assign(targets=[store], value=value))
        stmts.append(ast.Delete(targets=[ast.Name(n, ast.Del()) for n in _assigned(stmts)]))
        for stmt in stmts:
            ast.copy_location(stmt, node)
            ast.fix_missing_locations(stmt)
        return stmts

    # -- match: captures are bindings; values and class patterns never read past the guards ---
    def visit_Match(self, node: ast.Match) -> Visited:
        return self.node_contents_visit(node)

    def visit_match_case(self, node: ast.match_case) -> Visited:
        return self.node_contents_visit(node)

    def _check_pattern_value(self, node: ast.expr) -> None:
        """A value pattern (`case Color.RED`) is read by the interpreter, not `_getattr_`: a
        dotted name of public attributes only, the guards' refusals decided here."""
        while isinstance(node, ast.Attribute):
            self._check_pattern_attribute(node, node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            self.check_name(node, node.id)

    def _check_pattern_attribute(self, node: ast.AST, attr: str) -> None:
        if (
            attr.startswith("_")
            or attr in BLOCKED_ATTRIBUTES
            or attr in ATTRIBUTE_WALKERS
            or attr == "obj"
        ):
            self.error(node, f'"{attr}" cannot be read by a pattern in the sandbox; match on '
                             "a public attribute, or read it in the case body.")  # fmt: skip

    def visit_MatchValue(self, node: ast.MatchValue) -> Visited:
        if isinstance(node.value, ast.Attribute):
            self._check_pattern_value(node.value)
            return node
        return self.node_contents_visit(node)

    def visit_MatchSingleton(self, node: ast.MatchSingleton) -> Visited:
        return node

    def visit_MatchSequence(self, node: ast.MatchSequence) -> Visited:
        return self.node_contents_visit(node)

    def visit_MatchOr(self, node: ast.MatchOr) -> Visited:
        return self.node_contents_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> Visited:
        """`case C(x, k=p)` reads `k` (and C.__match_args__' names, checked when a script class
        is made) on the subject without the guards: only public, unrefused names."""
        self._check_pattern_value(node.cls)
        for attr in node.kwd_attrs:
            self._check_pattern_attribute(node, attr)
        node.patterns = [self.visit(p) for p in node.patterns]
        node.kwd_patterns = [self.visit(p) for p in node.kwd_patterns]
        return node

    def visit_arguments(self, node: ast.arguments) -> Visited:
        for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]:
            if arg is not None:
                self._check_binding(arg, arg.arg)
        return super().visit_arguments(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> ast.AST:
        self._check_binding(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> ast.AST:
        self._check_binding(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> ast.AST:
        self._check_binding(node, node.rest)
        for key in node.keys:
            if isinstance(key, ast.Attribute):
                self._check_pattern_value(key)
        node.patterns = [self.visit(p) for p in node.patterns]
        return node

    def visit_alias(self, node: ast.alias) -> Visited:
        self._check_binding(node, node.asname)
        return super().visit_alias(node)

    # -- imports: an import outside the allow-list compiles, warns, and fails when it runs ------
    # The ImportError is raised by the sandbox's `__import__` (facades.guarded_import), so
    # `try: import x` / `except ImportError:` and `if TYPE_CHECKING:` imports work as in CPython.
    def _note_import(self, node: ast.AST, name: str) -> None:
        if name not in FACADES:
            line = getattr(node, "lineno", "?")
            self.import_warnings.append(f"line {line}: {import_refusal(name)}")

    def visit_Import(self, node: ast.Import) -> Visited:
        for alias in node.names:
            self._note_import(node, alias.name)
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Visited:
        self._note_import(node, ("." * node.level) + (node.module or ""))
        if any(alias.name == "*" for alias in node.names):
            self.error(node, f'"from {node.module} import *" is not allowed; name what you use.')
        return super().visit_ImportFrom(node)


# Fields that hold a context or an operator (a node of one of the `_INERT` types when it comes
# from ast.parse or a pass of ours).
_CONTEXT_FIELDS = ("ctx", "op", "ops")


def _fields_of(cls: type) -> tuple[tuple[str, bool], ...]:
    """A node type's fields, in order: (name, holds a context or an operator)."""
    return tuple((f, f in _CONTEXT_FIELDS) for f in getattr(cls, "_fields", ()))


def _all_fields() -> dict[type, tuple[tuple[str, bool], ...]]:
    table = {}
    stack: list[type] = [ast.AST]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        table[cls] = _fields_of(cls)
    return table


_Visitors = dict[type, "Callable[[TerrariumPolicy, Any], Any]"]


def _visitors(policy: type[TerrariumPolicy]) -> _Visitors:
    """Node type -> the function `getattr(policy, "visit_" + type name)` is bound from."""
    table: _Visitors = {}
    for attr in dir(policy):
        cls = getattr(ast, attr.removeprefix("visit_"), None)
        method = getattr(policy, attr)
        if (
            attr.startswith("visit_")
            and isinstance(cls, type)
            and issubclass(cls, ast.AST)
            and cls.__name__ == attr.removeprefix("visit_")
            and isinstance(method, FunctionType)
        ):
            table[cls] = method
    return table


def _inert_nodes(visitors: _Visitors) -> frozenset[type]:
    """Contexts and operators whose visitor is RestrictedPython's `return
    self.node_contents_visit(node)` and that have no fields: visiting one does nothing."""
    trivial = RestrictingNodeTransformer.visit_Load.__code__
    inert = set()
    for base in (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop):
        for cls in base.__subclasses__():
            method = visitors.get(cls)
            code = getattr(method, "__code__", None)
            if (
                code is not None
                and not cls._fields
                and code.co_code == trivial.co_code
                and code.co_names == ("node_contents_visit",)
                and code.co_consts[1:] == trivial.co_consts[1:]
                and code.co_varnames == trivial.co_varnames
            ):
                inert.add(cls)
    return frozenset(inert)


def _inert(value: object, inert: frozenset[type]) -> bool:
    """Is this a context or operator (or a list of them) whose visit does nothing?"""
    if isinstance(value, list):
        return all(type(item) in inert for item in value)
    return type(value) in inert


_WALK_TABLES: dict[type, tuple[_Visitors, frozenset[type]]] = {}


def _walk_tables(policy: type[TerrariumPolicy]) -> tuple[_Visitors, frozenset[type]]:
    """A policy class's visitors by node type, and the node types it need not visit."""
    tables = _WALK_TABLES.get(policy)
    if tables is None:
        visitors = _visitors(policy)
        tables = _WALK_TABLES[policy] = (visitors, _inert_nodes(visitors))
    return tables


# Made once at import (in the zygote), so a child's walk only reads them.
_FIELDS = _all_fields()
_POLICY_VISITORS, _INERT = _walk_tables(TerrariumPolicy)


def _locate(source: ast.AST, *nodes: ast.AST) -> None:
    for node in nodes:
        ast.copy_location(node, source)


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(func), args=list(args), keywords=[])


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(name, ast.Store())], value=value)


def _assigned(stmts: list[ast.stmt]) -> list[str]:
    return [t.id for s in stmts if isinstance(s, ast.Assign) for t in s.targets
            if isinstance(t, ast.Name)]  # fmt: skip


def _calls_run_at_top_level(tree: ast.Module) -> bool:
    """Does the script call `run(...)` itself, outside any function (e.g. asyncio.run(run(c)))?"""

    class Finder(ast.NodeVisitor):
        found = False

        def visit_FunctionDef(
            self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        ) -> None:
            pass  # a call inside a function is not the script calling run at top level

        visit_AsyncFunctionDef = visit_FunctionDef
        visit_Lambda = visit_FunctionDef

        def visit_ClassDef(self, node: ast.ClassDef) -> None:
            pass

        def visit_Call(self, node: ast.Call) -> None:
            if isinstance(node.func, ast.Name) and node.func.id == "run":
                self.found = True
            self.generic_visit(node)

    finder = Finder()
    finder.visit(tree)
    return finder.found


class _AwaitCalls(ast.NodeTransformer):
    """`AWAIT(x)` (desugar.py's `await x`, read by pre-flight) -> `AWAIT_CALL(x)()`."""

    # NodeTransformer's walk with the same result: only calls have a visitor here (it always
    # returns a node), every other node's children are walked, an inert context or operator
    # (no fields, not a call) is not.
    def visit(self, node: ast.AST) -> Any:
        if type(node) is ast.Call:
            return self.visit_Call(node)
        return self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        cls = type(node)
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _fields_of(cls)
        for name, context in fields:
            value = getattr(node, name, None)
            if context and (type(value) in _INERT or _inert(value, _INERT)):
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        new = self.visit(item)
                        if new is not item:
                            value[i] = new
            elif isinstance(value, ast.AST):
                new = self.visit(value)
                if new is not value:
                    setattr(node, name, new)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name) and func.id == AWAIT and len(node.args) == 1:
            inner = ast.copy_location(ast.Call(_load(AWAIT_CALL), node.args, []), node)
            ast.copy_location(inner.func, func)
            return ast.copy_location(ast.Call(inner, [], []), node)
        return node


def _keep_last_expression(tree: ast.Module) -> None:
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        target = ast.copy_location(ast.Name(RESULT_NAME, ast.Store()), last)
        assign = ast.Assign(targets=[target], value=last.value)
        tree.body[-1] = ast.copy_location(assign, last)


def compile_script(source: str, spec: SurfaceSpec | None = None) -> Compiled:
    """Parse, desugar, check `client.*` calls against `spec`, apply the policy."""
    lines = source.splitlines()
    problems: list[Problem] = []
    try:
        tree = ast.parse(source, FILENAME, "exec")
    except SyntaxError as exc:
        hint = None
        if exc.msg and "unexpected indent" in exc.msg:
            hint = "check the indentation of this line against the one above"
        elif exc.msg and "was never closed" in exc.msg:
            hint = "a bracket or quote opened here is not closed"
        problems.append(
            Problem(
                line=exc.lineno,
                col=exc.offset,
                message=f"SyntaxError: {exc.msg}",
                source=source_line(lines, exc.lineno),
                hint=hint,
            )
        )
        return Compiled(None, None, problems, kind="syntax")
    except (RecursionError, MemoryError, ValueError) as exc:
        message = "the code is nested too deeply or is too large to parse"
        if isinstance(exc, ValueError):
            message = f"the code cannot be parsed: {exc}"
        problems.append(Problem(line=None, message=message, hint="split it into smaller pieces"))
        return Compiled(None, None, problems, kind="syntax")

    try:
        tree = desugar(tree, source)
        calls_run = "run" in source and _calls_run_at_top_level(tree)
        defines_run = any(  # only a top-level `def run`/`async def run`, never a method
            isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == "run"
            for stmt in tree.body
        )
        early_warnings: list[str] = []
        if spec is not None:
            problems.extend(preflight_check(tree, spec, source))
            early_warnings = param_warnings(tree, spec)
        if "async" in source or "await" in source:  # desugar's AWAIT calls need these words
            _AwaitCalls().visit(tree)
        policy = TerrariumPolicy(problems)
        policy.visit(tree)
        if problems:
            for p in problems:
                p.source = p.source or source_line(lines, p.line)
            problems.sort(key=lambda p: (p.line or 0, p.col or 0))
            return Compiled(None, tree, problems, kind="policy")
        _keep_last_expression(tree)
        try:
            code = compile(tree, FILENAME, "exec", dont_inherit=True)
        except TypeError:  # a node made without a location: it takes its parent's, then again
            ast.fix_missing_locations(tree)
            code = compile(tree, FILENAME, "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        problems.append(
            Problem(
                line=None,
                message="the code is nested too deeply to compile",
                hint="split long expressions into several statements",
            )
        )
        return Compiled(None, None, problems, kind="syntax")
    except SyntaxError as exc:  # raised by compile() for e.g. 'return' outside function
        problems.append(
            Problem(
                line=exc.lineno,
                col=exc.offset,
                message=f"SyntaxError: {exc.msg}",
                source=source_line(lines, exc.lineno),
            )
        )
        return Compiled(None, None, problems, kind="syntax")
    return Compiled(code, tree, [], defines_run=defines_run, calls_run_itself=calls_run,
                    warnings=early_warnings + policy.import_warnings)  # fmt: skip
