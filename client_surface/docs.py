"""Agent-facing docs, derived from the table: JSON, compact markdown, search."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from client_surface.table import (
    METHODS,
    Method,
    find,
    item_model,
    params_of,
    response_types,
    type_text,
)

__all__ = [
    "method_doc",
    "object_lines",
    "rules",
    "search_docs",
    "signature",
    "surface_body",
    "surface_json",
    "surface_markdown",
]

_TYPE_NAMES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "object": "dict",
    "array": "list",
}


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _returns(method: Method) -> dict[str, Any]:
    item = item_model(method)
    if item is not None:
        return {
            "model": method.response.__name__,
            "fields": _fields(method.response),
            "item_model": item.__name__,
            "item_fields": _fields(item),
        }
    return {"model": method.response.__name__, "fields": _fields(method.response)}


def rules(method: Method) -> list[str]:
    """The table's rules for a method's arguments, one line each: an argument filled when a
    script omits it (``Method.filled``), an open params map checked against the model's params
    (``Method.model_params``)."""
    lines = [
        f"`{f.name}` may be omitted: `{f.name}={json.dumps(f.value)}` is sent "
        f"({f.reason}) and the execution's warnings say so."
        for f in method.filled
    ]
    if method.model_params is not None:
        model, params = method.model_params
        lines.append(
            f"`{params}` is an open map: every key is sent; keys the chosen `{model}` does not "
            "list in its params (models.list) are named in the execution's warnings."
        )
    if method.helper:
        first = method.positional[0]
        described = method.args.model_fields[first].description
        lines.append(f"`{first}`: {described} One call: {' -> '.join(method.steps)}, until ready.")
    return lines


def surface_json() -> dict[str, Any]:
    """Every method with its verb, path, params, return fields and one example."""
    methods = []
    for m in METHODS:
        methods.append(
            {
                "name": m.full_name,
                "camel": m.camel_name,
                "verb": m.verb or None,
                "path": m.path or None,
                "steps": list(m.steps),
                "summary": m.summary,
                "deprecated": m.deprecated,
                "positional": list(m.positional),
                "params": params_of(m),
                "returns": _returns(m),
                "items_key": m.items_key,
                "paged": m.paged,
                "example": m.example,
                "rules": rules(m),
            }
        )
    return {"methods": methods}


def _param_sig(p: dict[str, Any]) -> str:
    kind = "|".join(p["enum"]) if p["enum"] else _TYPE_NAMES.get(p["type"], p["type"])
    return f"{p['name']}{'*' if p['required'] else ''}: {kind}"


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_nested_models(arg))
    return found


def _list_item(method: Method) -> type[BaseModel] | None:
    """The object a list method's page holds (paged or not), else None."""
    if not method.items_key:
        return None
    found = _nested_models(method.response.model_fields[method.items_key].annotation)
    return found[0] if found else None


def returns(method: Method) -> str:
    """What a call gives back, compactly: ``[Model]`` for a page of Model, else the model."""
    item = _list_item(method)
    return f"[{item.__name__}]" if item is not None else method.response.__name__


def signature(method: Method) -> str:
    """One line: ``name(positional, *, required, optional?) -> Returns``, exactly the arguments a
    call accepts (``cursor`` left out: iterating a page follows it)."""
    params = {p["name"]: p for p in params_of(method) if p["name"] != "cursor"}

    def arg(name: str) -> str:
        return name if params[name]["required"] else name + "?"

    positional = [arg(n) for n in method.positional if n in params]
    keywords = [arg(n) for n in params if n not in method.positional]
    args = positional + (["*"] + keywords if keywords else [])
    dep = " (deprecated)" if method.deprecated else ""
    return f"{method.full_name}({', '.join(args)}) -> {returns(method)}{dep}"


def _returned_models() -> list[type[BaseModel]]:
    """The objects methods return, directly or in a page, in table order."""
    ordered: list[type[BaseModel]] = []
    for m in METHODS:
        model = _list_item(m) or m.response
        if model not in ordered and model.model_fields:
            ordered.append(model)
    return ordered


INLINE_FIELDS = 3  # a nested object this small is written out in place: `model: {model_id}`


def _field_text(model: type[BaseModel], field: str, shown: list[type[BaseModel]]) -> str:
    """A field, with the shape of a nested object: `{a, b}` written out when small, its name
    when it is shown on its own line or too big (search_docs has it)."""
    name = _field_label(model, field)
    annotation = model.model_fields[field].annotation
    nested = _nested_models(annotation)
    if not nested:
        return name
    inner = nested[0]
    if inner in shown or len(inner.model_fields) > INLINE_FIELDS:
        shape = inner.__name__
    else:
        shape = "{" + ", ".join(_field_label(inner, f) for f in inner.model_fields) + "}"
    many = getattr(annotation, "__origin__", None) is list or any(
        getattr(a, "__origin__", None) is list for a in getattr(annotation, "__args__", ())
    )
    return f"{name}: [{shape}]" if many else f"{name}: {shape}"


def _base_of(model: type[BaseModel], earlier: list[type[BaseModel]]) -> type[BaseModel] | None:
    """An object shown before that `model` reads best as a variant of: a class it derives from,
    else the one sharing the most fields, when it shares at least three quarters of them and
    lacks at most two."""
    ancestor = next((b for b in model.__mro__[1:] if b in earlier), None)
    if ancestor is not None:
        return ancestor
    fields = set(model.model_fields)
    best: type[BaseModel] | None = None
    for other in earlier:
        theirs = set(other.model_fields)
        shared = len(fields & theirs)
        if shared >= max(3, 0.75 * len(fields)) and len(theirs - fields) <= 2:
            if best is None or shared > len(fields & set(best.model_fields)):
                best = other
    return best


def _field_name(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].alias or name


def _field_label(model: type[BaseModel], name: str) -> str:
    """A field's name, with its `brief` note when the table gives one: `url (text: the text)`,
    for what an agent would not guess from the name."""
    extra = model.model_fields[name].json_schema_extra
    brief = extra.get("brief") if isinstance(extra, dict) else None
    return _field_name(model, name) + (f" ({brief})" if brief else "")


def object_lines() -> list[str]:
    """One line per object a method returns: its fields, nested objects by shape or name; an
    object much like one before it is written as that one plus and minus a few fields."""
    shown = _returned_models()
    lines = []
    for i, model in enumerate(shown):
        base = _base_of(model, shown[:i])
        names = [f for f in model.model_fields if base is None or f not in base.model_fields]
        text = ", ".join(_field_text(model, f, shown) for f in names)
        if base is not None:
            text = f"{base.__name__}" + (f" + {text}" if text else "")
            lacks = [_field_name(base, f) for f in base.model_fields if f not in model.model_fields]
            text += f" (no {', '.join(lacks)})" if lacks else ""
        lines.append(f"{model.__name__}: {text}")
    return lines


def rule_lines() -> list[str]:
    """Each rule of the table once, with the methods it applies to."""
    by_rule: dict[str, list[str]] = {}
    for m in METHODS:
        for rule in rules(m):
            by_rule.setdefault(rule, []).append(m.full_name)
    return [f"- {', '.join(names)}: {rule}" for rule, names in by_rule.items()]


CALL_STYLES = (
    "`client.<method>(...)`, awaited in `async def run(client)`. Arguments after `*` are "
    "keyword-only; `?` = optional; camelCase works. `-> [X]`: a page; iterate it for every X "
    "across pages, or read `.items`, `.meta.next_cursor`."
)
ERRORS = (
    "Errors: APIError(.status, .code, .message, .fields) subclasses BadRequestError, "
    "AuthenticationError, InsufficientCreditsError, PermissionDeniedError, NotFoundError, "
    "ConflictError, RateLimitError, InternalServerError."
)
DETAIL = "types, enums, descriptions: `search_docs`"


def surface_body() -> str:
    """The surface for an agent's context, compact: how calls are made, one signature line per
    method, the rules, one line per returned object, the errors. Field-level detail is in
    `search_docs` and the JSON of `GET /v1/surface`."""
    lines = [CALL_STYLES, "", f"## Methods ({DETAIL})"]
    lines.extend(signature(m) for m in METHODS)
    lines.extend(rule_lines())
    lines += ["", "## Objects"]
    lines.extend(object_lines())
    lines += ["", ERRORS]
    return "\n".join(lines) + "\n"


def surface_markdown() -> str:
    """The whole surface as markdown (`GET /v1/surface`, `search_docs("*")`)."""
    return "# FLORA client\n" + surface_body()


def _stub_class(model: type[BaseModel], types: dict[str, dict[str, Any]]) -> list[str]:
    """`class Run:` and one line per field, as a Python stub: `error_message: str | None`;
    a field FLORA may leave out is marked, since it then reads as None."""
    lines = [f"class {model.__name__}:"]
    fields = types.get(model.__name__, {})
    for name, field in model.model_fields.items():
        key = field.alias or name
        spec = fields.get(key)
        text = spec["type"] if spec else type_text(field.annotation)
        if spec and spec["optional"] and not text.endswith("| None") and text != "Any":
            text += " | None"
        notes = [field.description] if field.description else []
        if spec and spec["optional"]:
            notes.insert(0, "None when FLORA omits it")
        lines.append(f"    {key}: {text}" + (f"  # {'; '.join(notes)}" if notes else ""))
    if len(lines) == 1:
        lines.append("    ...")
    return lines


def stub_lines(model: type[BaseModel]) -> list[str]:
    """`model` and every object inside it (nested, at any depth), each as a stub class."""
    types = response_types()
    lines: list[str] = []
    seen: list[type[BaseModel]] = []
    pending = [model]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.append(current)
        lines.extend(_stub_class(current, types))
        for field in current.model_fields.values():
            pending.extend(_nested_models(field.annotation))
    return lines


def method_doc(method: Method | str) -> str:
    """Markdown for one method: signature, params with descriptions, response fields, example."""
    m = find(method) if isinstance(method, str) else method
    if m is None:
        raise KeyError(f"No such method: {method}")
    lines = [f"### client.{m.full_name}"]
    if m.camel_name != m.full_name:
        lines.append(f"Alias: `client.{m.camel_name}`")
    dep = " Deprecated." if m.deprecated and "eprecated" not in m.summary else ""
    route = f"`{m.verb} {m.path}`" if not m.helper else "(a helper of the SDK)"
    lines.append(f"{m.summary}{dep} {route}")
    lines.append(f"Signature: `{signature(m)}`")
    params = params_of(m)
    if params:
        lines.append("Arguments:")
        for p in params:
            req = "required" if p["required"] else "optional"
            req += ", filled when omitted" if p["filled"] else ""
            pos = ", positional" if p["name"] in m.positional else ""
            lines.append(f"- `{_param_sig(p)}` ({req}{pos}): {p['description']}")
    else:
        lines.append("Arguments: none")
    lines.extend(rules(m))
    item = _list_item(m)
    if item is not None:
        lines.append(
            f"Returns a page of {item.__name__} in `.{m.items_key}`: iterate the page for all "
            "items across pages" + (", or pass `cursor=` yourself." if m.paged else ".")
        )
    else:
        lines.append(f"Returns {m.response.__name__}:")
    lines.append("```python")
    lines.extend(stub_lines(item or m.response))
    lines.append("```")
    if m.example:
        lines.append(f"Example: `{m.example}`")
    return "\n".join(lines) + "\n"


def _words(text: str) -> list[str]:
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", text)
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def _stem(word: str) -> str:
    """A crude stem: plural endings off, then at most 6 letters (generate ~ generation)."""
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:6]


def _index(m: Method) -> list[tuple[set[str], float]]:
    """Bags of stemmed words with their weights, most telling first."""
    params = params_of(m)
    item = item_model(m)
    objects = _fields(m.response) + (_fields(item) if item else [])
    names = [m.response.__name__] + ([item.__name__] if item else [])
    return [
        ({_stem(w) for w in _words(f"{m.full_name} {m.camel_name} {m.path}")}, 8.0),
        ({_stem(w) for p in params for w in _words(p["name"])}, 3.0),
        ({_stem(w) for w in _words(m.summary + " " + " ".join(names))}, 2.0),
        ({_stem(w) for w in _words(" ".join(objects))}, 1.5),
        (
            {_stem(w) for p in params for w in _words(p["description"] + " " + str(p["enum"]))},
            1.0,
        ),
    ]


def search_docs(query: str, limit: int = 5) -> list[dict[str, Any]]:
    """Methods ranked by how well they match ``query``, best first, each with its doc."""
    terms = [_stem(w) for w in _words(query)]
    if not terms:
        return []
    scored = []
    for order, m in enumerate(METHODS):
        bags = _index(m)
        score = sum(max((w for bag, w in bags if t in bag), default=0.0) for t in terms)
        if m.deprecated:
            score *= 0.8
        if score > 0:
            scored.append((score, order, m))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [
        {
            "method": m.full_name,
            "camel": m.camel_name,
            "score": round(score, 2),
            "summary": m.summary,
            "doc": method_doc(m),
        }
        for score, _, m in scored[: max(0, limit)]
    ]
