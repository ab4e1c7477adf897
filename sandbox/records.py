"""What `client.*` calls return inside the child: read-only `Record`s and `Page`s over JSON.

Records and pages are plain data made only here, from the host's JSON reply: a script cannot
build one, subclass one usefully, make one answer a name starting with `_` from its data, or
take one apart with `copy` (see sealed.py). `record_data` reads the JSON behind one by exact
type, without calling any method of the object, for jsonable's conversion.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.sealed import Final


def wrap(value: Any) -> Any:
    if type(value) is dict:
        return new_record(value)
    if type(value) is list:
        return [wrap(item) for item in value]
    return value


def new_record(data: dict[str, Any]) -> Record:
    record = object.__new__(Record)
    object.__setattr__(record, "_record_data", data)
    return record


def new_page(call: Callable[[str | None], Page], key: str, data: dict[str, Any]) -> Page:
    page = object.__new__(Page)
    object.__setattr__(page, "_page_call", call)
    object.__setattr__(page, "_page_key", key)
    object.__setattr__(page, "_page_data", data)
    return page


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

    __slots__ = ("_record_data",)

    def __getattribute__(self, name: str) -> Any:
        if name[:1] != "_":
            data = object.__getattribute__(self, "_record_data")
            if name in data:
                return wrap(data[name])
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_record_data")
        close = difflib.get_close_matches(name, list(data), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise AttributeError(f"no field '{name}'.{hint} Fields: {', '.join(data)}")

    def __getitem__(self, key: str) -> Any:
        data = object.__getattribute__(self, "_record_data")
        try:
            return wrap(data[key])
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

    __hash__ = None  # type: ignore[assignment]  # unhashable, like the dict it stands for

    def get(self, key: str, default: Any = None) -> Any:
        data = object.__getattribute__(self, "_record_data")
        return wrap(data[key]) if key in data else default

    def keys(self) -> list[str]:
        return list(object.__getattribute__(self, "_record_data"))

    def values(self) -> list[Any]:
        return [wrap(v) for v in object.__getattribute__(self, "_record_data").values()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, wrap(v)) for k, v in object.__getattribute__(self, "_record_data").items()]

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

    __slots__ = ("_page_call", "_page_key", "_page_data")

    def __getattr__(self, name: str) -> Any:
        key = object.__getattribute__(self, "_page_key")
        data = object.__getattribute__(self, "_page_data")
        if name[:1] != "_" and (name == key or name == "data"):
            return wrap(data.get(key) or [])
        if name == "meta":
            return wrap(data.get("meta") or {})
        raise AttributeError(
            f"a page has '{key}', 'items', 'meta', 'has_next_page()' and 'get_next_page()'"
            f"; not '{name}'"
        )

    @property
    def items(self) -> list[Any]:
        data = object.__getattribute__(self, "_page_data")
        items: list[Any] = wrap(data.get(object.__getattribute__(self, "_page_key")) or [])
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
