"""What `client.*` calls return inside the child: read-only `Record`s and `Page`s over JSON.

Records and pages are plain data made only here, from the host's JSON reply: a script cannot
build one, subclass one usefully, make one answer a name starting with `_` from its data, or
take one apart with `copy` (see sealed.py). `record_data` reads the JSON behind one by exact
type, without calling any method of the object, for jsonable's conversion.

A record knows its type (`Run`, `Generation`...) from the table's spec (`set_types`, once per
zygote): a field the type declares that FLORA left out reads as None, a nested object gets its
own type, and a record used as a dict key or in a set names the field to use instead.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.sealed import Final
from sandbox.surface import FieldSpec, TypeSpecs

_types: TypeSpecs = {}


def set_types(types: TypeSpecs) -> None:
    """The response objects of the surface, from the spec (the zygote calls it once)."""
    _types.clear()
    _types.update(types)


def wrap(value: Any, type_name: str | None = None) -> Any:
    if type(value) is dict:
        return new_record(value, type_name)
    if type(value) is list:
        return [wrap(item, type_name) for item in value]
    return value


def new_record(data: dict[str, Any], type_name: str | None = None) -> Record:
    record = object.__new__(Record)
    object.__setattr__(record, "_record_data", data)
    object.__setattr__(record, "_record_type", type_name if type_name in _types else None)
    return record


def new_page(
    call: Callable[[str | None], Page],
    key: str,
    data: dict[str, Any],
    item_type: str | None = None,
) -> Page:
    page = object.__new__(Page)
    object.__setattr__(page, "_page_call", call)
    object.__setattr__(page, "_page_key", key)
    object.__setattr__(page, "_page_data", data)
    object.__setattr__(page, "_page_type", item_type)
    return page


def _declared(record: Record) -> dict[str, FieldSpec]:
    name: str | None = object.__getattribute__(record, "_record_type")
    return _types.get(name, {}) if name is not None else {}


def _key_field(fields: list[str]) -> str | None:
    """The field that identifies an object (`model_id`, `run_id`...), to use as a key."""
    ids = [f for f in fields if f.endswith("_id") or f == "id"]
    return ids[0] if ids else None


def record_data(value: Any) -> dict[str, Any] | None:
    """The JSON behind a Record or a Page (exact types only; no method of `value` is called)."""
    data: dict[str, Any]
    t = type(value)
    if t is Record:
        data = object.__getattribute__(value, "_record_data")
        return data
    if t is Page:
        data = object.__getattribute__(value, "_page_data")
        return data
    return None


class Record(Final):
    """A read-only JSON object: `run.status` and `run["status"]` both work, nested too.

    Only the sandbox makes records (from the host's JSON); a name starting with `_` is never
    answered from the data, so data cannot pose as `__class__`, `__deepcopy__` or `__reduce_ex__`.
    """

    __slots__ = ("_record_data", "_record_type")

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_":
            data = object.__getattribute__(self, "_record_data")
            declared = _declared(self)
            if name in data:
                field = declared.get(name)
                return wrap(data[name], field.ref if field is not None else None)
            if name in declared:  # declared, left out by FLORA: None, as its type says
                return None
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_record_data")
        fields = list(dict.fromkeys([*data, *_declared(self)]))
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        kind = object.__getattribute__(self, "_record_type") or "this object"
        raise AttributeError(
            f"{kind} has no field '{name}'.{hint} Fields: {', '.join(fields)}"
            " (search_docs lists every object's fields)"
        )

    def __getitem__(self, key: str) -> Any:
        data = object.__getattribute__(self, "_record_data")
        try:
            field = _declared(self).get(key)
            return wrap(data[key], field.ref if field is not None else None)
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(key), list(data), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise KeyError(f"no field {key!r}.{hint} Fields: {', '.join(data)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("client results are read-only; copy one with .to_dict() to change it")

    def __delattr__(self, name: str) -> None:
        raise TypeError("client results are read-only; copy one with .to_dict() to change it")

    def __contains__(self, key: object) -> bool:
        return key in object.__getattribute__(self, "_record_data")

    def __iter__(self) -> Iterator[str]:
        return iter(list(object.__getattribute__(self, "_record_data")))

    def __len__(self) -> int:
        return len(object.__getattribute__(self, "_record_data"))

    def __eq__(self, other: object) -> bool:
        mine: dict[str, Any] = object.__getattribute__(self, "_record_data")
        if type(other) is Record:
            theirs: dict[str, Any] = object.__getattribute__(other, "_record_data")
            return mine == theirs
        return type(other) is dict and mine == other

    def __hash__(self) -> int:
        """Unhashable, like the dict it stands for, saying which field to key by instead."""
        data = object.__getattribute__(self, "_record_data")
        kind = object.__getattribute__(self, "_record_type") or "a client result"
        key = _key_field(list(dict.fromkeys([*data, *_declared(self)])))
        use = "use one of its fields"
        if key:
            use = f"use its `.{key}` field (e.g. `g.model.model_id`)"
        raise TypeError(
            f"{kind} is a record (unhashable): it cannot be a dict key or set member; {use}"
        )

    def _wrap_field(self, key: str, value: Any) -> Any:
        field = _declared(self).get(key)
        return wrap(value, field.ref if field is not None else None)

    def get(self, key: str, default: Any = None) -> Any:
        data = object.__getattribute__(self, "_record_data")
        return self._wrap_field(key, data[key]) if key in data else default

    def keys(self) -> list[str]:
        return list(object.__getattribute__(self, "_record_data"))

    def values(self) -> list[Any]:
        data = object.__getattribute__(self, "_record_data")
        return [self._wrap_field(k, v) for k, v in data.items()]

    def items(self) -> list[tuple[str, Any]]:
        data = object.__getattribute__(self, "_record_data")
        return [(k, self._wrap_field(k, v)) for k, v in data.items()]

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable deep copy."""
        copy: dict[str, Any] = json.loads(json.dumps(object.__getattribute__(self, "_record_data")))
        return copy

    def __repr__(self) -> str:
        return json.dumps(object.__getattribute__(self, "_record_data"))[:2000]


class Page(Final):
    """One page of a list method. `for item in page` walks every page; `page.<items_key>`,
    `page.items`, `page.meta`, `has_next_page()`, `get_next_page()` work on this one.
    Only the sandbox makes pages."""

    __slots__ = ("_page_call", "_page_key", "_page_data", "_page_type")

    def __getattr__(self, name: str) -> Any:
        key = object.__getattribute__(self, "_page_key")
        data = object.__getattribute__(self, "_page_data")
        if name[:1] != "_" and (name == key or name == "data"):
            return wrap(data.get(key) or [], object.__getattribute__(self, "_page_type"))
        if name == "meta":
            return wrap(data.get("meta") or {})
        raise AttributeError(
            f"a page has '{key}', 'items', 'meta', 'has_next_page()' and 'get_next_page()'"
            f"; not '{name}'. Iterate it (`for x in page`) for its items across pages"
        )

    @property
    def items(self) -> list[Any]:
        data = object.__getattribute__(self, "_page_data")
        key = object.__getattribute__(self, "_page_key")
        items: list[Any] = wrap(data.get(key) or [], object.__getattribute__(self, "_page_type"))
        return items

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("pages are read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError("pages are read-only")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return self.items[key]
        return wrap(object.__getattribute__(self, "_page_data"))[key]

    def _next_cursor(self) -> str | None:
        meta = object.__getattribute__(self, "_page_data").get("meta") or {}
        cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
        return cursor if isinstance(cursor, str) and cursor else None

    def has_next_page(self) -> bool:
        return self._next_cursor() is not None

    def get_next_page(self) -> Page:
        cursor = self._next_cursor()
        if cursor is None:
            raise StopIteration("this is the last page")
        call: Callable[[str | None], Page] = object.__getattribute__(self, "_page_call")
        return call(cursor)

    def __iter__(self) -> Iterator[Any]:
        page: Page | None = self
        while page is not None:
            yield from page.items
            page = page.get_next_page() if page.has_next_page() else None

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        key = object.__getattribute__(self, "_page_key")
        return f"<Page of {len(self.items)} {key}, more: {self.has_next_page()}>"
