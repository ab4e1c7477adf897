"""Python as pydantic/monty's test cases write it runs in the sandbox as CPython runs it: every
built-in exception, `sys` and `pathlib`, dunder methods set by decorators, type()'s 3-argument
form, lazy unpacking, CPython's own errors for stores on immutable values."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any

import pytest
from sandboxed import sandboxed


def cpython(code: str) -> tuple[Any, str, str | None]:
    lines = code.rstrip().splitlines()
    lines[-1] = f"__result__ = {lines[-1]}"
    scope: dict[str, Any] = {"__name__": "__main__", "__doc__": None}  # as a file runs
    out = io.StringIO()
    error = None
    with contextlib.redirect_stdout(out):
        try:
            exec(compile("\n".join(lines), "<cpython>", "exec"), scope)
        except Exception as exc:  # noqa: BLE001 - compared by type
            error = type(exc).__name__
    return json.loads(json.dumps(scope.get("__result__"))), out.getvalue(), error


PROGRAMS = {
    "builtin_exceptions": (
        "out = []\nfor exc in (UnboundLocalError, UnicodeDecodeError, OSError, FileNotFoundError,"
        " ModuleNotFoundError, ExceptionGroup, StopAsyncIteration, EOFError):\n"
        "    out.append([exc.__name__, issubclass(exc, Exception)])\n"
        "def f():\n    try:\n        print(x)\n    except UnboundLocalError as e:\n"
        "        return type(e).__name__\n    x = 1\n"
        "try:\n    b'\\xff'.decode()\nexcept UnicodeDecodeError as e:\n    out.append(e.reason)\n"
        "out + [f()]"
    ),
    "module_names": "[__name__, __doc__, __debug__]",
    "module_not_found": (
        "try:\n    import nonexistent_module\nexcept ModuleNotFoundError as e:\n"
        "    r = type(e).__name__\nr"
    ),
    "sys_facts": (
        "import sys\nv = sys.version_info\n"
        "[v[:2] == (v.major, v.minor), sys.version.startswith(f'{v.major}.{v.minor}'), "
        "sys.platform, sys.maxsize, sys.getrecursionlimit(), len(sys.version_info)]"
    ),
    "sys_stdout": "import sys\nsys.stdout.write('to stdout\\n')\nprint('x', file=sys.stdout)",
    "pathlib_pure": (
        "from pathlib import Path\np = Path('/usr/local') / 'bin' / 'python3.11'\n"
        "[str(p), p.name, p.suffix, p.stem, str(p.parent), p.parts[:2], p.is_absolute(), "
        "str(p.with_suffix('.txt')), str(Path('a', 'b').joinpath('c'))]"
    ),
    "unicodedata": (
        "import unicodedata as ud\nout = [ud.name('a'), ud.category('A'), ud.lookup('SNOWMAN'),"
        " ud.normalize('NFC', 'e\\u0301'), ud.numeric('5')]\n"
        "try:\n    ud.name('\\x00')\nexcept ValueError as e:\n    out.append(str(e))\nout"
    ),
    "print_is_a_builtin": (
        "class C:\n    __init__ = print\nC('made', sep='-')\n"
        "[print is print, repr(print), type(print).__name__, print.__name__, callable(print)]"
    ),
    "decorator_sets_dunders": (
        "def auto(cls):\n    def __init__(self, x):\n        self.x = x\n"
        "    def __repr__(self):\n        return f'{type(self).__name__}({self.x})'\n"
        "    cls.__init__ = __init__\n    setattr(cls, '__repr__', __repr__)\n    return cls\n"
        "@auto\nclass P:\n    pass\nrepr(P(3))"
    ),
    "class_data_dunders": (
        "class D:\n    'doc'\n    y = __doc__\nclass N:\n    __name__ = 'bar'\n"
        "[D.y, N.__name__, N().__name__]"
    ),
    "three_arg_type": (
        "Base = type('Base', (), {'greet': lambda self: 'hi', '__eq__': lambda s, o: True})\n"
        "Sub = type('Sub', (Base,), {'n': 2})\n"
        "[Sub().greet(), Sub.n, Sub() == 1, Sub.__name__, Sub.__module__, type(Sub()) is Sub]"
    ),
    "type_arity": (
        "out = []\nfor args in ((), (1, 2)):\n    try:\n        type(*args)\n"
        "    except TypeError as e:\n        out.append(str(e))\nout"
    ),
    "lazy_unpack": (
        "src = iter([1, 2, 3, 4, 5])\ntry:\n    a, b = src\nexcept ValueError as e:\n"
        "    msg = str(e)\n[msg, list(src)]"
    ),
    "nested_unpack": "(a, (b, c)), *rest = [(1, [2, 3]), 4, 5]\n[a, b, c, rest]",
    "for_unpack": "[(k, v) for k, (v, _) in zip('ab', [(1, 0), (2, 0)])]",
    "immutable_stores": (
        "out = []\nt = ([1],)\ntry:\n    t[0] += [2]\nexcept TypeError as e:\n"
        "    out.append([e.args, t])\nx = 5\ntry:\n    x.foo = 1\nexcept AttributeError as e:\n"
        "    out.append(type(e).__name__)\nout"
    ),
    "getattr_errors": (
        "out = []\nfor call in (lambda: getattr(), lambda: getattr(1), "
        "lambda: getattr(1, 'a', 2, 3), lambda: getattr(1, 2), lambda: hasattr(1, 2), "
        "lambda: hasattr(1)):\n    try:\n        call()\n    except TypeError as e:\n"
        "        out.append(str(e))\nout"
    ),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_runs_as_cpython_runs_it(name: str) -> None:
    limit = sys.getrecursionlimit()
    assert sandboxed(PROGRAMS[name]) == cpython(PROGRAMS[name])
    assert sys.getrecursionlimit() == limit  # what a script sets ends with it


def test_getattr_keyword_arguments_are_refused_as_cpython_does() -> None:
    code = "try:\n    getattr(kwarg=1)\nexcept TypeError as e:\n    r = str(e)\nr"
    assert sandboxed(code)[0] == "getattr() takes no keyword arguments"


def test_relative_imports_are_import_errors() -> None:
    code = "try:\n    from . import x\nexcept ImportError as e:\n    r = type(e).__name__\nr"
    assert sandboxed(code)[0] == "ImportError"


def test_refused_stores_say_how_to_rewrite() -> None:
    from sandbox.policy import compile_script

    compiled = compile_script("class X:\n    pass\nX.__class__ = dict\nX.__del__ = print")
    assert len(compiled.problems) == 2
    assert all(p.hint for p in compiled.problems)
    assert "ordinary name" in (compiled.problems[0].hint or "")


def test_three_arg_type_refuses_what_a_class_body_may_not_define() -> None:
    code = "type('X', (), {'__getattribute__': lambda s, n: 1})"
    result, _, error = sandboxed(code)
    assert error == "TypeError" and result is None


def test_the_recursion_limit_counts_from_the_scripts_top_level() -> None:
    limit = sys.getrecursionlimit()
    code = (
        "import sys\nout = [sys.getrecursionlimit()]\nsys.setrecursionlimit(30)\n"
        "def f(n):\n    return f(n + 1) if n < 25 else n\n"
        "def g(n):\n    return g(n + 1)\n"
        "out.append(f(0))\ntry:\n    g(0)\nexcept RecursionError:\n    out.append('deep')\n"
        "try:\n    sys.setrecursionlimit(10**6)\nexcept ValueError:\n    out.append('capped')\nout"
    )
    assert sandboxed(code)[0] == [1000, 25, "deep", "capped"]
    assert sys.getrecursionlimit() == limit
