"""The policy's own tree walk gives what ast.NodeTransformer's walk gave: the same visits in the
same order with the same methods, the same problems and the same tree, and RestrictedPython's
refusal of a node type it has no visitor for."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest
from RestrictedPython.transformer import RestrictingNodeTransformer

from sandbox import policy
from sandbox.desugar import desugar
from sandbox.messages import Problem

SCRIPTS = [
    "x = 1 + 1",
    "d = dict(a=1, _b_=2, **kw)\nsorted(d, key=lambda k: k.__len__, reverse=__debug__)",
    "rows = [i * 2 for i in range(10) if i % 3 != 1]\ntotal = sum(rows)\nprint(total)\ntotal",
    "a = {}\na['k'] = 1\na['k'] += 2\nb = [1, 2]\nb[0:1] += [3]\nc = -a['k'] ** 2 >> 1\n",
    "class C:\n    __slots__ = ('x',)\n    def __init__(self, x):\n        self.__x = x\n"
    "    def __repr__(self):\n        return f'{self.__x!r:>4}'\nC(1).y = 2\ndel C(1).y\n",
    "def f(a, /, b=1, *c, d, **e):\n    nonlocal q\n    global g\n    return lambda z: z\n",
    "import os, json as j\nfrom json import *\nfrom .x import y as _y_\n",
    "match p:\n    case {'k': 1, **rest}: pass\n    case C(x, k=[1, *_]) | None: pass\n"
    "    case Color.RED: pass\n    case _x_ as __y: pass\n",
    "try:\n    pass\nexcept* ValueError as _e_:\n    pass\n",
    "with open('f') as (a, b), x:\n    a, *b = b\n    (c := 3)\n    assert c, 'no'\n",
    "exec('1'); eval('2'); x.__class__.__bases__; x.__dict__ = 1; _getattr_ = 1; print(x)",
    "async def run(client):\n    async with x as y:\n        await y\n    async for i in y:\n"
    "        yield i\n    return [await z async for z in y]\n",
    "x = y if z else not w\nwhile x < 1 <= y is not None in ():\n    x = x and y or ~x\n"
    "    break\nelse:\n    continue\nraise E from None\n",
]


def _log_visits(cls: type[Any]) -> type[Any]:
    class Logged(cls):  # type: ignore[misc]
        log: list[tuple[str, str]]

        def visit(self, node: ast.AST) -> Any:
            method = getattr(self, "visit_" + node.__class__.__name__, None)
            name = getattr(method, "__qualname__", "generic_visit")
            self.log.append((type(node).__name__, name))
            return super().visit(node)

    return Logged


class _Reference(policy.TerrariumPolicy):
    """The policy with ast.NodeTransformer's own walk, as RestrictedPython uses it."""

    visit = ast.NodeVisitor.visit

    def node_contents_visit(self, node: Any) -> Any:
        return ast.NodeTransformer.generic_visit(self, node)


def _run(cls: type[Any], tree: ast.AST) -> tuple[Any, ...]:
    problems: list[Problem] = []
    walker = _log_visits(cls)(problems)
    walker.log = []
    try:
        out = walker.visit(tree)
    except AttributeError as exc:  # a refused context is removed, then read by its parent
        out = exc
    dump = ast.dump(out, include_attributes=True) if isinstance(out, ast.AST) else repr(out)
    inert = {c.__name__ for c in policy._INERT}
    visits = [v for v in walker.log if v[0] not in inert]
    found = [(p.message, p.line, p.col) for p in problems]
    return visits, walker.errors, walker.warnings, found, dump


def _trees(source: str) -> list[ast.AST]:
    return [ast.parse(source), desugar(ast.parse(source), source)]


@pytest.mark.parametrize("source", SCRIPTS)
def test_the_walk_visits_as_node_transformer_does(source: str) -> None:
    for tree in _trees(source):
        assert _run(policy.TerrariumPolicy, copy.deepcopy(tree)) == _run(_Reference, tree)


def _module(*body: ast.stmt, ignores: list[Any] | None = None) -> ast.Module:
    return ast.fix_missing_locations(ast.Module(body=list(body), type_ignores=ignores or []))


def _name(ctx: ast.expr_context) -> ast.Name:
    return ast.Name("x", ctx)


def _any(node: ast.AST) -> Any:
    """A node where ast's grammar allows none of its type (ast.parse never puts it there)."""
    return node


HAND_MADE = [
    _module(ast.Pass(), ignores=[ast.TypeIgnore(1, "")]),
    _module(ast.Expr(_name(ast.AugLoad()))),
    _module(ast.Assign([_name(ast.Param())], ast.Constant(1))),
    _module(ast.Expr(ast.BinOp(ast.Constant(1), _any(ast.AugStore()), ast.Constant(2)))),
    _module(
        ast.Expr(ast.Compare(ast.Constant(1), [ast.Eq(), _any(ast.Param())], [_name(ast.Load())]))
    ),
    _module(ast.Expr(ast.List([_any(ast.Suite()), _name(ast.Load())], ast.Load()))),
    _module(ast.Expr(ast.Constant(_any(ast.Suite())))),
]


@pytest.mark.parametrize("tree", HAND_MADE, ids=lambda t: ast.dump(t)[:60])
def test_a_node_without_a_visitor_is_refused_as_restrictedpython_refuses_it(
    tree: ast.Module,
) -> None:
    new, reference = _run(policy.TerrariumPolicy, copy.deepcopy(tree)), _run(_Reference, tree)
    assert new == reference
    warnings, found = new[2], new[3]
    assert any("is not known to RestrictedPython" in w for w in warnings)
    assert any(message.endswith("statements are not allowed.") for message, _, _ in found)


def test_only_contexts_and_operators_with_restrictedpython_s_empty_visitor_are_skipped() -> None:
    names = {c.__name__ for c in policy._INERT}
    assert {"Load", "Store", "Del", "Add", "Eq", "NotIn", "And", "USub"} <= names
    assert not names & {"AugLoad", "AugStore", "Param", "Name", "Call", "Constant"}
    for cls in policy._INERT:
        assert not cls._fields  # type: ignore[attr-defined]
        method = getattr(policy.TerrariumPolicy, "visit_" + cls.__name__)
        assert method is getattr(RestrictingNodeTransformer, "visit_" + cls.__name__)
        node = cls()
        walker = policy.TerrariumPolicy([])
        assert method(walker, node) is node and not walker.errors and not walker.warnings


def test_every_visitor_in_the_table_is_the_one_getattr_finds() -> None:
    walker = policy.TerrariumPolicy([])
    for cls, function in policy._POLICY_VISITORS.items():
        assert getattr(walker, "visit_" + cls.__name__).__func__ is function


class _ReferenceAwait(policy._AwaitCalls):
    visit = ast.NodeVisitor.visit
    generic_visit = ast.NodeTransformer.generic_visit


@pytest.mark.parametrize("source", SCRIPTS)
def test_the_await_pass_gives_node_transformer_s_tree(source: str) -> None:
    tree = desugar(ast.parse(source), source)
    expected = copy.deepcopy(tree)
    policy._AwaitCalls().visit(tree)
    _ReferenceAwait().visit(expected)
    assert ast.dump(tree, include_attributes=True) == ast.dump(expected, include_attributes=True)


def test_a_subclass_s_own_visitors_are_the_ones_its_walk_calls() -> None:
    seen: list[str] = []

    class Counting(policy.TerrariumPolicy):
        def visit_Load(self, node: ast.Load) -> Any:
            seen.append("Load")
            return node

        def visit_Constant(self, node: ast.Constant) -> Any:
            seen.append("Constant")
            return node

    Counting([]).visit(ast.parse("x + 1"))
    assert seen == ["Load", "Constant"]
