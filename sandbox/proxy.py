"""The `client` a script sees: FLORA's surface, built from the table's spec, calling the host.

Every method (one per `MethodSpec`, sandbox/surface.py) normalizes the call styles agents use
(keywords, one positional dict as in the JavaScript docs, positional ids, camelCase names),
checks the names against the spec, turns the arguments into JSON (strict) and sends them to the
host as one host call. The host validates again and does the HTTP request with credentials the
child never sees. Results come back as read-only `Record`s; every list method returns a `Page`
(named by its `items_key`) that iterates across pages. The objects here have methods only: no
attribute leads to a channel, a transport or a key.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable
from typing import Any

from sandbox.jsonable import json_scalars, to_json
from sandbox.messages import EncodedArgs, Reply
from sandbox.records import Page, Record, new_page, set_types
from sandbox.records import wrap as wrap  # runner wraps host-function replies with it
from sandbox.sealed import Sealed
from sandbox.surface import MethodSpec, SurfaceSpec, camel, snake

HostCall = Callable[[str, Any], Reply]

# Set by the runner for the one execution this child serves: fn(name, payload) -> its reply,
# and the execution's warnings, which calls add to (an argument filled in for the script).
_host_call: HostCall | None = None
_warnings: list[str] = []


def bind_host(call: HostCall, warnings: list[str] | None = None) -> None:
    global _host_call, _warnings
    _host_call = call
    _warnings = [] if warnings is None else warnings


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
    fields = error.get("fields")
    fields = fields if isinstance(fields, list) else []
    raise cls(
        message,
        status=error.get("status") if isinstance(error.get("status"), int) else None,
        code=error.get("code") if isinstance(error.get("code"), str) else None,
        fields=[f for f in fields if isinstance(f, dict)],
        request_id=error.get("request_id") if isinstance(error.get("request_id"), str) else None,
    )


# --- the proxy ----------------------------------------------------------------------------


class _Params:
    """What `normalize_call` reads of a method's params on every call, made once per method."""

    __slots__ = ("method", "names", "required", "enums", "bare")

    def __init__(self, method: MethodSpec) -> None:
        self.method = method  # held, so its id is never reused while it is a key below
        self.names = frozenset(p.name for p in method.params)
        self.required = tuple(p.name for p in method.params if p.required)
        self.enums = tuple((p.name, p.enum) for p in method.params if p.enum)
        # A call with no argument at all is complete as it is: nothing required, nothing filled.
        self.bare = not self.required and not method.filled


_params: dict[int, _Params] = {}


def _params_of(method: MethodSpec) -> _Params:
    info = _params.get(id(method))
    if info is None:
        info = _params[id(method)] = _Params(method)
    return info


def normalize_call(
    spec: SurfaceSpec,
    full: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """Keywords, one positional dict, positional ids and camelCase keys -> one kwargs dict.

    An argument the spec fills (FLORA requires it, the script left it out) is added with its
    value, and its warning goes into `warnings`, once per execution."""
    method = spec.methods[full]
    info = _params_of(method)
    if info.bare and not args and not kwargs:
        return {}  # what the steps below make of no arguments
    names = info.names
    positional = method.positional
    merged: dict[str, Any] = {}
    args_list = list(args)
    last_is_body = args_list and (isinstance(args_list[-1], dict) or type(args_list[-1]) is Record)
    if last_is_body and len(args_list) > len(positional):
        body = args_list.pop()
        body = Record.to_dict(body) if type(body) is Record else body
        merged.update({str(k): v for k, v in dict.items(body)})
    if len(args_list) > len(positional):
        taken = ", ".join(positional) or "none"
        others = [
            p
            for p in method.params
            if p.name not in positional and p.name not in kwargs and p.name != "cursor"
        ]
        others.sort(key=lambda p: not p.required)  # the ones it needs first
        keywords = [p.name for p in others]
        example = f", e.g. {keywords[0]}=..." if keywords else ""
        raise TypeError(
            f"client.{full}() takes {len(positional)} positional argument(s) ({taken}) but "
            f"{len(args_list)} were given; pass the others by keyword{example}"
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
            ordered = method.param_names
            close = difflib.get_close_matches(name, ordered, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise TypeError(
                f"client.{full}() got an unexpected argument '{key}'.{hint} "
                f"Arguments: {', '.join(ordered) or 'none'}"
            )
        out[name] = value
    for p in method.filled:
        if p.name not in out and p.filled is not None:
            out[p.name] = p.filled.value
            if warnings is not None and p.filled.warning not in warnings:
                warnings.append(p.filled.warning)
    missing = [name for name in info.required if name not in out]
    if missing:
        raise TypeError(f"client.{full}() is missing required argument(s): {', '.join(missing)}")
    for name, allowed in info.enums:
        value = out.get(name)
        if name in out and isinstance(value, str) and value not in allowed:
            raise ValueError(
                f"client.{full}(): {name}={value!r} is not valid; use one of: "
                + ", ".join(map(str, allowed))
            )
    if json_scalars(out) and json_scalars(out.values()):  # exact str names (json_scalars of
        return out  # the keys), scalar values: what to_json would make of it, the same dict
    converted: dict[str, Any]  # to_json gives back a dict for a dict
    converted, _ = to_json(out, strict=True, path="arguments")
    return converted


def _make_method(spec: SurfaceSpec, full: str) -> Callable[..., Any]:
    # Every list method answers with a page (`for m in client.models.list()`); one that is not
    # paged has no cursor, so its page is its only one.
    items_key = spec.methods[full].items_key
    response = spec.methods[full].response
    item_type = spec.item_type(spec.methods[full])
    bare = _params_of(spec.methods[full]).bare
    # A call with no arguments says the same every time: its payload is encoded once.
    no_arguments = EncodedArgs({"method": full, "arguments": EncodedArgs({})})

    def call_host(arguments: dict[str, Any]) -> Any:
        if _host_call is None:
            raise RuntimeError("the client is not connected")
        payload = {"method": full, "arguments": arguments} if arguments else no_arguments
        reply = _host_call("client", payload)
        if not reply.ok:
            _raise_from_reply(reply.error or {})
        return reply.value

    def method(*args: Any, **kwargs: Any) -> Any:
        if bare and not args and not kwargs:
            arguments: dict[str, Any] = {}  # what normalize_call makes of no arguments
        else:
            arguments = normalize_call(spec, full, args, kwargs, _warnings)
        value = call_host(arguments)
        if items_key and isinstance(value, dict):

            def next_page(cursor: str | None) -> Page:
                answer = call_host({**arguments, "cursor": cursor})
                return new_page(next_page, items_key, answer, item_type)

            return new_page(next_page, items_key, value, item_type)
        return wrap(value, response)

    method.__name__ = full.rsplit(".", 1)[-1]
    method.__qualname__ = f"client.{full}"
    return method


def build_client_class(spec: SurfaceSpec) -> type:
    """One class per resource, methods as class attributes (snake and camelCase); the records
    the methods return know their types from the same spec."""
    set_types(spec.types)

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
