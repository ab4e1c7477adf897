"""Turning what a script holds into JSON, inside the child, by one documented rule.

Two modes:
- strict, for arguments of `client.*` calls: only JSON-shaped data passes; anything else is a
  TypeError naming where it was (`params['seed']: a set is not JSON`).
- lenient, for the script's result: JSON-shaped data passes as is, and the rest is converted
  with a warning naming where and how:
    tuple -> list; set/frozenset -> sorted list (insertion order if unsortable);
    datetime/date/time -> ISO 8601 string; bytes -> base64 string;
    NaN/Infinity -> null; int too long for JSON -> string of its digits' count;
    str/int/float/dict/list subclasses -> the plain value (their methods are not called);
    records and pages from `client` -> their data;
    any other object -> its repr() (at most 1,000 characters).
Nesting deeper than 100 levels is cut (lenient) or refused (strict).
"""

from __future__ import annotations

import base64
import datetime
import math
from typing import Any

MAX_DEPTH = 100
_INT_DIGITS_SAFE = 4000
_INT_LIMIT = 10**_INT_DIGITS_SAFE  # computed once: 10**4000 costs ~30 us


class NotJSON(TypeError):
    """A call argument that cannot be sent as JSON."""


def _plain_key(key: Any, path: str, strict: bool, warnings: list[str]) -> str:
    t = type(key)
    if t is str:
        return key
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
    return repr(key)[:1000]


def to_json(value: Any, *, strict: bool, path: str = "result") -> tuple[Any, list[str]]:
    warnings: list[str] = []
    return _convert(value, path, 0, strict, warnings), warnings


def _convert(v: Any, path: str, depth: int, strict: bool, warnings: list[str]) -> Any:
    from sandbox.proxy import Page, Record  # the proxy imports this module too

    if depth > MAX_DEPTH:
        if strict:
            raise NotJSON(f"{path}: nested deeper than {MAX_DEPTH} levels")
        warnings.append(f"{path}: nested deeper than {MAX_DEPTH} levels, cut")
        return None
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        if abs(v) >= _INT_LIMIT:
            if strict:
                raise NotJSON(f"{path}: integer too large for JSON")
            warnings.append(f"{path}: integer too large for JSON, replaced by a description")
            return f"<integer of {v.bit_length()} bits>"
        return v
    if t is float:
        if math.isfinite(v):
            return v
        if strict:
            raise NotJSON(f"{path}: {v} is not a JSON number")
        warnings.append(f"{path}: {v} converted to null")
        return None
    if isinstance(v, dict):
        out = {}
        for key, item in dict.items(v):
            k = _plain_key(key, path, strict, warnings)
            out[k] = _convert(item, f"{path}[{k!r}]", depth + 1, strict, warnings)
        return out
    if isinstance(v, list):
        return [
            _convert(item, f"{path}[{i}]", depth + 1, strict, warnings)
            for i, item in enumerate(list.__iter__(v))
        ]
    if isinstance(v, Record):
        return v._raw()
    if isinstance(v, Page):
        return v._raw()
    if isinstance(v, tuple):
        return [
            _convert(item, f"{path}[{i}]", depth + 1, strict, warnings)
            for i, item in enumerate(tuple.__iter__(v))
        ]
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        return _convert(int.__int__(v), path, depth, strict, warnings)
    if isinstance(v, float):
        return _convert(float.__float__(v), path, depth, strict, warnings)
    if isinstance(v, (set, frozenset)):
        items = list(v)
        try:
            items = sorted(items)
        except TypeError:
            pass
        if not strict:
            warnings.append(f"{path}: {t.__name__} converted to a list")
        return [
            _convert(item, f"{path}[{i}]", depth + 1, strict, warnings)
            for i, item in enumerate(items)
        ]
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if strict:
        raise NotJSON(
            f"{path}: a {t.__name__} is not JSON; pass str, int, float, bool, None, list or dict"
        )
    if isinstance(v, (bytes, bytearray)):
        warnings.append(f"{path}: bytes converted to a base64 string")
        return base64.b64encode(bytes(v)).decode()
    warnings.append(f"{path}: {t.__name__} object converted with repr()")
    try:
        text = repr(v)
    except Exception as exc:  # a script's own __repr__ may fail
        text = f"<{t.__name__} object (repr failed: {type(exc).__name__})>"
    return str.__str__(text)[:1000] if isinstance(text, str) else f"<{t.__name__} object>"
