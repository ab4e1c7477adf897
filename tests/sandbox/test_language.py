"""Everyday agent Python compiles under the policy and runs as CPython runs it (same value,
same printed output): names, attributes, augmented assignment, nonlocal, annotations, match."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

from sandbox.guards import PrintSink, guard_globals
from sandbox.policy import RESULT_NAME, compile_script


def sandboxed(source: str) -> tuple[Any, str]:
    compiled = compile_script(source)
    assert not compiled.problems, [p.message for p in compiled.problems]
    assert compiled.code is not None
    sink = PrintSink(100_000)
    scope = guard_globals(sink)
    exec(compiled.code, scope)
    return scope.get(RESULT_NAME), sink.text()


def cpython(source: str) -> tuple[Any, str]:
    lines = source.rstrip().splitlines()
    lines[-1] = f"{RESULT_NAME} = {lines[-1]}"
    scope: dict[str, Any] = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile("\n".join(lines), "<cpython>", "exec"), scope)
    return scope[RESULT_NAME], out.getvalue()


PROGRAMS = {
    "class_counter": "class Job:\n    created = 0\n    def __init__(self):\n"
    "        Job.created += 1\nJob(); Job()\nJob.created",
    "decimal_context": "import decimal\nctx = decimal.Context()\nctx.prec = 5\n"
    "str(ctx.divide(decimal.Decimal(1), decimal.Decimal(7)))",
    "counts": "from collections import defaultdict, Counter\ncounts = defaultdict(int)\n"
    "for w in 'a b a c a'.split():\n    counts[w] += 1\nc = Counter()\nc['x'] += 2\n"
    "[dict(counts), dict(c)]",
    "attr_total": "class Acc:\n    def __init__(self):\n        self.total = 0\n"
    "    def add(self, x):\n        self.total += x\n        return self\n"
    "Acc().add(2).add(3).total",
    "item_order": "log = []\nd = {'k': [1]}\ndef key():\n    log.append('key')\n    return 'k'\n"
    "def val():\n    log.append('val')\n    return [2]\nd[key()] += val()\n[d, log]",
    "slice_aug": "l = [1, 2, 3]\nl[:2] += [9]\nm = [[0]]\nm[0][0] -= 5\n[l, m]",
    "nonlocal": "def counter():\n    n = 0\n    def inc():\n        nonlocal n\n        n += 1\n"
    "        return n\n    return inc\nf = counter()\n[f(), f(), f()]",
    "annotations": "x: int = 5\ny: list[int]\nclass P:\n    a: int = 1\n    b: str = 'b'\n"
    "    def __init__(self):\n        self.c: float = 1.5\n[x, P.a, P().c]",
    "typeddict_namedtuple": "from typing import NamedTuple, TypedDict\n"
    "class Pt(NamedTuple):\n    x: int\n    y: int = 0\n"
    "class Movie(TypedDict, total=False):\n    title: str\n"
    "p = Pt(1)\nm: Movie = {'title': 't'}\n[p._replace(y=2)._asdict(), p.x, m, Pt._fields]",
    "match": "def f(v):\n    match v:\n        case {'kind': 'a', 'items': [first, *rest]}:\n"
    "            return ('a', first, rest)\n        case [x, y] if x < y:\n"
    "            return 'pair'\n"
    "        case str() | bytes():\n            return 'text'\n        case int(n) if n > 5:\n"
    "            return n\n        case None:\n            return 'none'\n        case _:\n"
    "            return 'other'\n"
    "[f({'kind': 'a', 'items': [1, 2, 3]}), f([1, 2]), f('s'), f(9), f(None), f(1.0)]",
    "match_class": "class Pt:\n    __match_args__ = ('x', 'y')\n    def __init__(self, x, y):\n"
    "        self.x, self.y = x, y\ndef where(p):\n    match p:\n        case Pt(0, 0):\n"
    "            return 'origin'\n        case Pt(x=0, y=yy):\n            return f'y={yy}'\n"
    "        case Pt(xx, _):\n            return f'x={xx}'\n"
    "[where(Pt(0, 0)), where(Pt(0, 3)), where(Pt(4, 1))]",
    "dunders": "class Money:\n    def __init__(self, c):\n        self._cents = c\n"
    "    def __add__(self, o):\n        return Money(self._cents + o._cents)\n"
    "    def __repr__(self):\n        return f'Money({self._cents})'\n"
    "    def __eq__(self, o):\n        return isinstance(o, Money) and o._cents == self._cents\n"
    "    def __hash__(self):\n        return hash(self._cents)\n"
    "    def __lt__(self, o):\n        return self._cents < o._cents\n"
    "    def __iter__(self):\n        yield self._cents\n    def __len__(self):\n        return 1\n"
    "    def __bool__(self):\n        return self._cents != 0\n"
    "ms = sorted([Money(3), Money(1)])\n"
    "[repr(ms[0] + ms[1]), ms[0] == Money(1), len({Money(1), Money(1)}),"
    " list(ms[0]), bool(Money(0))]",
    "super_and_names": "class Base:\n    def __init__(self, name):\n        self.name = name\n"
    "    def describe(self):\n        return type(self).__name__ + ':' + self.name\n"
    "class Child(Base):\n    def __init__(self):\n        super().__init__('kid')\n"
    "    def describe(self):\n        return 'child ' + super().describe()\n"
    "[Child().describe(), Child.__qualname__, Child().__class__.__name__, Base.__doc__]",
    "exceptions": "class AppError(Exception):\n    def __init__(self, msg, code):\n"
    "        super().__init__(msg)\n        self.code = code\n"
    "try:\n    try:\n        {}['k']\n    except KeyError as e:\n"
    "        raise AppError('bad', 7) from e\n"
    "except AppError as e:\n"
    "    r = [str(e), e.code, type(e.__cause__).__name__, e.__context__ is e.__cause__]\n"
    "r",
    "private_mangled": "class A:\n    def __init__(self):\n        self.__secret = 1\n"
    "        self._shown = 2\n    def get(self):\n        return self.__secret + self._shown\n"
    "A().get()",
    "print_identity": "p = print\nprint('a', 'b', sep='-')\np('c', end='!\\n')\n"
    "[print is p, print.__name__]",
    "getattr_default": "class A:\n    pass\na = A()\nsetattr(a, 'x', 1)\n"
    "[getattr(a, 'x'), getattr(a, 'y', None), hasattr(a, 'x'), getattr(a, '_nope', 0)]",
    "star_call": "def f(a, *rest, k=0, **kw):\n    return [a, rest, k, kw]\n"
    "args = [1, 2]\nf(*args, k=3, **{'z': 4})",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_runs_as_in_cpython(name: str) -> None:
    source = PROGRAMS[name]
    assert sandboxed(source) == cpython(source)


def test_errors_name_the_builtin_not_the_guard() -> None:
    for source in ("getattr(1)", "setattr(1, 'x')", "type()", "def f(x):\n    pass\nf(*[], **{})"):
        compiled = compile_script(source)
        assert compiled.code is not None
        with pytest.raises(TypeError) as info:
            exec(compiled.code, guard_globals(PrintSink(100)))
        assert "guarded" not in str(info.value) and "sandbox_type" not in str(info.value)


def test_a_method_named_run_is_not_the_entry_point() -> None:
    assert not compile_script("class Job:\n    def run(self):\n        pass").defines_run
    assert compile_script("async def run(client):\n    pass").defines_run
    assert compile_script("def run():\n    pass").defines_run


def test_classes_the_script_did_not_make_stay_read_only() -> None:
    # Writes to the script's own classes are allowed; a sandbox class or a builtin one is not.
    for target in ("int", "FloraError", "type(client)", "type(inputs)"):
        compiled = compile_script(f"{target}.flag = 1")
        assert compiled.code is not None
        scope = guard_globals(PrintSink(1000))
        scope.update({"FloraError": type("FloraError", (Exception,), {}), "client": object(),
                      "inputs": {}})  # fmt: skip
        with pytest.raises(TypeError, match="read-only"):
            exec(compiled.code, scope)
