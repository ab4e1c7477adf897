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
from dataclasses import dataclass, field
from types import CodeType
from typing import TYPE_CHECKING

from RestrictedPython.transformer import RestrictingNodeTransformer

from sandbox.desugar import desugar
from sandbox.facades import ALLOWED_MODULES, import_refusal
from sandbox.messages import Problem
from sandbox.preflight import check as preflight_check
from sandbox.problems import source_line

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sandbox.surface import SurfaceSpec

    # What a NodeTransformer's visit method returns: a node, the nodes replacing it, or None.
    Visited = ast.AST | Iterable[ast.AST] | None

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


def _hint_for(message: str) -> str | None:
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

    # -- no binding may shadow a guard hook ----------------------------------------------
    def _check_binding(self, node: ast.AST, name: str | None) -> None:
        if name and name.startswith("_") and name != "_":
            self.error(node, f'"{name}" is an invalid name because it starts with "_".')

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
        return self.node_contents_visit(node)

    def visit_alias(self, node: ast.alias) -> Visited:
        self._check_binding(node, node.asname)
        return super().visit_alias(node)

    # -- imports: only the allow-list, decided here -------------------------------------------
    def visit_Import(self, node: ast.Import) -> Visited:
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                self.error(node, import_refusal(alias.name))
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Visited:
        if node.level or node.module not in ALLOWED_MODULES:
            self.error(node, import_refusal(("." * node.level) + (node.module or "")))
        elif any(alias.name == "*" for alias in node.names):
            self.error(node, f'"from {node.module} import *" is not allowed; name what you use.')
        return super().visit_ImportFrom(node)


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
        defines_run = any(
            isinstance(stmt, ast.FunctionDef) and stmt.name == "run" for stmt in tree.body
        )
        if spec is not None:
            problems.extend(preflight_check(tree, spec, source))
        TerrariumPolicy(problems).visit(tree)
        if problems:
            for p in problems:
                p.source = p.source or source_line(lines, p.line)
            problems.sort(key=lambda p: (p.line or 0, p.col or 0))
            return Compiled(None, tree, problems, kind="policy")
        _keep_last_expression(tree)
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
    return Compiled(code, tree, [], defines_run=defines_run, calls_run_itself=calls_run)
