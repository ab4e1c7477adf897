"""The `client` a script sees: FLORA's surface, built from the table's spec, calling the host.

Every method normalizes the call styles agents use (keywords, one positional dict as in the
JavaScript docs, positional ids, camelCase names), checks the names against the spec, turns the
arguments into JSON (strict) and sends them to the host as one host call. The host validates
again and does the HTTP request with credentials the child never sees. Results come back as
read-only `Record`s; list methods return a `Page` that iterates across pages. The objects here
have methods only: no attribute leads to a channel, a transport or a key.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable
from typing import Any

from sandbox.jsonable import to_json
from sandbox.records import Page, Record, new_page, wrap
from sandbox.sealed import Sealed

# Set by the runner for the one execution this child serves: fn(name, payload) -> reply dict.
_host_call: Callable[[str, Any], dict[str, Any]] | None = None


def bind_host(call: Callable[[str, Any], dict[str, Any]]) -> None:
    global _host_call
    _host_call = call


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- errors a script can catch -------------------------------------------------------------


class FloraError(Exception):
    """Base of every error a client call raises."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        fields: list[dict[str, str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields or []
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.insert(0, f"{self.status} {self.code or ''}".strip() + ":")
        return " ".join(parts)


class CallLimitExceeded(FloraError):
    """The execution made as many client calls as its limit allows."""


# Filled from the spec's error tree in the zygote (build_error_classes): the SDK's hierarchy,
# declared once in client_surface/errors.py, rebuilt here without importing that package.
ERROR_CLASSES: dict[str, type[Exception]] = {
    "FloraError": FloraError,
    "CallLimitExceeded": CallLimitExceeded,
}
_BUILTIN_BASES: dict[str, type[Exception]] = {
    "Exception": Exception, "TypeError": TypeError, "ValueError": ValueError,
}  # fmt: skip


def build_error_classes(tree: list[list[Any]]) -> dict[str, type[Exception]]:
    for name, bases, doc in tree:
        if name in ERROR_CLASSES:
            continue
        resolved = tuple(ERROR_CLASSES.get(b) or _BUILTIN_BASES.get(b) or Exception for b in bases)
        ERROR_CLASSES[name] = type(name, resolved or (FloraError,), {"__doc__": doc})
    return ERROR_CLASSES


def _raise_from_reply(error: dict[str, Any]) -> None:
    kind = error.get("class") if isinstance(error, dict) else None
    message = str(error.get("message", "client call failed")) if isinstance(error, dict) else ""
    hint = error.get("hint") if isinstance(error, dict) else None
    if hint:
        message = f"{message} ({hint})"
    cls = ERROR_CLASSES.get(kind or "") or ERROR_CLASSES.get("APIError") or FloraError
    if not (isinstance(cls, type) and issubclass(cls, FloraError)):
        cls = FloraError
    fields = error.get("fields") if isinstance(error.get("fields"), list) else []
    raise cls(  # type: ignore[call-arg]
        message,
        status=error.get("status") if isinstance(error.get("status"), int) else None,
        code=error.get("code") if isinstance(error.get("code"), str) else None,
        fields=[f for f in fields if isinstance(f, dict)],
        request_id=error.get("request_id") if isinstance(error.get("request_id"), str) else None,
    )


# --- the proxy ----------------------------------------------------------------------------


class SurfaceSpec:
    """The table's spec as the sandbox needs it (names, params, aliases), built in the zygote."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.methods: dict[str, dict[str, Any]] = spec.get("methods", {})
        self.error_tree: list[list[Any]] = spec.get("error_tree", [])
        self.by_alias: dict[str, str] = {}
        for full, m in self.methods.items():
            self.by_alias[full] = full
            self.by_alias[m.get("camel") or full] = full
            self.by_alias[".".join(camel(p) for p in full.split("."))] = full
        self.resources: set[str] = set()
        for full in self.methods:
            parts = full.split(".")
            for i in range(1, len(parts)):
                self.resources.add(".".join(parts[:i]))

    def resolve(self, dotted: str) -> str | None:
        if dotted in self.by_alias:
            return self.by_alias[dotted]
        return self.by_alias.get(".".join(snake(p) for p in dotted.split(".")))

    def is_resource(self, dotted: str) -> bool:
        return ".".join(snake(p) for p in dotted.split(".")) in self.resources

    def suggest(self, dotted: str) -> str | None:
        candidates = list(self.methods) + sorted(self.resources)
        close = difflib.get_close_matches(snake(dotted), candidates, n=1, cutoff=0.6)
        return close[0] if close else None

    def param_names(self, full: str) -> list[str]:
        return [p["name"] for p in self.methods[full].get("params", [])]


def normalize_call(
    spec: SurfaceSpec, full: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Keywords, one positional dict, positional ids and camelCase keys -> one kwargs dict."""
    method = spec.methods[full]
    names = spec.param_names(full)
    positional = list(method.get("positional", []))
    merged: dict[str, Any] = {}
    args_list = list(args)
    last_is_body = args_list and (isinstance(args_list[-1], dict) or type(args_list[-1]) is Record)
    if last_is_body and len(args_list) > len(positional):
        body = args_list.pop()
        body = Record.to_dict(body) if type(body) is Record else body
        merged.update({str(k): v for k, v in dict.items(body)})
    if len(args_list) > len(positional):
        taken = ", ".join(positional) or "none"
        raise TypeError(
            f"client.{full}() takes {len(positional)} positional argument(s) ({taken}) but "
            f"{len(args_list)} were given; pass the others by keyword"
        )
    for name, value in zip(positional, args_list, strict=False):
        merged[name] = value
    for key, value in kwargs.items():
        if key in merged:
            raise TypeError(f"client.{full}() got argument '{key}' twice")
        merged[key] = value
    out: dict[str, Any] = {}
    for key, value in merged.items():
        name = key if key in names else snake(key)
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise TypeError(
                f"client.{full}() got an unexpected argument '{key}'.{hint} "
                f"Arguments: {', '.join(names) or 'none'}"
            )
        out[name] = value
    missing = [
        p["name"] for p in method.get("params", []) if p.get("required") and p["name"] not in out
    ]
    if missing:
        raise TypeError(f"client.{full}() is missing required argument(s): {', '.join(missing)}")
    for p in method.get("params", []):
        enum = p.get("enum")
        value = out.get(p["name"])
        if enum and p["name"] in out and isinstance(value, str) and value not in enum:
            raise ValueError(
                f"client.{full}(): {p['name']}={value!r} is not valid; use one of: "
                + ", ".join(map(str, enum))
            )
    converted, _ = to_json(out, strict=True, path="arguments")
    return converted


def _unpaged_items_key(full: str, value: Any) -> str | None:
    """`models.list` answers `{"models": [...]}` with no cursor: still iterable as a page."""
    if not full.endswith(".list") or not isinstance(value, dict):
        return None
    lists = [k for k, v in value.items() if isinstance(v, list)]
    return lists[0] if len(lists) == 1 else None


def _make_method(spec: SurfaceSpec, full: str) -> Callable[..., Any]:
    items_key = spec.methods[full].get("items_key")

    def call_host(arguments: dict[str, Any]) -> Any:
        if _host_call is None:
            raise RuntimeError("the client is not connected")
        reply = _host_call("client", {"method": full, "arguments": arguments})
        if not reply.get("ok"):
            _raise_from_reply(reply.get("error") or {})
        return reply.get("value")

    def method(*args: Any, **kwargs: Any) -> Any:
        arguments = normalize_call(spec, full, args, kwargs)
        value = call_host(arguments)
        key = items_key or _unpaged_items_key(full, value)
        if key and isinstance(value, dict):

            def next_page(cursor: str | None) -> Page:
                return new_page(next_page, key, call_host({**arguments, "cursor": cursor}))

            return new_page(next_page, key, value)
        return wrap(value)

    method.__name__ = full.rsplit(".", 1)[-1]
    method.__qualname__ = f"client.{full}"
    return method


def build_client_class(spec: SurfaceSpec) -> type:
    """One class per resource, methods as class attributes (snake and camelCase)."""

    def resource_class(prefix: str) -> type:
        members: dict[str, Any] = {}
        children: set[str] = set()
        for full in spec.methods:
            if prefix and not full.startswith(prefix + "."):
                continue
            rest = full[len(prefix) + 1 :] if prefix else full
            head = rest.split(".", 1)[0]
            if "." in rest:
                children.add(head)
            else:
                fn = _make_method(spec, full)
                members[head] = fn
                members[camel(head)] = fn
        for child in children:
            child_prefix = f"{prefix}.{child}" if prefix else child
            instance = resource_class(child_prefix)()
            members[child] = instance
            members[camel(child)] = instance
        label = f"client.{prefix}" if prefix else "client"
        public = sorted({k for k in members if k == snake(k)})

        def __getattr__(self: Any, name: str) -> Any:
            dotted = f"{prefix}.{name}" if prefix else name
            suggestion = spec.suggest(dotted)
            hint = f" Did you mean client.{suggestion}?" if suggestion else ""
            raise AttributeError(
                f"{label}.{name} does not exist.{hint} It has: {', '.join(public)}"
            )

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise TypeError(f"{label} is read-only")

        def __repr__(self: Any) -> str:
            return f"<{label}: {', '.join(public)}>"

        ns: dict[str, Any] = {
            "__slots__": (),
            "__getattr__": __getattr__,
            "__setattr__": __setattr__,
            "__delattr__": __setattr__,
            "__repr__": __repr__,
        }
        for key, value in members.items():
            ns[key] = staticmethod(value) if isinstance(value, types.FunctionType) else value
        name = "Client" if not prefix else f"Resource_{prefix.replace('.', '_')}"
        return type(name, (Sealed,), ns)

    return resource_class("")
