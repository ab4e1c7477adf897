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
import re
from collections.abc import Callable

from sandbox.desugar import AWAIT, walk_nodes
from sandbox.facades import ALLOWED_MODULES
from sandbox.messages import Problem
from sandbox.problems import source_line
from sandbox.surface import ParamSpec, SurfaceSpec, camel, snake

# add(node, message, hint): one problem at a node's line and column.
AddProblem = Callable[[ast.AST, str, str | None], None]


def _client_roots(
    run_params: list[str], assigns: list[tuple[str, ast.expr]]
) -> tuple[set[str], dict[str, str]]:
    roots = {"client", *run_params}
    aliases: dict[str, str] = {}  # name -> resource path it stands for
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


class _Index:
    """What the pre-flight reads of a tree, gathered in one pass over its nodes. Each list keeps
    `ast.walk`'s order, so problems at one line and column come out in the same order."""

    def __init__(self, tree: ast.AST) -> None:
        self.run_params: list[str] = []  # the first parameter of each `def run`
        self.assigns: list[tuple[str, ast.expr]] = []  # `name = value`, one plain name assigned
        self.called: set[int] = set()  # attribute nodes that are called
        self.inner: set[int] = set()  # attribute nodes that are the prefix of a longer chain
        self.chained: list[ast.AST] = []  # attributes, and calls of an attribute
        self.calls: list[ast.Call] = []  # calls of an attribute
        self.loads: list[ast.Attribute] = []  # attributes read
        self.keyed: list[ast.AST] = []  # subscripts, dicts, sets, set and dict comprehensions
        self.module_loads: list[ast.Name] = []  # names of allowed modules read
        self.stores: set[str] = set()  # names assigned or deleted
        # parameters, def and class names, except names, imports, names match patterns bind
        self.declared: set[str] = set()
        # (name, the element of an iterable?, value) for every binding a type may follow
        self.bindings: list[tuple[str, bool, ast.AST]] = []
        self._roots: tuple[set[str], dict[str, str]] | None = None
        for node in walk_nodes(tree):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    if node.id in ALLOWED_MODULES:
                        self.module_loads.append(node)
                else:
                    self.stores.add(node.id)
            elif isinstance(node, ast.Attribute):
                self.chained.append(node)
                if isinstance(node.ctx, ast.Load):
                    self.loads.append(node)
                if isinstance(node.value, ast.Attribute):
                    self.inner.add(id(node.value))
            elif isinstance(node, ast.Call):
                if isinstance(node.func, ast.Attribute):
                    self.called.add(id(node.func))
                    self.chained.append(node)
                    self.calls.append(node)
            elif not isinstance(node, ast.Constant):
                self._other(node, type(node))

    def _other(self, node: ast.AST, t: type) -> None:
        if isinstance(node, ast.Assign):
            targets = node.targets
            if len(targets) == 1 and isinstance(target := targets[0], ast.Name):
                self.assigns.append((target.id, node.value))
            for target in targets:
                if isinstance(target, ast.Name):
                    self.bindings.append((target.id, False, node.value))
        elif isinstance(node, ast.arg):
            self.declared.add(node.arg)
        elif t is ast.Subscript or t is ast.Dict or t is ast.Set or t is ast.SetComp:
            self.keyed.append(node)
        elif t is ast.DictComp:
            self.keyed.append(node)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(node.target, ast.Name):
                self.bindings.append((node.target.id, True, node.iter))
        elif isinstance(node, ast.FunctionDef):
            self.declared.add(node.name)
            if node.name == "run":
                params = node.args.posonlyargs + node.args.args
                if params:
                    self.run_params.append(params[0].arg)
        elif isinstance(node, (ast.AsyncFunctionDef, ast.ClassDef)):
            self.declared.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None and isinstance(node.target, ast.Name):
                self.bindings.append((node.target.id, False, node.value))
        elif isinstance(node, ast.NamedExpr):
            self.bindings.append((node.target.id, False, node.value))
        elif isinstance(node, ast.ExceptHandler):
            if node.name:
                self.declared.add(node.name)
        elif isinstance(node, ast.alias):
            self.declared.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):  # `case x`, `[*x]`, `... as x`
            if node.name is not None:
                self.declared.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest is not None:  # `case {**x}`
            self.declared.add(node.rest)

    def roots(self) -> tuple[set[str], dict[str, str]]:
        if self._roots is None:
            self._roots = _client_roots(self.run_params, self.assigns)
        return self._roots


# The index `check` built for the tree it checked, read (once) by `param_warnings` when it is
# called next on the same tree, as compile_script does; None in the slot's second place: the
# source cannot name the client (nothing to warn of).
_LAST_INDEX: list[tuple[ast.Module, _Index | None] | None] = [None]


# One scan for every word the checks start from (a loop over the names would write to each
# name's page in a child, through its reference count).
_WORDS = re.compile(
    "|".join(re.escape(word) for word in sorted({"client", "run", *ALLOWED_MODULES}))
)


def _cannot_name_client_or_modules(source: str) -> bool:
    """A script that spells neither `client`, `run` nor an allowed module has nothing to check.
    Only for ASCII text: the parser folds other identifiers (NFKC), so their spelling differs."""
    return source.isascii() and _WORDS.search(source) is None


def check(tree: ast.Module, spec: SurfaceSpec, source: str) -> list[Problem]:
    if _cannot_name_client_or_modules(source):
        _LAST_INDEX[0] = (tree, None)
        return []
    index = _Index(tree)
    _LAST_INDEX[0] = (tree, index)
    roots, aliases = index.roots()
    lines = source.splitlines()
    problems: list[Problem] = []
    called, inner = index.called, index.inner

    def add(node: ast.AST, message: str, hint: str | None = None) -> None:
        line = getattr(node, "lineno", None)
        problems.append(Problem(message, line, getattr(node, "col_offset", None),
                                source_line(lines, line), hint))  # fmt: skip

    def unknown(node: ast.AST, dotted: str) -> None:
        errors = {str(entry[0]) for entry in spec.error_tree if entry}
        if dotted in errors:  # `except client.NotFoundError`, as in FLORA's TypeScript SDK
            add(node, f"client.{dotted} does not exist",
                f"the error classes are names of their own: `except {dotted} as exc:`")  # fmt: skip
            return
        suggestion = spec.suggest(dotted)
        add(node, f"client.{dotted} does not exist",
            (f"did you mean client.{suggestion}? " if suggestion else "")
            + f'search_docs("{dotted.split(".")[0]}") lists the methods')  # fmt: skip

    check_imports(index, add)
    check_types(index, spec, roots, aliases, add)
    for node in index.chained:
        if isinstance(node, ast.Call):  # a call of an attribute
            chain = _chain(node.func, roots, aliases)
            if not chain:
                continue
            dotted = ".".join(chain)
            full = spec.resolve(dotted)
            if full is None:
                unknown(node, dotted)
            else:
                _check_arguments(node, full, spec, add)
        elif id(node) not in called and id(node) not in inner:
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
        # A string, number or f-string is never that dict: it is an id passed by position.
        if len(args) == len(positional) + 1 and not _scalar(args[-1]):
            args.pop()
            opaque = True
    if len(args) > len(positional) and not opaque:
        keywords = [p for p in params if p not in positional and p != "cursor"]
        add(
            node,
            f"client.{full}() takes {len(positional)} positional argument(s) "
            f"({', '.join(positional) or 'none'}) but {len(args)} were given",
            f"pass the others by keyword, e.g. {keywords[0]}=..."
            if keywords
            else "pass the other arguments by keyword",
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
                + f"arguments: {', '.join(params) or 'none'}; "
                + f'search_docs("{full}") describes them',
            )
            continue
        _check_literal(node, full, params[name], value, add)
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


# --- types: what client calls return, followed through names -------------------------------
#
# A value's type is ("record", T), ("page", T) or ("list", T), T a response object of the spec.
# A name gets a type only when every binding of it in the script gives that same type, so a
# name reused for something else is never checked (no false alarms from flow we do not follow).
Typed = tuple[str, str]
RECORD_METHODS = frozenset({"get", "keys", "values", "items", "to_dict"})
PAGE_MEMBERS = frozenset({"items", "meta", "data", "has_next_page", "get_next_page"})
SEARCH = 'search_docs("{}") shows its fields and their types'
_LIST_ATTRIBUTES = frozenset(dir(list))


class _Types:
    def __init__(self, spec: SurfaceSpec, roots: set[str], aliases: dict[str, str]) -> None:
        self.spec, self.roots, self.aliases = spec, roots, aliases
        self.names: dict[str, Typed | None] = {}  # None: bound to something else too
        self.page_keys: dict[str, str | None] = {}  # item type -> its page's items key

    def of(self, node: ast.AST | None) -> Typed | None:
        spec = self.spec
        if isinstance(node, ast.Await):
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == AWAIT and len(node.args) == 1):  # fmt: skip
            node = node.args[0]  # `await x` as desugar.py writes it
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            chain = _chain(node.func, self.roots, self.aliases)
            if chain:
                full = spec.resolve(".".join(chain))
                if full is None:
                    return None
                method = spec.methods[full]
                item = spec.item_type(method)
                if method.items_key and item:
                    return ("page", item)
                return ("record", method.response) if method.response in spec.types else None
            inner = self.of(node.func.value)
            if inner and inner[0] == "page" and node.func.attr == "get_next_page":
                return inner
            return None
        if isinstance(node, ast.Attribute):
            inner = self.of(node.value)
            if inner is None:
                return None
            kind, name = inner
            if kind == "page":
                key = self._page_key(name)
                return ("list", name) if node.attr in {key, "items", "data"} else None
            if kind == "record":
                field = spec.types.get(name, {}).get(node.attr)
                if field is None or field.ref is None:
                    return None
                return ("list" if field.many else "record", field.ref)
            return None
        if isinstance(node, ast.Subscript):
            inner = self.of(node.value)
            if inner and inner[0] in {"list", "page"} and not isinstance(node.slice, ast.Slice):
                return ("record", inner[1])
        return None

    def _page_key(self, item: str) -> str | None:
        if item in self.page_keys:
            return self.page_keys[item]
        key = next((m.items_key for m in self.spec.methods.values()
                    if m.items_key and self.spec.item_type(m) == item), None)  # fmt: skip
        self.page_keys[item] = key
        return key

    def element(self, node: ast.AST) -> Typed | None:
        """What `for x in node` binds x to."""
        inner = self.of(node)
        return ("record", inner[1]) if inner and inner[0] in {"page", "list"} else None

    def learn(self, index: _Index) -> None:
        bindings: list[tuple[str, Callable[[], Typed | None]]] = [
            (name, (lambda v=value: self.element(v)) if element  # type: ignore[misc]
             else (lambda v=value: self.of(v)))  # type: ignore[misc]
            for name, element, value in index.bindings
        ]  # fmt: skip
        bound = {name for name, _ in bindings}
        others = index.declared | (index.stores - bound)
        for _ in range(4):  # names typed through other names
            found: dict[str, Typed | None] = {}
            for name, infer in bindings:
                typed = infer()
                found[name] = None if name in found and found[name] != typed else typed
            for name in others:
                found[name] = None
            self.names = found


def check_types(index: _Index, spec: SurfaceSpec, roots: set[str],
                aliases: dict[str, str], add: AddProblem) -> None:  # fmt: skip
    """Attributes read on what client calls return, through names, loops and comprehensions."""
    if not spec.types:
        return
    types = _Types(spec, roots, aliases)
    types.learn(index)
    for node in index.loads:
        inner = types.of(node.value)
        if inner is None:
            continue
        kind, name = inner
        attr = node.attr
        if kind == "record":
            fields = spec.types.get(name, {})
            if attr in fields or attr in RECORD_METHODS or attr.startswith("_"):
                continue
            close = difflib.get_close_matches(attr, list(fields), n=1)
            add(node, f"{name} has no field '{attr}'",
                (f"did you mean '.{close[0]}'? " if close else "")
                + f"fields: {', '.join(fields)}; " + SEARCH.format(name))  # fmt: skip
        elif kind == "page":
            key = types._page_key(name)
            if attr == key or attr in PAGE_MEMBERS or attr.startswith("_"):
                continue
            fields = spec.types.get(name, {})
            item_hint = (f"'{attr}' is a field of each {name}: `for x in page: x.{attr}`"
                         if attr in fields else f"a page has '.{key}', " + ", ".join(
                             f"'.{m}'" for m in sorted(PAGE_MEMBERS)))  # fmt: skip
            add(node, f"a page of {name} has no attribute '{attr}'", item_hint)
        elif kind == "list" and attr not in _LIST_ATTRIBUTES:
            add(node, f"a list of {name} has no attribute '{attr}'",
                "take one item (`[0]`) or loop over it; " + SEARCH.format(name))  # fmt: skip
    for holder in index.keyed:  # a record as a dict key or set member: TypeError (unhashable)
        used_as_key: list[ast.expr] = []
        if isinstance(holder, ast.Subscript) and not isinstance(holder.slice, ast.Slice):
            used_as_key = [holder.slice]
        elif isinstance(holder, ast.Dict):
            used_as_key = [k for k in holder.keys if k is not None]
        elif isinstance(holder, ast.Set):
            used_as_key = list(holder.elts)
        elif isinstance(holder, ast.SetComp):
            used_as_key = [holder.elt]
        elif isinstance(holder, ast.DictComp):
            used_as_key = [holder.key]
        for expr in used_as_key:
            typed = types.of(expr)
            if typed is None or typed[0] != "record":
                continue
            names = list(spec.types.get(typed[1], {}))
            by = next((f for f in names if f.endswith("_id")), names[0] if names else None)
            text = ast.unparse(expr)
            add(expr, f"{text} is a {typed[1]} record (unhashable): it cannot be a dict key or "
                "set member",
                f"key by one of its fields: `{text}.{by}`" if by
                else "key by one of its fields")  # fmt: skip


def check_imports(index: _Index, add: AddProblem) -> None:
    """An allowed module used by name but never imported: NameError when it runs."""
    bound = index.declared | index.stores
    reported: set[str] = set()
    for node in index.module_loads:
        if node.id not in bound and node.id not in reported:
            reported.add(node.id)
            add(node, f"'{node.id}' is used but not imported", f"add `import {node.id}` at the top")


def _scalar(node: ast.expr) -> bool:
    """A value that is never the arguments dict: a literal, an f-string, or a name or field
    that holds an id (`ws.workspace_id`, `project_id`)."""
    if isinstance(node, ast.Attribute | ast.Name):
        name = node.attr if isinstance(node, ast.Attribute) else node.id
        return name == "id" or name.endswith("_id")
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float))
    )


_KINDS = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}
_KIND_WORDS = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "True or False"}  # fmt: skip


def _check_literal(node: ast.Call, full: str, param: ParamSpec, value: ast.expr,
                   add: AddProblem) -> None:  # fmt: skip
    """A literal argument of the wrong type, or a number out of its range: certain to fail."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        operand = value.operand
        if isinstance(operand, ast.Constant) and isinstance(operand.value, (int, float)):
            value = ast.Constant(-operand.value)
    if isinstance(value, ast.JoinedStr):
        value = ast.Constant("")
    if not isinstance(value, ast.Constant) or value.value is None:
        return
    literal = value.value
    kinds = _KINDS.get(param.type)
    wrong = kinds is not None and (
        not isinstance(literal, kinds) or (isinstance(literal, bool) and bool not in kinds)
    )
    if wrong:
        words = _KIND_WORDS[param.type]
        add(node, f"client.{full}(): {param.name} must be {words}, not {literal!r}",
            f"pass {words}; search_docs(\"{full}\") describes each argument")  # fmt: skip
        return
    if param.range and isinstance(literal, (int, float)) and not isinstance(literal, bool):
        low, high = param.range
        if (low is not None and literal < low) or (high is not None and literal > high):
            add(node, f"client.{full}(): {param.name}={literal!r} is out of range",
                f"use {low} to {high}; to get more, iterate the page (`for x in page`), "
                "which fetches the next pages")  # fmt: skip


# --- params keys a model does not list: a warning, never a rejection -------------------------
#
# FLORA's `params` is an open map: a key the chosen model does not list is accepted and ignored,
# so a misspelt key silently does nothing. The host warns of it when the call is made
# (runtime/flora.py); a literal model and a literal params dict are warned of here, before the
# script runs, from the model params the host put in the spec. Both use `params_warning`, so
# the two say the same words and the execution carries the warning once.
MAX_KEYS_NAMED = 10  # unknown keys named in one warning; more are counted


def _suggest(word: str, candidates: tuple[str, ...]) -> str | None:
    """The closest candidate to `word`, also matching camelCase to snake_case."""
    snake_word = snake(word)
    for candidate in candidates:
        if candidate.lower() in (word.lower(), snake_word):
            return candidate
    found = difflib.get_close_matches(snake_word, list(candidates), n=1, cutoff=0.6)
    if not found:
        found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _quoted(text: str) -> str:
    """`text` quoted, cut to 60 characters (a script chooses it)."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def params_warning(
    method: str, params_arg: str, model_id: str, keys: list[str], valid: tuple[str, ...]
) -> str | None:
    """The warning for `keys` of a params map that model `model_id` (whose params are `valid`)
    does not list: the keys with a did-you-mean, the model's params, where to read them. None
    when every key is one of its params."""
    unknown = [key for key in keys if key not in valid]
    if not unknown:
        return None
    named = []
    for key in unknown[:MAX_KEYS_NAMED]:
        guess = _suggest(key, valid)
        named.append(_quoted(key) + (f" (did you mean {guess!r}?)" if guess else ""))
    if len(unknown) > MAX_KEYS_NAMED:
        named.append(f"and {len(unknown) - MAX_KEYS_NAMED} more")
    one = len(unknown) == 1
    return (
        f"{method}: {params_arg} {'key' if one else 'keys'} {', '.join(named)} "
        f"{'is not a param' if one else 'are not params'} of model {_quoted(model_id)}; FLORA "
        f"accepts {'it' if one else 'them'} and the model may ignore {'it' if one else 'them'}. "
        f'Its params: {", ".join(valid) or "none"}; see search_docs("models.list")'
    )


def _literal_keys(node: ast.expr) -> list[str] | None:
    """The keys of a literal dict (`{"a": 1}` or `dict(a=1)`), None when any is not literal."""
    if isinstance(node, ast.Dict):
        keys = []
        for key in node.keys:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return None
            keys.append(key.value)
        return keys
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict"
            and not node.args and all(k.arg is not None for k in node.keywords)):  # fmt: skip
        return [str(k.arg) for k in node.keywords]
    return None


def param_warnings(tree: ast.Module, spec: SurfaceSpec) -> list[str]:
    """One warning per call with a literal model id the spec knows and a literal params dict
    holding keys that model does not list (the call is still made: FLORA accepts them)."""
    last, _LAST_INDEX[0] = _LAST_INDEX[0], None
    if not spec.model_params:
        return []
    if last is not None and last[0] is tree:
        if last[1] is None:
            return []
        index = last[1]
    else:
        index = _Index(tree)
    roots, aliases = index.roots()
    warnings: list[str] = []
    for node in index.calls:
        chain = _chain(node.func, roots, aliases)
        full = spec.resolve(".".join(chain)) if chain else None
        method = spec.methods.get(full) if full else None
        if method is None or method.model_params is None:
            continue
        given = {k.arg: k.value for k in node.keywords if k.arg is not None}
        if node.args and isinstance(body := node.args[-1], ast.Dict):  # the JavaScript form
            for key, value in zip(body.keys, body.values, strict=False):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    given.setdefault(key.value, value)
        model_arg, params_arg = method.model_params
        model, params = given.get(model_arg), given.get(params_arg)
        if not (isinstance(model, ast.Constant) and isinstance(model.value, str)):
            continue
        valid = spec.model_params.get(model.value)
        keys = _literal_keys(params) if params is not None else None
        if valid is None or keys is None:
            continue
        text = params_warning(method.name, params_arg, model.value, keys, valid)
        if text is not None and text not in warnings:
            warnings.append(text)
    return warnings
