"""The modules a script may import, each as a facade holding only listed members.

A real module object leaks others (`json.decoder.re.enum.sys`, `datetime.sys`,
`statistics.sys`), so a script never gets one: `import json` binds a read-only `Facade` whose
attributes are exactly the names listed here. Anything else is refused with the list of what is
allowed. The asyncio facade is synchronous on purpose (see desugar.py).
"""

from __future__ import annotations

import base64
import collections
import copy
import datetime
import difflib
import functools
import hashlib
import itertools
import json
import math
import random
import re
import statistics
import string
import textwrap
import time
import typing
import uuid
from collections.abc import Iterable
from typing import Any

from sandbox.sealed import Final, Sealed


class Facade(Final):
    """A read-only stand-in for a module: the listed members and nothing else.

    Made only here (`make_facade`); a script can neither build one nor copy its members out.
    """

    __slots__ = ("_facade_name", "_facade_members")

    def __getattr__(self, attr: str) -> Any:
        members = object.__getattribute__(self, "_facade_members")
        try:
            return members[attr]
        except KeyError:
            name = object.__getattribute__(self, "_facade_name")
            close = difflib.get_close_matches(attr, members, n=1)
            hint = f" Did you mean {name}.{close[0]}?" if close else ""
            raise AttributeError(
                f"module '{name}' has no attribute '{attr}' in the sandbox.{hint}"
            ) from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("modules are read-only in the sandbox")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError("modules are read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_facade_members"))

    def __repr__(self) -> str:
        return f"<module '{object.__getattribute__(self, '_facade_name')}'>"


def make_facade(name: str, members: dict[str, Any]) -> Facade:
    facade = object.__new__(Facade)
    object.__setattr__(facade, "_facade_name", name)
    object.__setattr__(facade, "_facade_members", members)
    return facade


def _pick(module: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names}


# --- asyncio, synchronous: every client call is already synchronous in the sandbox -------------
def _run(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value


def _gather(*values: Any, return_exceptions: bool = False) -> list[Any]:
    return list(values)


def _sleep(delay: float, result: Any = None) -> Any:
    time.sleep(delay)
    return result


def _wait_for(value: Any, timeout: float | None = None) -> Any:
    return value


class _NoOpLock(Sealed):
    """Semaphore/Lock stand-in: with one flow of control there is nothing to wait for."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NoOpLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


_asyncio = {
    "run": _run,
    "gather": _gather,
    "sleep": _sleep,
    "wait_for": _wait_for,
    "create_task": _run,
    "ensure_future": _run,
    "as_completed": lambda values, timeout=None: iter(list(values)),
    "Semaphore": _NoOpLock,
    "BoundedSemaphore": _NoOpLock,
    "Lock": _NoOpLock,
    "TimeoutError": TimeoutError,
    "CancelledError": RuntimeError,
}


# --- copy: a caller's memo is never handed to the real copy --------------------------------------
def _deepcopy(x: Any, memo: Any = None) -> Any:
    """`copy.deepcopy`; a memo passed in is not used (nor filled): each call starts afresh.

    The real memo keeps every original it copied under `memo[id(memo)]`; a caller holding it
    would hold whatever the copy walked through.
    """
    return copy.deepcopy(x)


_typing_names = [
    "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Callable",
    "Iterable", "Iterator", "Sequence", "Mapping", "Literal", "TypedDict", "NamedTuple",
    "cast", "TYPE_CHECKING",
]  # fmt: skip

MODULES: dict[str, dict[str, Any]] = {
    "json": _pick(json, ["loads", "dumps", "JSONDecodeError"]),
    "math": {n: getattr(math, n) for n in dir(math) if not n.startswith("_")},
    "re": _pick(
        re,
        [
            "compile",
            "match",
            "search",
            "fullmatch",
            "findall",
            "finditer",
            "sub",
            "subn",
            "split",
            "escape",
            "error",
            "I",
            "IGNORECASE",
            "M",
            "MULTILINE",
            "S",
            "DOTALL",
            "X",
            "VERBOSE",
            "A",
            "ASCII",
        ],
    ),  # fmt: skip
    "datetime": _pick(
        datetime, ["date", "datetime", "time", "timedelta", "timezone", "MINYEAR", "MAXYEAR"]
    ),
    "time": {
        **_pick(
            time,
            [
                "time",
                "time_ns",
                "monotonic",
                "monotonic_ns",
                "perf_counter",
                "perf_counter_ns",
                "gmtime",
                "localtime",
                "strftime",
                "mktime",
            ],
        ),  # fmt: skip
        "sleep": time.sleep,  # the child's wall-clock timer interrupts it at the deadline
    },
    "asyncio": _asyncio,
    "random": _pick(
        random,
        [
            "random",
            "randint",
            "randrange",
            "choice",
            "choices",
            "shuffle",
            "sample",
            "uniform",
            "gauss",
            "seed",
            "Random",
        ],
    ),  # fmt: skip
    "itertools": {n: getattr(itertools, n) for n in dir(itertools) if not n.startswith("_")},
    "collections": _pick(
        collections, ["OrderedDict", "defaultdict", "Counter", "deque", "namedtuple", "ChainMap"]
    ),
    "statistics": _pick(
        statistics,
        [
            "mean",
            "fmean",
            "geometric_mean",
            "harmonic_mean",
            "median",
            "median_low",
            "median_high",
            "mode",
            "multimode",
            "pstdev",
            "pvariance",
            "stdev",
            "variance",
            "quantiles",
            "StatisticsError",
        ],
    ),  # fmt: skip
    "typing": _pick(typing, _typing_names),
    "functools": _pick(functools, ["reduce", "partial", "lru_cache", "cache", "cmp_to_key"]),
    "base64": _pick(
        base64,
        [
            "b64encode",
            "b64decode",
            "urlsafe_b64encode",
            "urlsafe_b64decode",
            "b32encode",
            "b32decode",
            "b16encode",
            "b16decode",
        ],
    ),  # fmt: skip
    "hashlib": _pick(hashlib, ["md5", "sha1", "sha256", "sha512", "blake2b"]),
    "uuid": _pick(uuid, ["uuid4", "uuid5", "UUID", "NAMESPACE_URL", "NAMESPACE_DNS"]),
    "string": _pick(
        string,
        [
            "ascii_letters",
            "ascii_lowercase",
            "ascii_uppercase",
            "digits",
            "hexdigits",
            "punctuation",
            "whitespace",
            "printable",
            "capwords",
        ],
    ),  # fmt: skip
    "textwrap": _pick(textwrap, ["wrap", "fill", "shorten", "dedent", "indent"]),
    "copy": {"copy": copy.copy, "deepcopy": _deepcopy},
}

ALLOWED_MODULES: frozenset[str] = frozenset(MODULES)
FACADES: dict[str, Facade] = {name: make_facade(name, members) for name, members in MODULES.items()}


def import_refusal(name: str) -> str:
    allowed = ", ".join(sorted(ALLOWED_MODULES))
    close = difflib.get_close_matches(name, ALLOWED_MODULES, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"import of '{name}' is not allowed in the sandbox.{hint} Allowed modules: {allowed}."


def guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Facade:
    """The sandbox's `__import__`: facades for allowed modules, a clear ImportError otherwise."""
    if level != 0 or name not in FACADES:
        raise ImportError(import_refusal(name))
    return FACADES[name]
