"""Async code made synchronous before the policy sees it, so no coroutine exists in the sandbox.

Agents write `async def run(client)`, `await client...`, `async for page in ...`, because that is
how FLORA's documentation reads, and `await asyncio.gather(*[client.x(i) for i in ids])`, as
FLORA's `Promise.all`. The async forms become plain Python that calls sandbox/concurrency.py:
- `async def f` becomes `def f` decorated so that calling it gives an `Awaitable` (the function
  and its arguments, not run yet), as calling a coroutine function does; an `async def` that
  yields stays a plain generator, and a module-level `async def run` (the entry point the runner
  calls) stays a plain function;
- `await x` becomes a call that runs an awaitable, waits for a task, or gives any other value
  as it is (a client call made without asyncio is already its result);
- `async with cm` uses the script's own `__aenter__`/`__aexit__` when it has them;
- where asyncio takes awaitables (`gather`'s arguments, `create_task`, `ensure_future`,
  `wait_for`, `shield`, the iterables of `as_completed` and `wait`, a TaskGroup's
  `create_task`), a call is wrapped in a function that makes it later, so a gathered
  `client.x(i)` is made on its own task and the calls go to the host together. The wrapping
  function takes the names it reads as default arguments, so each wrapped call sees the values
  it was written with (a comprehension's variable, say), as a coroutine's arguments would be.
The helpers are bound by an import this pass adds, under names no script can write (they hold
a space), from the asyncio facade.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeGuard


# The hidden names of the asyncio facade's helpers (not identifiers: no script can name them).
AWAIT = "terrarium await"
ASYNC_DEF = "terrarium async def"
ASYNC_WITH = "terrarium async with"
DEFER = "terrarium defer"
# `AWAIT(x)` is what pre-flight reads (the awaited call's type); the policy then compiles it as
# `AWAIT_CALL(x)()`, which calls an awaited function with no frame of the sandbox's beneath it,
# so recursive `async def`s recurse as deep as plain functions.
AWAIT_CALL = "terrarium await call"
HELPERS = (AWAIT, ASYNC_DEF, ASYNC_WITH, DEFER, AWAIT_CALL)

# asyncio functions whose arguments are awaitables: which positions (None: all of them), and
# whether the argument there is an iterable of awaitables.
_TAKES_AWAITABLES: dict[str, tuple[int | None, bool]] = {
    "gather": (None, False), "create_task": (0, False), "ensure_future": (0, False),
    "wait_for": (0, False), "shield": (0, False), "as_completed": (0, True), "wait": (0, True),
}  # fmt: skip
_ASYNCIO_FUNCTIONS = frozenset({*_TAKES_AWAITABLES, "sleep", "run", "Event", "TaskGroup"})


# Fields that never hold a node worth visiting: names, flags, and the Load/Store contexts and
# operators (shared leaf nodes no pass here reads through a walk).
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "asname", "kind", "level",
                          "module", "type_comment", "is_async", "conversion"})  # fmt: skip


def _child_fields(cls: type) -> tuple[str, ...]:
    if cls is ast.Constant:  # its value is a Python value, never a node
        return ()
    return tuple(f for f in getattr(cls, "_fields", ()) if f not in _LEAF_FIELDS)


def _all_child_fields() -> dict[type, tuple[str, ...]]:
    table: dict[type, tuple[str, ...]] = {}
    stack: list[type] = [ast.AST]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        table[cls] = _child_fields(cls)
    return table


# Made once at import (in the zygote), so a child's walk only reads it.
_CHILD_FIELDS = _all_child_fields()


def walk_nodes(tree: ast.AST) -> list[ast.AST]:
    """The nodes under `tree`, itself first, in `ast.walk`'s order (breadth first), without the
    contexts and operators; one list built without a generator per node."""
    nodes = [tree]
    append = nodes.append
    fields_of = _CHILD_FIELDS
    node_type = ast.AST
    for node in nodes:  # the loop goes on over what it appends
        cls = type(node)
        fields = fields_of.get(cls)
        if fields is None:
            fields = _child_fields(cls)
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        append(item)
            elif isinstance(value, node_type):
                append(value)
    return nodes


def _as_sync(node: ast.AST, sync_class: type[ast.AST]) -> ast.AST:
    """The same node as its synchronous twin (every async node has the same fields as it)."""
    new = sync_class(**{name: getattr(node, name, None) for name in sync_class._fields})
    return ast.copy_location(new, node)


def _name(name: str, anchor: ast.AST) -> ast.Name:
    return ast.copy_location(ast.Name(name, ast.Load()), anchor)


def _call(name: str, arg: ast.expr) -> ast.Call:
    return ast.copy_location(ast.Call(_name(name, arg), [arg], []), arg)


def _yields(node: ast.AST) -> bool:
    """Does this function's own body yield (not a nested function's)?"""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(child))
    return False


def _free_names(node: ast.expr) -> list[str]:
    """Names an expression reads that it does not bind itself, in order of first use."""
    bound: set[str] = set()
    read: dict[str, None] = {}
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            if isinstance(child.ctx, ast.Load):
                read.setdefault(child.id, None)
            else:
                bound.add(child.id)
        elif isinstance(child, ast.arg):
            bound.add(child.arg)
    return [name for name in read if name not in bound and name not in HELPERS]


class AsyncDesugar(ast.NodeTransformer):
    def __init__(self, asyncio_modules: set[str], asyncio_functions: dict[str, str]) -> None:
        self.asyncio_modules = asyncio_modules  # names the asyncio module is bound to
        self.asyncio_functions = asyncio_functions  # local name -> asyncio function
        self.entry_points: set[int] = set()  # ids of module-level `async def run`
        self.used = False

    # NodeTransformer's walk, made cheaper with the same result and order: each node's visitor
    # found by its type in a table made once, contexts, operators and names not walked, and a
    # list item set only when its visitor gave another node (no visitor here removes one).
    def visit(self, node: ast.AST) -> Any:
        visitor = _VISITORS.get(type(node))
        if visitor is None:
            return self.generic_visit(node)
        return visitor(self, node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        cls = type(node)
        fields = _CHILD_FIELDS.get(cls)
        if fields is None:
            fields = _child_fields(cls)
        for name in fields:
            value = getattr(node, name, None)
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

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        new = _as_sync(node, ast.FunctionDef)
        assert isinstance(new, ast.FunctionDef)
        if id(node) not in self.entry_points and not _yields(node):
            new.decorator_list = [*node.decorator_list, _name(ASYNC_DEF, node)]
            self.used = True
        return new

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return _as_sync(node, ast.For)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        for item in node.items:
            item.context_expr = _call(ASYNC_WITH, item.context_expr)
        self.used = True
        return _as_sync(node, ast.With)

    def visit_Await(self, node: ast.Await) -> ast.expr:
        self.generic_visit(node)
        self.used = True
        return ast.copy_location(ast.Call(_name(AWAIT, node), [node.value], []), node)

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        self.generic_visit(node)
        node.is_async = 0
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        taken = self._takes_awaitables(node.func)
        if taken is not None:
            position, iterable = taken
            for i, arg in enumerate(node.args):
                if position is None or i == position:
                    node.args[i] = self._defer_iterable(arg) if iterable else self._defer_arg(arg)
        return node

    # -- which calls take awaitables, and wrapping the calls placed there -----------------------
    def _asyncio_function(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in self.asyncio_modules:
                return func.attr
        if isinstance(func, ast.Name):
            return self.asyncio_functions.get(func.id)
        return None

    def _takes_awaitables(self, func: ast.expr) -> tuple[int | None, bool] | None:
        name = self._asyncio_function(func)
        if name is not None:
            return _TAKES_AWAITABLES.get(name)
        if isinstance(func, ast.Attribute) and func.attr == "create_task":
            return (0, False)  # a TaskGroup's
        return None

    def _defer_arg(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Starred):
            node.value = self._defer_iterable(node.value)
            return node
        return self._defer(node)

    def _defer_iterable(self, node: ast.expr) -> ast.expr:
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            node.elts = [self._defer_arg(e) for e in node.elts]
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            node.elt = self._defer(node.elt)
        return node

    def _defer(self, node: ast.expr) -> ast.expr:
        """`f(x)` -> `defer(lambda f=f, x=x: f(x))`: the call made later, on its task."""
        if not isinstance(node, ast.Call) or self._asyncio_function(node.func) is not None:
            return node
        if isinstance(node.func, ast.Name) and node.func.id in HELPERS:
            return node
        names = _free_names(node)
        args = ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwarg=None, defaults=[],
            kwonlyargs=[ast.copy_location(ast.arg(n), node) for n in names],
            kw_defaults=[_name(n, node) for n in names],
        )  # fmt: skip
        self.used = True
        return _call(DEFER, ast.copy_location(ast.Lambda(args, node), node))


_VISITORS: dict[type, Callable[[AsyncDesugar, Any], Any]] = {
    getattr(ast, name.removeprefix("visit_")): method
    for name, method in vars(AsyncDesugar).items()
    if name.startswith("visit_") and name != "visit"
}


def _asyncio_bindings(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    modules: set[str] = set()
    functions: dict[str, str] = {}
    for node in walk_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "asyncio":
                    modules.add(alias.asname or "asyncio")
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncio" and not node.level:
            for alias in node.names:
                if alias.name in _ASYNCIO_FUNCTIONS:
                    functions[alias.asname or alias.name] = alias.name
    return modules, functions


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
        transformer = AsyncDesugar(*_asyncio_bindings(tree))
        transformer.entry_points = {
            id(stmt)
            for stmt in tree.body
            if isinstance(stmt, ast.AsyncFunctionDef) and stmt.name == "run"
        }
        # Each node the pass makes takes its twin's location (copy_location), so only the
        # import it adds needs one: no walk of the whole tree to fill in the missing.
        tree = transformer.visit(tree)
        if transformer.used:
            at = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
            helpers = [ast.alias(name, name, **at) for name in HELPERS]
            tree.body.insert(0, ast.ImportFrom("asyncio", helpers, 0, **at))
    return tree
