"""Turning what a script holds into JSON, inside the child, by one documented rule.

Two modes:
- strict, for arguments of `client.*` calls: only JSON-shaped data passes; anything else is a
  TypeError naming where it was (`params['seed']: a set is not JSON`).
- lenient, for the script's result: JSON-shaped data passes as is, and the rest is converted
  with a warning naming where and how:
    tuple -> list; set/frozenset -> sorted list (insertion order if unsortable);
    datetime/date/time -> ISO 8601 string; bytes -> base64 string;
    NaN/Infinity -> null;
    int outside the signed 64-bit range (what the host's frame parser accepts) -> the string of
    its digits when it has at most 4,000 of them, else a description of its size;
    str/int/float/dict/list/tuple/set/datetime subclasses -> the plain value (their methods
    are not called);
    records and pages from `client` -> their data, converted like any other value;
    any other object -> its repr() (at most 1,000 characters).
  In strict mode an int outside the 64-bit range is refused too.
Nesting deeper than 100 levels is cut (lenient) or refused (strict).

What comes out is made only of exact JSON types (dict, list, str, int, float, bool, None),
whatever went in: no method of a script's object is called to read the data that is measured
and sent, so nothing can change between the size check and the bytes that leave the child.
"""

from __future__ import annotations

import base64
import datetime
import math
from collections.abc import Iterable
from typing import Any

from sandbox.records import record_data

MAX_DEPTH = 100
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # the host's frame parser refuses integers beyond
_INT_DIGITS_SAFE = 4000
_INT_LIMIT = 10**_INT_DIGITS_SAFE  # computed once: 10**4000 costs ~30 us


class NotJSON(TypeError):
    """A call argument that cannot be sent as JSON."""


_INF = float("inf")


def json_scalars(values: Iterable[Any]) -> bool:
    """Are all `values` exact JSON scalars, which to_json passes unchanged (str, bool, None, an
    int in the 64-bit range, a finite float)? A call's arguments that are need no conversion."""
    for v in values:
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int and INT_MIN <= v <= INT_MAX:
            continue
        if t is float and -_INF < v < _INF:  # NaN is not between them
            continue
        return False
    return True


def _plain_key(key: Any, path: str, strict: bool, warnings: list[str]) -> str:
    if type(key) is str:
        return key
    t = type(key)
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or t is bool:
        return "null" if key is None else ("true" if key else "false")
    if isinstance(key, int):
        return str(int.__int__(key))
    if isinstance(key, float):
        return repr(float.__float__(key))
    if strict:
        raise NotJSON(f"{path}: dict key of type {t.__name__} is not JSON (use str keys)")
    warnings.append(f"{path}: {t.__name__} dict key converted with repr()")
    return _repr(key, t)


def _repr(v: Any, t: type) -> str:
    try:
        text = repr(v)
    except Exception as exc:  # a script's own __repr__ may fail
        return f"<{t.__name__} object (repr failed: {type(exc).__name__})>"
    return str.__str__(text)[:1000] if isinstance(text, str) else f"<{t.__name__} object>"


def _big_int(v: int, path: str, strict: bool, warnings: list[str]) -> str:
    if strict:
        raise NotJSON(
            f"{path}: the integer {'is over' if v > 0 else 'is under'} the 64-bit range JSON "
            f"numbers may use here ({INT_MIN} to {INT_MAX}); pass it as a string"
        )
    if -_INT_LIMIT < v < _INT_LIMIT:
        warnings.append(f"{path}: integer outside the 64-bit range, sent as a string of digits")
        return str(v)
    warnings.append(f"{path}: integer too large for JSON, replaced by a description")
    return f"<integer of {v.bit_length()} bits>"


def to_json(value: Any, *, strict: bool, path: str = "result") -> tuple[Any, list[str]]:
    warnings: list[str] = []
    return _convert(value, path, 0, strict, warnings), warnings


def _convert(v: Any, path: str, depth: int, strict: bool, warnings: list[str]) -> Any:
    """Exact JSON types first (the common case, no call into the value), then the rest."""
    if depth > MAX_DEPTH:
        if strict:
            raise NotJSON(f"{path}: nested deeper than {MAX_DEPTH} levels")
        warnings.append(f"{path}: nested deeper than {MAX_DEPTH} levels, cut")
        return None
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if INT_MIN <= v <= INT_MAX else _big_int(v, path, strict, warnings)
    if t is float:
        return v if math.isfinite(v) else _non_finite(v, path, strict, warnings)
    if isinstance(v, dict):
        return _convert_dict(v, path, depth, strict, warnings)
    if isinstance(v, list):
        return _convert_items(list.__iter__(v), path, depth, strict, warnings)
    data = record_data(v)  # a client Record or Page, by exact type
    if data is not None:
        return _convert(data, path, depth, strict, warnings)
    return _convert_other(v, t, path, depth, strict, warnings)


def _non_finite(v: float, path: str, strict: bool, warnings: list[str]) -> None:
    if strict:
        raise NotJSON(f"{path}: {v} is not a JSON number")
    warnings.append(f"{path}: {v} converted to null")
    return None


def _convert_dict(
    v: dict[Any, Any], path: str, depth: int, strict: bool, warnings: list[str]
) -> dict[str, Any]:
    out = {}
    for key, item in dict.items(v):
        k = _plain_key(key, path, strict, warnings)
        out[k] = _convert(item, f"{path}[{k!r}]", depth + 1, strict, warnings)
    return out


def _convert_items(
    items: Iterable[Any], path: str, depth: int, strict: bool, warnings: list[str]
) -> list[Any]:
    return [
        _convert(item, f"{path}[{i}]", depth + 1, strict, warnings) for i, item in enumerate(items)
    ]


def _convert_other(
    v: Any, t: type, path: str, depth: int, strict: bool, warnings: list[str]
) -> Any:
    """Subclasses of JSON types (read as their plain value), tuples, sets, dates; then, for a
    result only, bytes and anything else by repr()."""
    if isinstance(v, tuple):
        return _convert_items(tuple.__iter__(v), path, depth, strict, warnings)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):  # bool cannot be subclassed: an int subclass here is not a bool
        return _convert(int.__int__(v), path, depth, strict, warnings)
    if isinstance(v, float):
        return _convert(float.__float__(v), path, depth, strict, warnings)
    if isinstance(v, (set, frozenset)):
        if not strict:
            warnings.append(f"{path}: {t.__name__} converted to a list")
        return _convert_items(_sorted_members(v), path, depth, strict, warnings)
    if isinstance(v, datetime.datetime):  # before date: a datetime is a date
        return datetime.datetime.isoformat(v)
    if isinstance(v, datetime.date):
        return datetime.date.isoformat(v)
    if isinstance(v, datetime.time):
        return datetime.time.isoformat(v)
    if strict:
        raise NotJSON(
            f"{path}: a {t.__name__} is not JSON; pass str, int, float, bool, None, list or dict"
        )
    if isinstance(v, (bytes, bytearray)):
        warnings.append(f"{path}: bytes converted to a base64 string")
        raw = bytes.__bytes__(v) if isinstance(v, bytes) else bytearray.__iter__(v)
        return base64.b64encode(bytes(raw)).decode()
    warnings.append(f"{path}: {t.__name__} object converted with repr()")
    return _repr(v, t)


def _sorted_members(v: set[Any] | frozenset[Any]) -> list[Any]:
    """A set's members, sorted when they can be; else in iteration order."""
    items = list(set.__iter__(v) if isinstance(v, set) else frozenset.__iter__(v))
    try:
        return sorted(items)
    except Exception:  # unorderable, or a script's own comparison failed: keep the order
        return items
