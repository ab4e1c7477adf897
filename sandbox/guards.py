"""The guard functions RestrictedPython's compiled code calls, and the builtins a script gets.

RestrictedPython rewrites `a.b` to `_getattr_(a, "b")`, `a[b]` to `_getitem_(a, b)`,
`a.b = c` to `_write_(a).b = c`, and so on; this module supplies those functions. Each refusal
says what was refused in words an agent can act on.
"""

from __future__ import annotations

import builtins
import collections
import decimal
import enum
import itertools
import operator
import types
import weakref
from typing import TYPE_CHECKING, Any

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
# Containers a script makes from the allowed modules, writable as the built-in ones are.
CONTAINER_TYPES = frozenset(
    {*WRITABLE_TYPES, collections.defaultdict, collections.OrderedDict, collections.Counter}
    | {collections.deque}
    # A decimal context is the script's own settings (precision, rounding): a child serves one
    # execution, so what a script sets there dies with it.
    | {decimal.Context}
)


# -- the attribute rule ------------------------------------------------------------------
# Reads of these dunders are harmless on any object: names, docs, an exception's chain.
NAME_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
EXCEPTION_LINKS = frozenset({"__cause__", "__context__"})
# Dunder methods a script's class body may define, and read back on the script's own classes
# and instances (also through `super()`): the data model, minus everything that reaches the
# interpreter or takes objects apart (`__getattribute__`, `__setattr__`, `__reduce__`...).
DUNDER_METHODS = frozenset({
    "__init__", "__new__", "__post_init__", "__repr__", "__str__", "__format__", "__bytes__",
    "__hash__", "__bool__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__len__", "__length_hint__", "__iter__", "__next__", "__reversed__", "__contains__",
    "__getitem__", "__setitem__", "__delitem__", "__missing__", "__call__",
    "__enter__", "__exit__", "__aenter__", "__aexit__", "__aiter__", "__anext__",
    "__getattr__", "__get__", "__set__", "__delete__", "__copy__", "__deepcopy__", "__fspath__",
    "__index__", "__int__", "__float__", "__complex__", "__round__", "__trunc__", "__floor__",
    "__ceil__", "__neg__", "__pos__", "__abs__", "__invert__",
    *(f"__{p}{op}__" for op in (
        "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow",
        "lshift", "rshift", "and", "xor", "or",
    ) for p in ("", "r", "i")),
})  # fmt: skip
# Data a class body may set besides methods.
CLASS_DATA_DUNDERS = frozenset(
    {"__slots__", "__match_args__", "__doc__", "__hash__", "__name__", "__qualname__"}
    | {"__module__"}
)
# What a class body may define.
CLASS_BODY_DUNDERS = DUNDER_METHODS | CLASS_DATA_DUNDERS
# What may be set (or deleted) on the script's own classes and instances after the class is
# made (`cls.__init__ = f` in a decorator), through `_write_` and `setattr`: the methods a class
# body may define, and its doc. Never `__match_args__` (checked when a class is made), the
# `__class__`, `__dict__` or anything else of the interpreter's.
WRITABLE_DUNDERS = DUNDER_METHODS | {"__doc__"}
# Inherited from a base the script did not write, these would build objects past their
# constructors (`object.__new__(Record)`), or re-run a sandbox object's constructor.
_NOT_INHERITED = frozenset(
    {"__new__", "__init__", "__getattr__", "__get__", "__set__", "__delete__", "__copy__"}
    | {"__deepcopy__"}
)
# The public names namedtuple classes are documented with.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_field_defaults", "_make"})
# Refused on every object, whatever the route; the policy refuses them in syntax too.
REFUSED_DUNDERS = frozenset({
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__func__",
    "__self__", "__dict__", "__bases__", "__base__", "__mro__", "__traceback__",
    "__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__getnewargs__",
    "__getnewargs_ex__", "__getattribute__", "__setattr__", "__delattr__", "__init_subclass__",
    "__class_getitem__", "__set_name__", "__loader__", "__spec__", "__import__",
    "__wrapped__", "__defaults__", "__kwdefaults__", "__annotations__", "__weakref__",
    "__objclass__", "__text_signature__", "__dir__", "__subclasshook__", "__instancecheck__",
    "__subclasscheck__", "__prepare__", "__mro_entries__", "__del__", "__slots__",
    "__sizeof__", "__thisclass__", "__self_class__", "__path__", "__file__", "__cached__",
    "__package__", "__all__",
})  # fmt: skip
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement, not built in
_SUPER_THISCLASS = super.__dict__["__thisclass__"].__get__
_SUPER_SELF_CLASS = super.__dict__["__self_class__"].__get__
_OBJECT_DICT = object.__getattribute__


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def _refuse(name: str, why: str) -> AttributeError:
    return AttributeError(f"'{name}' is not available in the sandbox: {why}")


def _lookup_chain(obj: Any) -> tuple[tuple[type, ...], bool, Any]:
    """The classes `obj.name` is looked up in, whether they are the script's own, and the
    instance (if any) whose `__dict__` is looked up first."""
    kind = type(obj)
    if kind is super:
        start = _SUPER_THISCLASS(obj)
        owner = _SUPER_SELF_CLASS(obj)
        if owner is None:
            return (), False, None
        mro = owner.__mro__
        after = mro[mro.index(start) + 1 :] if start in mro else ()
        return after, owner in SCRIPT_CLASSES, None
    if isinstance(obj, type):
        return obj.__mro__, obj in SCRIPT_CLASSES, None
    return kind.__mro__, kind in SCRIPT_CLASSES, obj


def _definer(chain: tuple[type, ...], instance: Any, name: str) -> Any:
    """Where `name` is found: the instance (returns True), a class, or None."""
    if instance is not None:
        try:
            if name in _OBJECT_DICT(instance, "__dict__"):
                return True
        except AttributeError:
            pass
    for cls in chain:
        if name in cls.__dict__:
            return cls
    return None


def _check_dunder(obj: Any, name: str) -> bool:
    """A dunder read is allowed when it cannot reach the interpreter (see DUNDER_METHODS).
    True: allowed, but `__new__` of a base the script did not write (see `_script_new`)."""
    if name in REFUSED_DUNDERS:
        if name == "__dict__" and not isinstance(obj, type) and type(obj) in SCRIPT_CLASSES:
            return False  # the script's own instance's attributes, a dict it may change anyway
        raise _refuse(name, "it leads to the interpreter's internals")
    if name not in DUNDER_METHODS:
        raise _refuse(name, "only the data model's methods and names can be read")
    chain, own, instance = _lookup_chain(obj)
    where = _definer(chain, instance, name)
    if where is None:
        return False  # absent, or the metaclass's: looked up as in CPython
    if where is True:
        if own:
            return False
    elif where in SCRIPT_CLASSES:
        return False
    elif name == "__new__":
        if own:
            return True  # super().__new__(cls): builds only the script's own classes
    elif name not in _NOT_INHERITED or name == "__init__":
        if own or not where.__flags__ & _HEAPTYPE:
            return False  # a base's method on the script's own object, or a built-in type's
    raise _refuse(name, "only a script's own classes expose their dunder methods")


def _script_new(new: Any) -> Callable[..., Any]:
    """A base's `__new__`, for the script's own classes only (never `object.__new__(Record)`,
    which would build a sandbox object past its constructor)."""

    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(cls, type) or cls not in SCRIPT_CLASSES:
            raise TypeError("__new__ builds only the script's own classes in the sandbox")
        return new(cls, *args, **kwargs)

    return __new__


def _check_private(obj: Any, name: str) -> bool:
    """`_name` is readable on the script's own classes and instances, where the script set
    it; namedtuple's documented API everywhere. False: not found (AttributeError)."""
    chain, own, instance = _lookup_chain(obj)
    where = _definer(chain, instance, name)
    if where is None:
        return False
    if where is True and own:
        return True
    if where in SCRIPT_CLASSES:
        return True
    if name in NAMEDTUPLE_API and where is not True and issubclass(where, tuple):
        return True
    raise AttributeError(
        f"'{name}': attributes starting with '_' are readable only on the script's own "
        "classes and instances"
    )


def script_getattr(*args: Any, **kwargs: Any) -> Any:
    """`getattr` as a script calls it (CPython's argument errors), through the guard."""
    if kwargs:
        raise TypeError("getattr() takes no keyword arguments")
    if not 2 <= len(args) <= 3:
        if len(args) < 2:
            raise TypeError(f"getattr expected at least 2 arguments, got {len(args)}")
        raise TypeError(f"getattr expected at most 3 arguments, got {len(args)}")
    return guarded_getattr(*args)


def script_hasattr(*args: Any, **kwargs: Any) -> bool:
    if kwargs:
        raise TypeError("hasattr() takes no keyword arguments")
    if len(args) != 2:
        raise TypeError(f"hasattr expected 2 arguments, got {len(args)}")
    return guarded_hasattr(*args)


def guarded_getattr(obj: Any, name: Any, default: Any = _MISSING) -> Any:
    if type(name) is not str:
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    if name[:1] == "_":
        if _is_dunder(name):
            if name == "__class__":
                return sandbox_type(obj)
            if name in NAME_DUNDERS:
                value = getattr(obj, name) if default is _MISSING else getattr(obj, name, default)
                if type(value) is str or value is None or value is default:
                    return value
                _chain, own, _instance = _lookup_chain(obj)
                if own:
                    return value
                raise _refuse(name, "it is not a name here")
            if name in EXCEPTION_LINKS and isinstance(obj, BaseException):
                return getattr(obj, name)
            if _check_dunder(obj, name):
                return _script_new(getattr(obj, name))
        elif not _check_private(obj, name):
            if default is not _MISSING:
                return default
            raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")
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


def _check_write_name(name: Any) -> None:
    if type(name) is not str:
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    if _is_dunder(name) and name not in WRITABLE_DUNDERS:
        raise AttributeError(
            f"'{name}' cannot be set or deleted in the sandbox; only the data model's methods "
            "(__init__, __repr__, __eq__...) and __doc__ can be, on your own classes"
        )


def guarded_setattr(obj: Any, name: Any, value: Any) -> None:
    """`setattr` with the rule of `obj.name = value`: the script's own objects, no dunders."""
    _check_write_name(name)
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj: Any, name: Any) -> None:
    _check_write_name(name)
    delattr(guarded_write(obj), name)


def guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def guarded_write(obj: Any) -> Any:
    """`_write_`: only the script's own containers and instances may be modified. Values of the
    immutable built-in types pass too: the store then fails as in CPython (`t[0] = 1` on a
    tuple is CPython's TypeError, `(5).x = 1` its AttributeError), as nothing can change them."""
    if type(obj) in CONTAINER_TYPES or type(obj) in SCRIPT_CLASSES or type(obj) in _IMMUTABLE:
        return obj
    if isinstance(obj, type) and obj in SCRIPT_CLASSES:  # the script's own class: `Job.count += 1`
        return obj
    raise TypeError(f"cannot modify a {type(obj).__name__} object: it is read-only in the sandbox")


def script_metaclass(
    name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
) -> type:
    """Every `class` statement goes through here (RestrictedPython injects `__metaclass__`)."""
    for base in bases:
        if not isinstance(base, type):
            raise TypeError(f"class {name}: base {base!r} is not a class")
    _check_match_args(name, namespace.get("__match_args__", ()))
    meta = _derived_metaclass(bases)
    if meta is not type and isinstance(meta, type) and issubclass(meta, enum.EnumType):
        # Enum's metaclass counts members as the body assigns them (its __prepare__); the body
        # has already run into a plain dict, so it is replayed in order into the real namespace.
        prepared = meta.__prepare__(name, bases)
        for key, value in namespace.items():
            prepared[key] = value
        namespace = prepared
    cls = type(name, bases, namespace, **kwargs)
    SCRIPT_CLASSES.add(cls)
    return cls


def _check_match_args(name: str, match_args: Any) -> None:
    """`case C(x)` reads the attributes `__match_args__` names without the guards: they must
    be plain attribute names the guards would let through."""
    if type(match_args) is not tuple or not all(
        type(item) is str and item.isidentifier() and not _is_dunder(item)
        and item not in BLOCKED_ATTRIBUTES and item not in ATTRIBUTE_WALKERS and item != "obj"
        for item in match_args
    ):  # fmt: skip
        raise TypeError(
            f"class {name}: __match_args__ must be a tuple of the names of its own attributes"
        )


def _derived_metaclass(bases: tuple[type, ...]) -> type:
    winner: type = type
    for base in bases:
        meta = type(base)
        if issubclass(meta, winner):
            winner = meta
    return winner


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "|=": operator.ior,
    "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
}  # fmt: skip
_INPLACE_DUNDER = {op: f"__i{f.__name__[1:]}__" for op, f in _INPLACE.items()}


_IMMUTABLE = frozenset({int, float, complex, str, bytes, tuple, frozenset, bool, type(None)})


def guarded_inplacevar(op: str, x: Any, y: Any) -> Any:
    """`x op= y`: an in-place change of `x` needs the same right as a write to it."""
    if type(x) not in _IMMUTABLE and hasattr(type(x), _INPLACE_DUNDER[op]):
        guarded_write(x)
    return _INPLACE[op](x, y)


def guarded_apply(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


guarded_apply.__name__ = guarded_apply.__qualname__ = "apply"


def guarded_iter(obj: Any) -> Any:
    return iter(obj)


def guarded_unpack_sequence(it: Any, spec: dict[str, Any], _getiter_: Any) -> list[Any]:
    """`a, (b, c) = it`: the values as a list, nested targets unpacked the same way. Without a
    starred target (the policy marks the spec `exact`), at most one value past the targets is
    read, as CPython stops at the first surplus value of an iterator."""
    source = _getiter_(it)
    if spec.get("exact"):
        values = list(itertools.islice(source, spec["min_len"] + 1))
    else:
        values = list(source)
    if len(values) < spec["min_len"]:
        return values  # the assignment raises CPython's "not enough values to unpack"
    for index, child in spec["childs"]:
        values[index] = guarded_unpack_sequence(values[index], child, _getiter_)
    return values


def guarded_iter_unpack_sequence(it: Any, spec: dict[str, Any], _getiter_: Any) -> Any:
    """`for a, b in it`: each value unpacked as above."""
    for value in _getiter_(it):
        yield guarded_unpack_sequence(value, spec, _getiter_)


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
        if len(args) == 3:
            return _script_class_of(*args, **kwargs)
        if len(args) == 1 and kwargs:
            raise TypeError("type() takes no keyword arguments")
        if len(args) != 1:
            raise TypeError("type() takes 1 or 3 arguments")
        return sandbox_type(args[0])

    def __repr__(cls) -> str:
        return "<class 'type'>"


def _script_class_of(name: Any, bases: Any, namespace: Any, **kwargs: Any) -> type:
    """`type(name, bases, namespace)`: a class as a `class` statement makes it, with what a
    class body may define (no dunder outside the data model's methods)."""
    for position, (value, kind) in enumerate(((name, str), (bases, tuple), (namespace, dict))):
        if type(value) is not kind:
            got = "None" if value is None else type(value).__name__
            raise TypeError(
                f"type.__new__() argument {position + 1} must be {kind.__name__}, not {got}"
            )
    for key in namespace:
        if type(key) is not str:
            raise TypeError("type(): the namespace's keys must be str")
        if _is_dunder(key) and key not in CLASS_BODY_DUNDERS:
            raise TypeError(
                f"type(): '{key}' cannot be defined in a class in the sandbox (only the data "
                "model's methods and names)"
            )
    namespace = {"__module__": "__main__", **namespace}  # as made by the script's top level
    return script_metaclass(name, bases or (object,), namespace, **kwargs)


class ScriptType(metaclass=_TypeStandInMeta):
    """`type` as a script sees it: `type(x)`, `isinstance(c, type)`, `type(int) is type`."""


ScriptType.__name__ = ScriptType.__qualname__ = "type"
ScriptType.__module__ = "builtins"


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
    "__debug__",
]  # fmt: skip
# Every built-in exception and warning class: plain classes whose attributes the guards read
# as any other object's (a script catches `UnboundLocalError`, raises `OSError`...).
_SAFE_BUILTIN_NAMES += sorted(
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)  # fmt: skip

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
    "exit": "return from run(client) instead",
    "quit": "return from run(client) instead",
    "memoryview": "not available in the sandbox",
}


_PRINT_TARGET = ScriptPrint()


def script_print(
    *objects: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: bool = False
) -> None:
    """`print`: one object for the whole script (`print is print`), writing to the run's sink."""
    if file is None:
        file = _PRINT_TARGET
    else:
        guarded_getattr(file, "write")
    builtins.print(*objects, sep=sep, end=end, file=file, flush=flush)


class BuiltinPrint(Sealed):
    """`print` as a script holds it: one object (`print is print`), a callable that is not a
    method descriptor (a class's `__init__ = print` calls it without the instance, as CPython's
    built-in does), shown as CPython shows its built-in."""

    __slots__ = ()
    __name__ = "print"  # what instances answer (the class's own name is below)

    def __call__(
        self, *objects: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: bool = False
    ) -> None:
        script_print(*objects, sep=sep, end=end, file=file, flush=flush)

    def __repr__(self) -> str:
        return "<built-in function print>"


BuiltinPrint.__name__ = BuiltinPrint.__qualname__ = "builtin_function_or_method"
BuiltinPrint.__module__ = "builtins"
BUILTIN_PRINT = object.__new__(BuiltinPrint)


def _named(func: Any, name: str) -> Any:
    """A guard as the builtin it stands for: its name in messages is the builtin's."""
    func.__name__ = func.__qualname__ = name
    func.__module__ = "builtins"
    return func


def make_builtins() -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update(
        {
            "__build_class__": builtins.__build_class__,
            "__import__": guarded_import,
            "getattr": _named(script_getattr, "getattr"),
            "hasattr": _named(script_hasattr, "hasattr"),
            "setattr": _named(guarded_setattr, "setattr"),
            "delattr": _named(guarded_delattr, "delattr"),
            "print": BUILTIN_PRINT,
            "type": ScriptType,
        }
    )
    return safe


SAFE_BUILTINS = make_builtins()


def guard_globals(sink: PrintSink) -> dict[str, Any]:
    """The names RestrictedPython's compiled code expects to find in its globals."""
    return {
        "__builtins__": SAFE_BUILTINS,
        "__name__": "__main__",
        "__doc__": None,
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
