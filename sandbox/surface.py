"""The `client.*` surface as the sandbox knows it: the table's spec, typed once in the zygote.

The host sends `client_surface.table.sandbox_spec()` as JSON when it starts the zygote (the
sandbox imports nothing of `client_surface`, which needs pydantic). It is read here, once, into
`SurfaceSpec` / `MethodSpec` / `ParamSpec`; the proxy and pre-flight read only these, so a key
the table stops sending fails here, at the zygote's start, and not in a script.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Filled:
    """What is sent for an argument FLORA requires when a script omits it, and the warning the
    execution carries then (worded once, in the table)."""

    value: object
    warning: str


@dataclass(frozen=True)
class ParamSpec:
    """One argument of a method: its name, whether it is required, its allowed values, and
    what is sent in its place when a script omits it (`filled`: such a one is never missing)."""

    name: str
    required: bool
    type: str
    enum: tuple[object, ...] | None  # the values allowed, when the table lists them
    description: str
    filled: Filled | None = None
    range: tuple[float | None, float | None] | None = None  # [min, max] of a number

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParamSpec:
        enum, filled = data["enum"], data["filled"]
        return cls(name=data["name"], required=bool(data["required"]), type=data["type"],
                   enum=None if enum is None else tuple(enum),
                   description=data["description"],
                   range=None if data.get("range") is None
                   else (data["range"][0], data["range"][1]),
                   filled=None if filled is None
                   else Filled(filled["value"], str(filled["warning"])))  # fmt: skip


@dataclass(frozen=True)
class FieldSpec:
    """One field of a response object, as the table's model declares it: its stub type text,
    whether FLORA may leave it out (it then reads as None), the object it holds (`ref`, a list
    of them when `many`) and the values a literal allows."""

    type: str
    optional: bool
    nullable: bool
    ref: str | None
    many: bool
    enum: tuple[object, ...] | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldSpec:
        enum = data["enum"]
        return cls(type=str(data["type"]), optional=bool(data["optional"]),
                   nullable=bool(data["nullable"]), ref=data["ref"], many=bool(data["many"]),
                   enum=None if enum is None else tuple(enum))  # fmt: skip


# A response object's name -> its fields by name.
TypeSpecs = dict[str, dict[str, FieldSpec]]


@dataclass(frozen=True)
class MethodSpec:
    """One `client.*` method: `name` is its dotted snake_case path (`generations.create`)."""

    name: str
    camel: str
    params: tuple[ParamSpec, ...]
    positional: tuple[str, ...]  # arguments that may be passed by position, in order
    items_key: str | None  # a list method's list in its answer (`models` for models.list)
    paged: bool  # the answer carries a cursor to the next page
    example: str | None  # a call shown in pre-flight's hint when arguments are missing
    filled: tuple[ParamSpec, ...] = ()  # the params a script may omit, each filled with a warning
    response: str | None = None  # the name of the object it answers (a key of `types`)
    # (model argument, params argument) when params is the chosen model's open map
    model_params: tuple[str, str] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MethodSpec:
        params = tuple(ParamSpec.from_json(p) for p in data["params"])
        return cls(
            name=data["name"],
            camel=data["camel"],
            params=params,
            positional=tuple(data["positional"]),
            items_key=data["items_key"],
            paged=bool(data["paged"]),
            example=data["example"],
            filled=tuple(p for p in params if p.filled is not None),
            response=data.get("response"),
            model_params=None if not data.get("model_params")
            else (data["model_params"][0], data["model_params"][1]),
        )  # fmt: skip

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]


class SurfaceSpec:
    """Every method, the resources above them, camelCase aliases, the SDK's error tree, and
    the params each model lists when the host knows them when it starts (`model_params`)."""

    def __init__(
        self,
        methods: list[MethodSpec],
        error_tree: list[list[Any]],
        types: TypeSpecs | None = None,
        model_params: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.methods: dict[str, MethodSpec] = {m.name: m for m in methods}
        self.types: TypeSpecs = types or {}
        self.model_params: dict[str, tuple[str, ...]] = model_params or {}
        self.error_tree = error_tree
        self.by_alias: dict[str, str] = {}
        for full, m in self.methods.items():
            self.by_alias[full] = full
            self.by_alias[m.camel] = full
            self.by_alias[".".join(camel(p) for p in full.split("."))] = full
        self.resources: set[str] = set()
        for full in self.methods:
            parts = full.split(".")
            for i in range(1, len(parts)):
                self.resources.add(".".join(parts[:i]))

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> SurfaceSpec:
        """From `sandbox_spec()`; an empty dict is a surface with no methods (raw pools)."""
        methods = [MethodSpec.from_json(m) for m in spec.get("methods", {}).values()]
        types = {
            name: {field: FieldSpec.from_json(f) for field, f in fields.items()}
            for name, fields in spec.get("types", {}).items()
        }
        model_params = {
            str(model): tuple(str(name) for name in names)
            for model, names in (spec.get("model_params") or {}).items()
        }
        return cls(methods, spec.get("error_tree", []), types, model_params)

    def item_type(self, method: MethodSpec) -> str | None:
        """The object one item of a list method's page is (`Project` for projects.list)."""
        if method.items_key is None or method.response is None:
            return None
        field = self.types.get(method.response, {}).get(method.items_key)
        return field.ref if field is not None else None

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
