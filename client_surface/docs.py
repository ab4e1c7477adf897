"""Agent-facing docs, derived from the table: JSON, compact markdown, search."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from client_surface.table import SURFACE, Method, find, item_model, params_of

__all__ = ["method_doc", "rules", "search_docs", "surface_json", "surface_markdown"]

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
    return lines


def surface_json() -> dict[str, Any]:
    """Every method with its verb, path, params, return fields and one example."""
    methods = []
    for m in SURFACE:
        methods.append(
            {
                "name": m.full_name,
                "camel": m.camel_name,
                "verb": m.verb,
                "path": m.path,
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


def _returns_line(method: Method) -> str:
    item = item_model(method)
    if item is not None:
        return f"page of {item.__name__} in `.{method.items_key}`; `meta.next_cursor`"
    return method.response.__name__


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_nested_models(arg))
    return found


def _is_wrapper(model: type[BaseModel]) -> bool:
    """A list envelope such as GenerationList: only an items list and meta."""
    names = set(model.model_fields) - {"meta"}
    return len(names) == 1 and model.__name__.endswith("List")


def _object_models() -> list[type[BaseModel]]:
    ordered: list[type[BaseModel]] = []
    pending = [m.response for m in SURFACE]
    while pending:
        model = pending.pop(0)
        if model in ordered or model.__name__ in _SKIP_OBJECTS:
            continue
        ordered.append(model)
        for field in model.model_fields.values():
            pending.extend(_nested_models(field.annotation))
    return [m for m in ordered if not _is_wrapper(m) and m.model_fields]


_SKIP_OBJECTS = {"Meta", "ModelRef", "TechniqueRef", "ParamOption"}


def _object_section() -> list[str]:
    lines = ["## Objects"]
    shown = _object_models()
    for model in shown:
        base = next((b for b in model.__mro__[1:] if b in shown), None)
        if base is not None:
            extra = [f for f in model.model_fields if f not in base.model_fields]
            lines.append(f"- {model.__name__}: {base.__name__} + {', '.join(extra)}")
        else:
            lines.append(f"- {model.__name__}: {', '.join(model.model_fields)}")
    return lines


def surface_markdown() -> str:
    """Compact markdown of the whole surface for an agent's context (required args marked *)."""
    lines = [
        "# FLORA client",
        "Call `client.<resource>.<method>(...)` with keyword arguments (* = required). "
        "camelCase aliases work. List methods return a page: iterate it for every item "
        "across pages, or read `.items` / `.meta.next_cursor`.",
        "",
    ]
    for m in SURFACE:
        args = ", ".join(_param_sig(p) for p in params_of(m) if p["name"] not in ("cursor",))
        if m.paged:
            args += ", cursor" if args else "cursor"
        alias = f" (`{m.camel_name}`)" if m.camel_name != m.full_name else ""
        dep = " Deprecated." if m.deprecated and "eprecated" not in m.summary else ""
        lines.append(f"### {m.full_name}{alias}")
        lines.append(f"{m.summary}{dep} `{m.verb} {m.path}`")
        lines.append(f"- args: {args or 'none'}")
        lines.append(f"- returns: {_returns_line(m)}")
        lines.extend(f"- {rule}" for rule in rules(m))
        if m.example:
            lines.append(f"- e.g. `{m.example}`")
    lines.append("")
    lines.extend(_object_section())
    lines.append(
        "Errors: APIError(.status, .code, .message, .fields) subclasses BadRequestError, "
        "AuthenticationError, InsufficientCreditsError, PermissionDeniedError, NotFoundError, "
        "ConflictError, RateLimitError, InternalServerError."
    )
    return "\n".join(lines) + "\n"


def method_doc(method: Method | str) -> str:
    """Markdown for one method: signature, params with descriptions, response fields, example."""
    m = find(method) if isinstance(method, str) else method
    if m is None:
        raise KeyError(f"No such method: {method}")
    lines = [f"### client.{m.full_name}"]
    if m.camel_name != m.full_name:
        lines.append(f"Alias: `client.{m.camel_name}`")
    dep = " Deprecated." if m.deprecated and "eprecated" not in m.summary else ""
    lines.append(f"{m.summary}{dep} `{m.verb} {m.path}`")
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
    lines.append(f"Returns {m.response.__name__}: {', '.join(_fields(m.response))}")
    item = item_model(m)
    if item is not None:
        lines.append(f"Each {item.__name__} in `.{m.items_key}`: {', '.join(_fields(item))}")
        lines.append("Iterate the page for all items across pages, or pass `cursor=` yourself.")
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
    for order, m in enumerate(SURFACE):
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
