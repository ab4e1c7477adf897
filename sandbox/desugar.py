"""Async code made synchronous before the policy sees it, so no coroutine exists in the sandbox.

Agents write `async def run(client)`, `await client...`, `async for page in ...`, because that is
how FLORA's documentation reads. Every client call inside the sandbox is already synchronous, so
the async keywords carry no meaning here: `async def` becomes `def`, `await x` becomes `x`,
`async for`/`async with`/async comprehensions become their plain forms. `asyncio.run`,
`asyncio.gather` and `asyncio.sleep` are synchronous functions of the `asyncio` facade
(see facades.py), so `await asyncio.gather(a(), b())` evaluates `a()` then `b()` and returns
their results as a list.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeGuard


def _as_sync(node: ast.AST, sync_class: type[ast.AST]) -> ast.AST:
    """The same node as its synchronous twin (every async node has the same fields as it)."""
    new = sync_class(**{name: getattr(node, name, None) for name in sync_class._fields})
    return ast.copy_location(new, node)


class AsyncDesugar(ast.NodeTransformer):
    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        return _as_sync(node, ast.FunctionDef)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return _as_sync(node, ast.For)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        return _as_sync(node, ast.With)

    def visit_Await(self, node: ast.Await) -> ast.expr:
        self.generic_visit(node)
        return node.value

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        self.generic_visit(node)
        node.is_async = 0
        return node


def _is_main_guard(stmt: ast.stmt) -> TypeGuard[ast.If]:
    """`if __name__ == "__main__":`, which scripts copied from elsewhere often end with."""
    if not isinstance(stmt, ast.If) or stmt.orelse:
        return False
    test = stmt.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def desugar(tree: ast.Module, source: str | None = None) -> ast.Module:
    """`source`, when given, lets a script without the words async/await skip the async pass."""
    # A script runs as the main program, so its main guard's body is simply its top level.
    body: list[ast.stmt] = []
    for stmt in tree.body:
        body.extend(stmt.body if _is_main_guard(stmt) else [stmt])
    tree.body = body
    if source is None or "async" in source or "await" in source:
        tree = AsyncDesugar().visit(tree)  # each new node takes its twin's location
    return tree
