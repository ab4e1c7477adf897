"""The guard functions RestrictedPython's compiled code calls, and the builtins a script gets.

RestrictedPython rewrites `a.b` to `_getattr_(a, "b")`, `a[b]` to `_getitem_(a, b)`,
`a.b = c` to `_write_(a).b = c`, and so on; this module supplies those functions. Each refusal
says what was refused in words an agent can act on.
"""

from __future__ import annotations

import builtins
import operator
import types
import weakref
from typing import TYPE_CHECKING, Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.facades import guarded_import
from sandbox.sealed import Sealed

if TYPE_CHECKING:
    from collections.abc import Callable

# Attribute names that lead from ordinary objects to interpreter internals (frames, code,
# globals), whatever their spelling convention; refused on every object.
BLOCKED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES) | {
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "cr_origin", "cr_running",
    "ag_frame", "ag_code", "ag_await", "ag_running",
    "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace",
    "tb_frame", "tb_next", "co_code", "mro", "func_globals",
}  # fmt: skip
# Objects of these types expose nothing to a script at all.
OPAQUE_TYPES = (types.FrameType, types.TracebackType, types.CodeType)

# Builtin methods that resolve attribute paths written in a string (`"{0.__globals__}"`),
# past every guard. Refused by VALUE, whatever the route that reached them: an instance, a
# class, `super(S, s)`, `super(S, S)`, zero-argument `super()`, `getattr`, `map`, `partial`.
ATTRIBUTE_WALKERS = frozenset({"format", "format_map"})
_BUILTIN_METHOD = type("".format)
_METHOD_DESCRIPTOR = type(str.format)
FORMAT_REFUSAL = 'str.format is not available in the sandbox; use an f-string: f"{x} and {y}"'

_MISSING = object()

# Classes a script defined (through `class`): their instances may be written to.
SCRIPT_CLASSES: weakref.WeakSet[type] = weakref.WeakSet()
WRITABLE_TYPES = (dict, list, set, bytearray)


def guarded_getattr(obj: Any, name: Any, default: Any = _MISSING) -> Any:
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        raise AttributeError(
            f"'{name}': attributes starting with '_' are not available in the sandbox"
        )
    if name in BLOCKED_ATTRIBUTES or isinstance(obj, OPAQUE_TYPES):
        raise AttributeError(f"'{name}' is not available in the sandbox")
    if name == "obj" and isinstance(obj, AttributeError):
        # Set by the interpreter to whatever object a failed lookup reached, wherever it ran.
        raise AttributeError(
            "AttributeError.obj is not available in the sandbox; keep a reference to the "
            "object you looked the attribute up on"
        )
    value = getattr(obj, name) if default is _MISSING else getattr(obj, name, default)
    kind = type(value)
    if (kind is _BUILTIN_METHOD or kind is _METHOD_DESCRIPTOR) and _walks_attributes(value):
        raise AttributeError(FORMAT_REFUSAL)
    return value


def _walks_attributes(value: Any) -> bool:
    """Is `value` str.format/format_map, unbound or bound to any str (subclasses included)?"""
    if type(value) is _METHOD_DESCRIPTOR:
        return value is str.format or value is str.format_map
    return value.__name__ in ATTRIBUTE_WALKERS and isinstance(value.__self__, str)


def guarded_hasattr(obj: Any, name: Any) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def guarded_write(obj: Any) -> Any:
    """`_write_`: only the script's own containers and instances may be modified."""
    if isinstance(obj, WRITABLE_TYPES) and (
        type(obj) in WRITABLE_TYPES or type(obj) in SCRIPT_CLASSES
    ):
        return obj
    if type(obj) in SCRIPT_CLASSES:
        return obj
    raise TypeError(f"cannot modify a {type(obj).__name__} object: it is read-only in the sandbox")


def script_metaclass(name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
    """Every `class` statement goes through here (RestrictedPython injects `__metaclass__`)."""
    for base in bases:
        if not isinstance(base, type):
            raise TypeError(f"class {name}: base {base!r} is not a class")
    cls = type(name, bases, namespace)
    SCRIPT_CLASSES.add(cls)
    return cls


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "|=": operator.ior,
    "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
}  # fmt: skip


def guarded_inplacevar(op: str, x: Any, y: Any) -> Any:
    return _INPLACE[op](x, y)


def guarded_apply(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def guarded_iter(obj: Any) -> Any:
    return iter(obj)


class _TypeStandInMeta(type):
    """What `type(SomeClass)` gives a script: isinstance checks work, class creation does not.

    The real `type` (or any metaclass, e.g. `type(typing.Any)`) called with three arguments
    would build a class with any dunder (`__repr__`, `__del__`, `__getattribute__`...), which
    the policy refuses in `class` bodies.
    """

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, type)

    def __subclasscheck__(cls, sub: Any) -> bool:
        return isinstance(sub, type) and issubclass(sub, type)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) != 1 or kwargs:
            raise TypeError(
                "type() with three arguments is not available in the sandbox; use a class statement"
            )
        return sandbox_type(args[0])

    def __repr__(cls) -> str:
        return "<class 'type'>"


class ScriptType(metaclass=_TypeStandInMeta):
    pass


def sandbox_type(obj: Any) -> type:
    """`type(x)` only; three-argument class creation goes through `class` statements."""
    t = type(obj)
    if issubclass(t, type):  # obj is a class: never hand out a metaclass
        return ScriptType
    return t


class PrintSink(Sealed):
    """Where every `print` in a script writes: kept up to a byte limit, the rest counted.

    The limit is on UTF-8 bytes, as the host measures what it receives; a lone surrogate (which
    cannot be sent) is written as "?".
    """

    __slots__ = ("limit", "parts", "size", "dropped")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> None:
        if type(text) is not str:
            text = str.__str__(text) if isinstance(text, str) else str(text)
        room = self.limit - self.size
        piece = text[:room] if room > 0 else ""
        if piece.isascii():
            size = len(piece)
        else:
            data = piece.encode("utf-8", "replace")[:room]  # a lone surrogate becomes "?"
            piece = data.decode("utf-8", "ignore")  # a character cut in two is dropped
            size = len(piece.encode("utf-8"))
        if piece:
            self.parts.append(piece)
            self.size += size
        self.dropped += len(text) - len(piece)
        if self.dropped > 10 * self.limit:
            raise OutputFlood(f"the script printed more than {11 * self.limit} characters")

    def text(self) -> str:
        return "".join(self.parts)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0


class OutputFlood(Exception):
    """Printed output far past the limit: the script is stopped (status limit_exceeded)."""


class ScriptPrint(Sealed):
    """RestrictedPython's `_print_` protocol: one instance per function, all to the run's sink.

    A script holds `print` (a bound method of one of these); the sink lives on the class under
    a `_` name, so nothing reachable from `print` leads to it.
    """

    __slots__ = ()
    _sink: PrintSink | None = None  # set per execution (a child serves exactly one)

    def __init__(self, _getattr_: Any = None) -> None:
        pass

    def write(self, text: str) -> None:
        if ScriptPrint._sink is not None:
            ScriptPrint._sink.write(text)

    def __call__(self) -> str:
        return ScriptPrint._sink.text() if ScriptPrint._sink is not None else ""

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        if kwargs.get("file") is None:
            kwargs["file"] = self
        else:
            guarded_getattr(kwargs["file"], "write")
        builtins.print(*objects, **kwargs)


def make_print_factory(sink: PrintSink) -> type[ScriptPrint]:
    ScriptPrint._sink = sink
    return ScriptPrint


_SAFE_BUILTIN_NAMES = [
    "None", "False", "True", "Ellipsis", "NotImplemented",
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format",
    "frozenset", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list",
    "map", "max", "min", "next", "object", "oct", "ord", "pow", "property", "range", "repr",
    "reversed", "round", "set", "slice", "sorted", "staticmethod", "str", "sum", "super",
    "tuple", "zip",
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "Exception",
    "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError",
    "OverflowError", "RecursionError", "RuntimeError", "StopIteration", "TimeoutError",
    "TypeError", "UnicodeError", "ValueError", "ZeroDivisionError", "ImportError",
    "KeyboardInterrupt", "MemoryError", "SystemExit", "GeneratorExit",
]  # fmt: skip

# Builtins a script might reach for that are absent on purpose, with the reason an agent needs.
UNAVAILABLE_BUILTINS = {
    "open": "there is no filesystem in the sandbox",
    "eval": "code cannot build code in the sandbox",
    "exec": "code cannot build code in the sandbox",
    "compile": "code cannot build code in the sandbox",
    "globals": "introspection is not available in the sandbox",
    "locals": "introspection is not available in the sandbox",
    "vars": "introspection is not available in the sandbox",
    "dir": "introspection is not available in the sandbox",
    "input": "there is no standard input; pass data in the request's `inputs`",
    "breakpoint": "there is no debugger in the sandbox",
    "help": "use the surface docs (search_docs, GET /v1/surface)",
    "setattr": "assign attributes directly (obj.x = 1)",
    "delattr": "delete attributes directly (del obj.x)",
    "exit": "return from run(client) instead",
    "quit": "return from run(client) instead",
    "memoryview": "not available in the sandbox",
}


def make_builtins() -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update(
        {
            "__build_class__": builtins.__build_class__,
            "__import__": guarded_import,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "type": sandbox_type,
        }
    )
    return safe


SAFE_BUILTINS = make_builtins()


def guard_globals(sink: PrintSink) -> dict[str, Any]:
    """The names RestrictedPython's compiled code expects to find in its globals."""
    return {
        "__builtins__": SAFE_BUILTINS,
        "__name__": "__main__",
        "__metaclass__": script_metaclass,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_iter,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_apply_": guarded_apply,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_print_": make_print_factory(sink),
    }
