"""The modules a script may import, each as a facade holding only listed members.

A real module object leaks others (`json.decoder.re.enum.sys`, `datetime.sys`,
`statistics.sys`), so a script never gets one: `import json` binds a read-only `Facade` whose
attributes are exactly the names listed here. Anything else is refused with the list of what is
allowed. The asyncio facade runs tasks on greenlets (see concurrency.py and desugar.py).
"""

from __future__ import annotations
import __future__

import _strptime  # type: ignore[import-not-found]  # CPython ships it without a stub
import base64
import bisect
import codecs
import collections
import collections.abc
import copy
import csv
import dataclasses
import datetime
import decimal
import difflib
import enum
import fractions
import functools
import hashlib
import heapq
import io
import itertools
import json
import keyword
import math
import operator
import pathlib
import pprint
import random
import re
import statistics
import string
import sys
import textwrap
import time
import typing
import unicodedata
import urllib.parse
import uuid
import zoneinfo
from collections.abc import Iterable
from typing import Any

from sandbox import concurrency
from sandbox.desugar import ASYNC_DEF, ASYNC_WITH, AWAIT, AWAIT_CALL, DEFER
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


# --- asyncio: tasks on greenlets, so gathered client calls run at once (see concurrency.py) ----
_asyncio = {
    **{
        name: getattr(concurrency, name)
        for name in [
            "run",
            "gather",
            "sleep",
            "wait_for",
            "wait",
            "create_task",
            "ensure_future",
            "as_completed",
            "Semaphore",
            "BoundedSemaphore",
            "Lock",
            "Event",
            "TaskGroup",
            "Task",
            "CancelledError",
            "InvalidStateError",
            "FIRST_COMPLETED",
            "FIRST_EXCEPTION",
            "ALL_COMPLETED",
            "shield",
            "timeout",
            "timeout_at",
            "Timeout",
            "Queue",
            "PriorityQueue",
            "LifoQueue",
            "QueueEmpty",
            "QueueFull",
        ]
    },  # fmt: skip
    "TimeoutError": TimeoutError,
    # The helpers desugared code calls, under names no script can write.
    AWAIT: concurrency.await_,
    AWAIT_CALL: concurrency.await_call,
    ASYNC_DEF: concurrency.async_function,
    ASYNC_WITH: concurrency.async_with,
    DEFER: concurrency.defer,
}


# --- copy: a caller's memo is never handed to the real copy --------------------------------------
def _deepcopy(x: Any, memo: Any = None) -> Any:
    """`copy.deepcopy`; a memo passed in is not used (nor filled): each call starts afresh.

    The real memo keeps every original it copied under `memo[id(memo)]`; a caller holding it
    would hold whatever the copy walked through.
    """
    return copy.deepcopy(x)


# --- the script's own classes: dataclasses and enums apply to them only ---------------------------
def _script_class(cls: Any, what: str) -> None:
    """Refuse `what` on anything but a class the script defined (never a sandbox or library class,
    whose methods it would replace for trusted code in the child)."""
    from sandbox.guards import SCRIPT_CLASSES  # guards imports this module

    if not isinstance(cls, type) or cls not in SCRIPT_CLASSES:
        raise TypeError(f"{what} applies only to classes the script defines")


def _check_field_names(names: Iterable[Any]) -> None:
    """Field names end up in source text that dataclasses compiles: exact identifiers only."""
    for name in names:
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"field names must be identifiers, not {name!r}")


def _dataclass(cls: Any = None, /, **options: Any) -> Any:
    """`@dataclass` / `@dataclass(...)` on the script's own classes."""

    def wrap(target: Any) -> Any:
        from sandbox.guards import SCRIPT_CLASSES

        _script_class(target, "@dataclass")
        _check_field_names(target.__dict__.get("__annotations__", {}))
        made = dataclasses.dataclass(target, **options)
        SCRIPT_CLASSES.add(made)  # slots=True builds a new class: it is the script's as well
        return made

    return wrap if cls is None else wrap(cls)


def _make_dataclass(cls_name: Any, fields: Any, **options: Any) -> Any:
    from sandbox.guards import SCRIPT_CLASSES

    fields = list(fields)
    if type(cls_name) is not str:
        raise TypeError("the class name must be a str")
    for options_key in ("namespace", "module"):
        if options_key in options:
            raise TypeError(f"make_dataclass({options_key}=...) is not available in the sandbox")
    _check_field_names(f if isinstance(f, str) else f[0] for f in fields)
    made = dataclasses.make_dataclass(cls_name, fields, **options)
    SCRIPT_CLASSES.add(made)
    return made


# --- operator: the attribute walkers obey the attribute guard ------------------------------------
class _AttrGetter(Sealed):
    """`operator.attrgetter`, every step through the sandbox's `getattr`."""

    __slots__ = ("paths",)

    def __init__(self, *names: Any) -> None:
        if not names:
            raise TypeError("attrgetter expected 1 argument, got 0")
        for name in names:
            if type(name) is not str:
                raise TypeError("attribute name must be a string")
        self.paths = tuple(tuple(name.split(".")) for name in names)

    def __call__(self, obj: Any) -> Any:
        from sandbox.guards import guarded_getattr

        values = []
        for path in self.paths:
            value = obj
            for step in path:
                value = guarded_getattr(value, step)
            values.append(value)
        return values[0] if len(values) == 1 else tuple(values)

    def __repr__(self) -> str:
        return f"operator.attrgetter({', '.join(repr('.'.join(p)) for p in self.paths)})"


class _MethodCaller(Sealed):
    """`operator.methodcaller`, the method looked up through the sandbox's `getattr`."""

    __slots__ = ("name", "args", "kwargs")

    def __init__(self, name: Any, /, *args: Any, **kwargs: Any) -> None:
        if type(name) is not str:
            raise TypeError("method name must be a string")
        self.name, self.args, self.kwargs = name, args, kwargs

    def __call__(self, obj: Any) -> Any:
        from sandbox.guards import guarded_getattr

        return guarded_getattr(obj, self.name)(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"operator.methodcaller({self.name!r})"


def _setitem(obj: Any, key: Any, value: Any) -> None:
    from sandbox.guards import guarded_write

    guarded_write(obj)[key] = value


def _delitem(obj: Any, key: Any) -> None:
    from sandbox.guards import guarded_write

    del guarded_write(obj)[key]


_OPERATOR_REPLACED = {
    "attrgetter": _AttrGetter,
    "methodcaller": _MethodCaller,
    "setitem": _setitem,
    "delitem": _delitem,
}
_operator = {
    name: _OPERATOR_REPLACED.get(name, getattr(operator, name))
    for name in dir(operator)
    if not name.startswith("_")
}


# --- pprint: into the script's output, never the process's stdout --------------------------------
def _write_out(text: str, stream: Any) -> None:
    if stream is None:
        from sandbox.guards import ScriptPrint

        ScriptPrint().write(text)
    else:
        from sandbox.guards import guarded_getattr

        guarded_getattr(stream, "write")(text)


def _pprint(obj: Any, stream: Any = None, **options: Any) -> None:
    _write_out(pprint.pformat(obj, **options) + "\n", stream)


def _pp(obj: Any, stream: Any = None, sort_dicts: bool = False, **options: Any) -> None:
    _pprint(obj, stream, sort_dicts=sort_dicts, **options)


# --- zoneinfo: zones are read in the zygote (a child can open no file) ---------------------------
ZONE_NAMES = (
    "UTC", "Etc/UTC", "GMT", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris",
    "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam", "Europe/Brussels",
    "Europe/Zurich", "Europe/Vienna", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen",
    "Europe/Helsinki", "Europe/Warsaw", "Europe/Prague", "Europe/Athens", "Europe/Istanbul",
    "Europe/Kyiv", "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver",
    "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "America/Toronto",
    "America/Vancouver", "America/Mexico_City", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "America/Bogota", "America/Lima", "America/Santiago",
    "Pacific/Honolulu", "Pacific/Auckland",
    "Asia/Tokyo", "Asia/Seoul", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore",
    "Asia/Kolkata", "Asia/Dubai", "Asia/Jakarta", "Asia/Bangkok", "Asia/Manila", "Asia/Karachi",
    "Asia/Jerusalem", "Asia/Tehran", "Australia/Sydney", "Australia/Melbourne",
    "Australia/Perth", "Australia/Brisbane", "Africa/Cairo", "Africa/Johannesburg",
    "Africa/Lagos", "Africa/Nairobi", "US/Eastern", "US/Central", "US/Mountain", "US/Pacific",
)  # fmt: skip


# Codecs are modules CPython imports on first use, from files a confined child cannot read:
# the common ones are looked up here, in the zygote, so `.encode('utf-16')` works in a child.
CODECS = (
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
    "utf-32-be", "ascii", "latin-1", "cp1252", "iso8859-15", "unicode-escape",
    "raw-unicode-escape",
)  # fmt: skip
for _codec in CODECS:
    codecs.lookup(_codec)


def _load_zones() -> dict[str, Any]:
    zones = {}
    for name in ZONE_NAMES:
        try:
            zones[name] = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return zones


_ZONES = _load_zones()


def _zone(key: Any) -> Any:
    """`zoneinfo.ZoneInfo(key)` for the zones loaded before the sandbox closed the filesystem."""
    zone = _ZONES.get(key) if type(key) is str else None
    if zone is None:
        close = difflib.get_close_matches(str(key), _ZONES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise zoneinfo.ZoneInfoNotFoundError(
            f"No time zone found with key {key!r} in the sandbox.{hint} "
            f"Available: {', '.join(sorted(_ZONES))}"
        )
    return zone


_zoneinfo = {
    "ZoneInfo": _zone,
    "ZoneInfoNotFoundError": zoneinfo.ZoneInfoNotFoundError,
    "available_timezones": lambda: set(_ZONES),
}

_future = {"annotations": __future__.annotations}


# --- sys: facts about the interpreter, the recursion limit, the script's output ------------------
class _Stream(Sealed):
    """`sys.stdout` / `sys.stderr`: both write into the script's output (the one it returns)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: Any) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        _write_out(text, None)
        return len(text)

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<sandbox stream '<{self.name}>'>"


# The depth the script's module runs at (set by the runner): the script's recursion limit is
# counted from there, as CPython counts it from a module's top level.
SCRIPT_BASE_DEPTH = [0]
# The highest limit a script may set: deep enough for real recursion, shallow enough that the
# C stack of the child's main thread holds it.
MAX_RECURSION_LIMIT = 10_000


def _getrecursionlimit() -> int:
    return sys.getrecursionlimit() - SCRIPT_BASE_DEPTH[0]


def _setrecursionlimit(limit: Any) -> None:
    # An exact int, as CPython reads it: a script's int subclass cannot answer the bounds
    # checks below (its own __lt__, __gt__) and then give another value to the interpreter.
    limit = operator.index(limit)
    if limit < 1:
        raise ValueError("recursion limit must be greater or equal than 1")
    if limit > MAX_RECURSION_LIMIT:
        raise ValueError(f"the sandbox's recursion limit is at most {MAX_RECURSION_LIMIT}")
    sys.setrecursionlimit(limit + SCRIPT_BASE_DEPTH[0])


def _exit(status: Any = None) -> None:
    raise SystemExit(status)


_sys = {
    **_pick(sys, ["version", "version_info", "hexversion", "platform", "byteorder", "maxsize",
                  "maxunicode", "float_info", "int_info", "hash_info", "implementation",
                  "api_version", "copyright", "float_repr_style", "intern",
                  "get_int_max_str_digits", "getdefaultencoding"]),
    "getrecursionlimit": _getrecursionlimit,
    "setrecursionlimit": _setrecursionlimit,
    "exit": _exit,
    "stdout": _Stream("stdout"),
    "stderr": _Stream("stderr"),
    "argv": [""],
}  # fmt: skip

# --- pathlib: pure paths (no filesystem in the sandbox); `Path` is PurePosixPath ----------------
_pathlib = {
    "Path": pathlib.PurePosixPath,
    "PurePath": pathlib.PurePath,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}


_typing_names = [
    "Any", "Optional", "Union", "List", "Dict", "Tuple", "Set", "FrozenSet", "Callable",
    "Iterable", "Iterator", "Sequence", "Mapping", "Literal", "TypedDict", "NamedTuple",
    "cast", "TYPE_CHECKING",
    "ClassVar", "Final", "Protocol", "Generic", "TypeVar", "Annotated", "runtime_checkable",
    "overload", "final", "NoReturn", "Never", "Self", "NewType", "ParamSpec", "Concatenate",
    "TypeAlias", "TypeGuard", "LiteralString", "Required", "NotRequired", "Unpack",
    "TypeVarTuple", "AnyStr", "Text", "Type", "Hashable", "Sized", "Container", "Collection",
    "Reversible", "Generator", "AsyncGenerator", "AsyncIterator", "AsyncIterable", "Awaitable",
    "Coroutine", "MutableMapping", "MutableSequence", "MutableSet", "AbstractSet", "KeysView",
    "ItemsView", "ValuesView", "DefaultDict", "OrderedDict", "Counter", "Deque", "ChainMap",
    "Pattern", "Match", "SupportsInt", "SupportsFloat", "SupportsIndex", "SupportsAbs",
    "SupportsRound", "get_origin", "get_args", "is_typeddict", "assert_never", "assert_type",
    "reveal_type", "no_type_check",
]  # fmt: skip
# Left out: get_type_hints (evaluates string annotations with the real eval).

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
            "U",
            "UNICODE",
            "NOFLAG",
            "RegexFlag",
            "Match",
            "Pattern",
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
                "strptime",
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
            "octdigits",
            "Template",  # substitute() reads mapping keys only; Formatter walks attributes
        ],
    ),  # fmt: skip
    "textwrap": _pick(textwrap, ["wrap", "fill", "shorten", "dedent", "indent"]),
    "copy": {"copy": copy.copy, "deepcopy": _deepcopy},
    "dataclasses": {
        **_pick(
            dataclasses,
            [
                "field",
                "fields",
                "asdict",
                "astuple",
                "replace",
                "is_dataclass",
                "Field",
                "FrozenInstanceError",
                "InitVar",
                "KW_ONLY",
                "MISSING",
            ],
        ),  # fmt: skip
        "dataclass": _dataclass,
        "make_dataclass": _make_dataclass,
    },
    "enum": _pick(
        enum, ["Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "auto", "unique", "ReprEnum"]
    ),
    "operator": _operator,
    "bisect": {n: getattr(bisect, n) for n in dir(bisect) if not n.startswith("_")},
    "heapq": _pick(
        heapq,
        [
            "heappush",
            "heappop",
            "heapify",
            "heapreplace",
            "heappushpop",
            "nlargest",
            "nsmallest",
            "merge",
        ],
    ),  # fmt: skip
    "decimal": {
        n: getattr(decimal, n)
        for n in dir(decimal)
        if not n.startswith("_") and n not in ("DecimalTuple", "HAVE_THREADS", "HAVE_CONTEXTVAR")
    },
    "fractions": _pick(fractions, ["Fraction"]),
    "pprint": {
        "pprint": _pprint,
        "pp": _pp,
        "pformat": pprint.pformat,
        "saferepr": pprint.saferepr,
        "isreadable": pprint.isreadable,
    },  # fmt: skip
    "csv": _pick(
        csv,
        [
            "reader",
            "writer",
            "DictReader",
            "DictWriter",
            "Sniffer",
            "Error",
            "excel",
            "excel_tab",
            "unix_dialect",
            "QUOTE_ALL",
            "QUOTE_MINIMAL",
            "QUOTE_NONE",
            "QUOTE_NONNUMERIC",
        ],
    ),  # fmt: skip
    "io": _pick(io, ["StringIO", "BytesIO"]),
    "urllib.parse": _pick(
        urllib.parse,
        [
            "quote",
            "quote_plus",
            "unquote",
            "unquote_plus",
            "urlencode",
            "urlparse",
            "urlunparse",
            "urlsplit",
            "urlunsplit",
            "urljoin",
            "urldefrag",
            "parse_qs",
            "parse_qsl",
            "ParseResult",
            "SplitResult",
            "DefragResult",
        ],
    ),  # fmt: skip
    "zoneinfo": _zoneinfo,
    "sys": _sys,
    "pathlib": _pathlib,
    "unicodedata": {n: getattr(unicodedata, n) for n in dir(unicodedata) if n[0] != "_"},
    # The abstract base classes, for isinstance and as bases (the mixin methods come along).
    "collections.abc": _pick(collections.abc, [n for n in collections.abc.__all__ if n[0] != "_"]),
}

ALLOWED_MODULES: frozenset[str] = frozenset(MODULES)
FACADES: dict[str, Facade] = {name: make_facade(name, members) for name, members in MODULES.items()}
# A package that holds allowed submodules only: `import urllib.parse` binds `urllib`.
FACADES["urllib"] = make_facade("urllib", {"parse": FACADES["urllib.parse"]})
# `import collections.abc` binds `collections`, whose `abc` is the facade above.
MODULES["collections"]["abc"] = FACADES["collections.abc"]
FACADES["collections"] = make_facade("collections", MODULES["collections"])
# `from __future__ import annotations` is a compiler directive that also runs as an import.
FACADES["__future__"] = make_facade("__future__", _future)
# `datetime.strptime` and `time.strptime` import `_strptime` through the importing frame's
# `__import__` (this one): they get its two entry points, and so may a script, nothing else.
FACADES["_strptime"] = make_facade(
    "_strptime", _pick(_strptime, ["_strptime_datetime", "_strptime_time"])
)
for _members in (*MODULES.values(), {"parse": None}, _future):
    # A facade never answers `__name__` (IMPORT_FROM would look `<name>.<attr>` up in
    # sys.modules with it) nor any other `_` name.
    assert not any(name.startswith("_") for name in _members)


def import_refusal(name: str) -> str:
    allowed = ", ".join(sorted(ALLOWED_MODULES))
    close = difflib.get_close_matches(name, ALLOWED_MODULES, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"import of '{name}' is not allowed in the sandbox.{hint} Allowed modules: {allowed}."


def guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Facade:
    """The sandbox's `__import__`: facades for allowed modules, a clear ImportError otherwise.

    Raised when the import runs (not when the script compiles), so `try: import x` / `except
    ImportError:` and imports under `if TYPE_CHECKING:` behave as in CPython.
    """
    if type(name) is not str or level != 0 or name not in FACADES:
        message = import_refusal(str(name) if type(name) is str else "?")
        if level != 0:  # a script is no package: CPython's ImportError, as for `from . import x`
            raise ImportError(f"attempted relative import with no known parent package; {message}")
        # ModuleNotFoundError, as CPython raises for a module it has not got (an ImportError).
        raise ModuleNotFoundError(message)
    if not fromlist and "." in name:
        return FACADES[name.partition(".")[0]]  # `import a.b` binds `a`
    return FACADES[name]
