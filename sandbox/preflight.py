"""Pre-flight: check a script's `client.*` calls against the surface before anything runs.

Finds calls on `client`, on the parameter of `run(client)` (whatever it is named), and on simple
aliases (`c = client`, `gens = client.generations`), and checks method names, keyword names,
required arguments, literal enum values and positional counts. Every problem is reported at
once, with its line and a did-you-mean, so a script that would fail at its tenth line is
rejected before its first generation is paid for. Calls it cannot see through (`getattr`,
`**kwargs`) are left to the proxy's own checks at run time.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable

from sandbox.messages import Problem
from sandbox.problems import source_line
from sandbox.surface import SurfaceSpec, camel, snake

# add(node, message, hint): one problem at a node's line and column.
AddProblem = Callable[[ast.AST, str, str | None], None]


def _client_roots(nodes: list[ast.AST]) -> tuple[set[str], dict[str, str]]:
    roots = {"client"}
    aliases: dict[str, str] = {}  # name -> resource path it stands for
    assigns: list[tuple[str, ast.expr]] = []  # `name = value`, one plain name assigned
    for node in nodes:
        if isinstance(node, ast.FunctionDef) and node.name == "run":
            params = node.args.posonlyargs + node.args.args
            if params:
                roots.add(params[0].arg)
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(target := node.targets[0], ast.Name)
        ):
            assigns.append((target.id, node.value))
    for _ in range(3):  # aliases of aliases
        for name, value in assigns:
            chain = _chain(value, roots, aliases)
            if chain is None:
                continue
            if not chain:
                roots.add(name)
            else:
                aliases[name] = ".".join(chain)
    return roots, aliases


def _chain(node: ast.AST, roots: set[str], aliases: dict[str, str]) -> list[str] | None:
    """`client.a.b` -> ['a', 'b']; `gens.create` (gens = client.generations) -> [...]."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.reverse()
    if node.id in roots:
        return parts
    if node.id in aliases:
        return aliases[node.id].split(".") + parts
    return None


def check(tree: ast.Module, spec: SurfaceSpec, source: str) -> list[Problem]:
    nodes = list(ast.walk(tree))
    roots, aliases = _client_roots(nodes)
    lines = source.splitlines()
    problems: list[Problem] = []
    called: set[int] = set()
    inner: set[int] = set()  # attribute nodes that are the prefix of a longer chain
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            inner.add(id(node.value))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called.add(id(node.func))

    def add(node: ast.AST, message: str, hint: str | None = None) -> None:
        line = getattr(node, "lineno", None)
        problems.append(Problem(message, line, getattr(node, "col_offset", None),
                                source_line(lines, line), hint))  # fmt: skip

    def unknown(node: ast.AST, dotted: str) -> None:
        suggestion = spec.suggest(dotted)
        add(node, f"client.{dotted} does not exist",
            f"did you mean client.{suggestion}?" if suggestion else None)  # fmt: skip

    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            chain = _chain(node.func, roots, aliases)
            if not chain:
                continue
            dotted = ".".join(chain)
            full = spec.resolve(dotted)
            if full is None:
                unknown(node, dotted)
            else:
                _check_arguments(node, full, spec, add)
        elif isinstance(node, ast.Attribute) and id(node) not in called and id(node) not in inner:
            # Attribute chains that are not called: a typo in a resource name is still a typo.
            chain = _chain(node, roots, aliases)
            if chain:
                dotted = ".".join(chain)
                if spec.resolve(dotted) is None and not spec.is_resource(dotted):
                    unknown(node, dotted)
    problems.sort(key=lambda p: (p.line or 0, p.col or 0))
    return problems


def _check_arguments(node: ast.Call, full: str, spec: SurfaceSpec, add: AddProblem) -> None:
    method = spec.methods[full]
    params = {p.name: p for p in method.params}
    positional = list(method.positional)
    opaque = any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords
    )
    given: dict[str, ast.expr] = {}
    args = list(node.args)
    if args and isinstance(body := args[-1], ast.Dict) and len(args) > len(positional):
        args.pop()
        for item_key, item_value in zip(body.keys, body.values, strict=False):
            if item_key is None:
                opaque = True
            elif isinstance(item_key, ast.Constant) and isinstance(item_key.value, str):
                given[item_key.value] = item_value
            else:
                opaque = True
    elif args and len(args) > len(positional) and not isinstance(args[-1], ast.Starred):
        # A variable holding the arguments dict, as in the JavaScript docs: checked at run time.
        if len(args) == len(positional) + 1:
            args.pop()
            opaque = True
    if len(args) > len(positional) and not opaque:
        add(
            node,
            f"client.{full}() takes {len(positional)} positional argument(s) "
            f"({', '.join(positional) or 'none'}) but {len(args)} were given",
            "pass the other arguments by keyword",
        )
    for name in positional[: len(args)]:
        given[name] = args[positional.index(name)]
    for kw in node.keywords:
        if kw.arg is not None:
            given[kw.arg] = kw.value
    for key, value in given.items():
        name = key if key in params else snake(key)
        if name not in params:
            close = difflib.get_close_matches(name, list(params), n=1)
            add(
                node,
                f"client.{full}() has no argument '{key}'",
                (f"did you mean '{close[0]}'? " if close else "")
                + f"arguments: {', '.join(params) or 'none'}",
            )
            continue
        enum = params[name].enum
        if enum and isinstance(value, ast.Constant) and isinstance(value.value, str):
            if value.value not in enum:
                add(
                    node,
                    f"client.{full}(): {name}={value.value!r} is not valid",
                    "use one of: " + ", ".join(map(str, enum)),
                )
    if not opaque:
        names_given = {k if k in params else snake(k) for k in given}
        missing = [
            n for n, p in params.items() if p.required and p.filled is None and n not in names_given
        ]
        if missing:
            add(
                node,
                f"client.{full}() is missing required argument(s): {', '.join(missing)}",
                f"e.g. {method.example or 'client.' + camel(full) + '(...)'}",
            )
