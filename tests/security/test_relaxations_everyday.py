"""What the everyday-Python relaxations could open, and that it stays closed.

Each relaxation (SECURITY.md's list) is tested twice: through the policy, on every route a
script has to the thing relaxed, and with the policy gone (raw mode), the same attack carried
through to what it would reach, where the OS layers and the host must hold on their own.
"""

from __future__ import annotations

import asyncio

import pytest
from security_helpers import CANARY, RAW_LIMITS, assert_no_effect

# --- dunder methods set on the script's own classes, type()'s 3-argument form -------------------
# They may define what a class body may define; everything a class body may not define stays
# refused, on every route (attribute store, setattr, delattr, augmented store, type()).
WORKS = {
    "decorator_injects_init": (
        "def auto_init(cls):\n    def __init__(self, x):\n        self.x = x\n"
        "    cls.__init__ = __init__\n    return cls\n"
        "@auto_init\nclass P:\n    pass\nP(9).x",
        9,
    ),
    "setattr_repr": (
        "class X:\n    pass\nsetattr(X, '__repr__', lambda s: 'mine')\nrepr(X())",
        "mine",
    ),
    "instance_enter_does_not_change_with": (
        "class S:\n    def __enter__(self):\n        return 'class'\n"
        "    def __exit__(self, *a):\n        return False\n"
        "s = S()\ns.__enter__ = lambda: 'instance'\nwith s as v:\n    pass\n[v, s.__enter__()]",
        ["class", "instance"],
    ),
    "three_arg_type": (
        "X = type('X', (object,), {'n': 1, '__repr__': lambda s: 'x!'})\n[repr(X()), X.n, "
        "X.__module__]",
        ["x!", 1, "__main__"],
    ),
    "doc_store": ("class X:\n    pass\nX.__doc__ = 'd'\nX.__doc__", "d"),
}


@pytest.mark.parametrize("name", sorted(WORKS))
def test_data_model_methods_may_be_set_on_the_scripts_own_classes(server, name):
    code, expected = WORKS[name]
    body = server.execute(code)
    assert body["status"] == "ok" and body["result"] == expected, body


DANGEROUS = [
    "__class__", "__dict__", "__setattr__", "__delattr__", "__getattribute__", "__del__",
    "__reduce__", "__reduce_ex__", "__setstate__", "__init_subclass__", "__match_args__",
    "__slots__", "__bases__", "__mro__", "__globals__", "__code__", "__set_name__",
    "__class_getitem__", "__subclasshook__", "__instancecheck__", "__getstate__",
]  # fmt: skip
# Routes checked when the script runs: each must raise, and nothing may be defined.
RUNTIME_ROUTES = [
    "setattr(X, '{name}', f)",
    "setattr(X(), '{name}', f)",
    "delattr(Y, '{name}')",
    "type('Z', (), {{'{name}': f}})",
    "type('Z', (), {{K('{name}'): f}})",
]
# Routes the policy refuses in the script's text: one problem each.
SYNTAX_ROUTES = [
    "X.{name} = f",
    "X().{name} = f",
    "X.{name} += f",
    "del Y.{name}",
]


@pytest.mark.parametrize("name", DANGEROUS)
def test_what_a_class_body_may_not_define_stays_refused_on_every_route(server, name):
    prelude = (
        "import copy\ndef f(*a, **k):\n    print('ESCAPED')\n    return 'ESCAPED'\n"
        "class K(str):\n    pass\nclass X:\n    pass\nclass Y:\n    pass\nY.m = f\n"
    )
    attempts = "".join(
        f"try:\n    {route.format(name=name)}\n    out.append('ESCAPED {i}')\n"
        "except (AttributeError, TypeError):\n    out.append('refused')\n"
        for i, route in enumerate(RUNTIME_ROUTES)
    )
    body = server.execute(prelude + "out = []\n" + attempts + "copy.copy(X())\nrepr(X())\nout")
    assert body["status"] == "ok" and body["result"] == ["refused"] * len(RUNTIME_ROUTES), body
    assert_no_effect(body)
    stores = "\n".join(route.format(name=name) for route in SYNTAX_ROUTES)
    body = server.execute(prelude + stores)
    assert body["status"] == "rejected", body
    lines = {p["line"] for p in body["error"]["problems"]}
    first = prelude.count("\n") + 1
    assert lines >= set(range(first, first + len(SYNTAX_ROUTES))), body["error"]
    assert all(p["hint"] for p in body["error"]["problems"]), body["error"]


@pytest.mark.parametrize(
    "code",
    [
        # allowed names, but on objects that are not the script's own
        "import json\njson.__init__ = lambda *a: None",
        "int.__repr__ = lambda s: 'ESCAPED'",
        "setattr(int, '__add__', lambda a, b: 'ESCAPED')",
        "setattr(print, '__call__', lambda *a: 'ESCAPED')",
        "def f():\n    pass\nf.__call__ = lambda *a: 'ESCAPED'",
        "client.__getattr__ = lambda *a: 'ESCAPED'",
        "setattr(type(client), '__repr__', lambda s: 'ESCAPED')",
        "import asyncio\nasyncio.Lock.__enter__ = lambda s: 'ESCAPED'",
        "import pathlib\npathlib.Path.__repr__ = lambda s: 'ESCAPED'",
        "import sys\nsys.stdout.__init__ = lambda *a: None",
        "setattr(type(None), '__repr__', lambda s: 'ESCAPED')",
    ],
)
def test_data_model_stores_reach_only_the_scripts_own_classes(server, code):
    body = server.execute(code + "\nrepr(None)")
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


def test_stores_on_immutable_values_fail_as_in_cpython_and_change_nothing(server):
    body = server.execute(
        "out = []\n"
        "t = (1, [2])\n"
        "try:\n    t[0] = 2\nexcept TypeError as e:\n    out.append(str(e))\n"
        "x = 5\n"
        "try:\n    x.foo = 1\nexcept AttributeError as e:\n    out.append(type(e).__name__)\n"
        "try:\n    t[1] += [3]\nexcept TypeError as e:\n    out.append(t[1])\n"
        "try:\n    setattr('abc', 'upper', 1)\nexcept AttributeError as e:\n"
        "    out.append('abc'.upper())\n"
        "try:\n    int.x = 1\nexcept TypeError as e:\n    out.append('int read-only')\n"
        "out"
    )
    assert body["status"] == "ok", body
    assert body["result"] == [
        "'tuple' object does not support item assignment",
        "AttributeError",
        [2, 3],
        "ABC",
        "int read-only",
    ]


# --- sys: a facade of facts, the recursion limit and the script's output -----------------------
SYS_REFUSED = ["modules", "_getframe", "settrace", "setprofile", "exc_info", "path", "stdin",
     "__stdout__", "meta_path", "path_hooks", "audit", "addaudithook", "executable",
     "_current_frames", "getrefcount", "call_tracing", "set_asyncgen_hooks", "breakpointhook",
     "excepthook", "displayhook", "exception", "flags", "orig_argv", "base_prefix"]  # fmt: skip


def test_sys_offers_no_way_into_the_interpreter(server):
    routes = [f"sys.{m}" for m in SYS_REFUSED] + [f"getattr(sys, '{m}')" for m in SYS_REFUSED]
    attempts = "".join(
        f"try:\n    out.append(repr({route}))\nexcept AttributeError:\n    out.append('no')\n"
        "try:\n    from sys import " + route.split("'")[1] + "\n    out.append('ESCAPED')\n"
        "except ImportError:\n    out.append('no')\n" if "getattr" in route and "__" not in route
        else
        f"try:\n    out.append(repr({route}))\nexcept AttributeError:\n    out.append('no')\n"
        for route in routes
    )  # fmt: skip
    body = server.execute("import sys\nout = []\n" + attempts + "out")
    assert body["status"] == "ok" and set(body["result"]) == {"no"}, body
    assert len(body["result"]) == 3 * len(SYS_REFUSED) - 1  # `from sys import __x__`: no name
    assert_no_effect(body)


def test_sys_streams_write_into_the_scripts_output_only(server):
    body = server.execute(
        "import sys\nsys.stdout.write('a\\n')\nprint('b', file=sys.stderr)\nout = []\n"
        "for walk in (lambda: sys.stdout._sink, lambda: type(sys.stdout).__init__,\n"
        "             lambda: sys.stdout.__dict__, lambda: getattr(sys.stderr, '_sink'),\n"
        "             lambda: getattr(type(sys.stdout).write, '__globals__')):\n"
        "    try:\n        out.append(repr(walk()))\n"
        "    except AttributeError:\n        out.append('refused')\n"
        "try:\n    sys.stdout.name = 'x'\nexcept (TypeError, AttributeError):\n"
        "    out.append('read-only')\n"
        "out"
    )
    assert body["status"] == "ok", body
    assert body["stdout"] == "a\nb\n"
    assert body["result"] == ["refused"] * 5 + ["read-only"], body


def test_the_recursion_limit_a_script_sets_is_bounded(server):
    body = server.execute(
        "import sys\nout = [sys.getrecursionlimit()]\n"
        "try:\n    sys.setrecursionlimit(10**6)\nexcept ValueError:\n    out.append('capped')\n"
        "sys.setrecursionlimit(50)\n"
        "def f(n):\n    return f(n + 1)\n"
        "try:\n    f(0)\nexcept RecursionError:\n    out.append(sys.getrecursionlimit())\n"
        "out"
    )
    assert body["status"] == "ok" and body["result"] == [1000, "capped", 50], body
    server.healthy()


@pytest.mark.parametrize(
    "value",
    [
        "Big(5)",  # answers the bounds checks with its own comparisons, then gives 10**8
        "Index()",  # a non-int whose __index__ is past the cap
    ],
)
def test_the_recursion_cap_holds_for_any_int_like_value(server, value):
    body = server.execute(
        "import sys\n"
        "class Big(int):\n"
        "    def __lt__(self, other):\n        return False\n"
        "    def __gt__(self, other):\n        return False\n"
        "    def __int__(self):\n        return 10**8\n"
        "    def __index__(self):\n        return 10**8\n"
        "class Index:\n"
        "    def __index__(self):\n        return 10**8\n"
        "try:\n"
        f"    sys.setrecursionlimit({value})\n"
        "except ValueError:\n    pass\n"
        "sys.getrecursionlimit()"
    )
    assert body["status"] == "ok" and body["result"] <= 10_000, body
    server.healthy()


def test_the_recursion_limit_refuses_what_is_not_an_integer(server):
    body = server.execute(
        "import sys\nout = []\n"
        "for v in (2.5, '50', None):\n"
        "    try:\n        sys.setrecursionlimit(v)\n"
        "    except TypeError as e:\n        out.append(str(e))\n"
        "out"
    )
    assert body["status"] == "ok", body
    assert body["result"] == [
        f"'{t}' object cannot be interpreted as an integer" for t in ("float", "str", "NoneType")
    ]


def test_raw_child_that_blows_its_stack_fails_alone(server, raw):
    # With the policy gone, a script can set any limit and overflow the C stack: the child
    # dies, the execution fails, and the next one runs.
    result = raw.run(
        "import sys\nsys.setrecursionlimit(10**7)\n"
        "x = []\nfor _ in range(300_000):\n    x = [x]\nresult = repr(x)",
        RAW_LIMITS,
    )
    assert result.status != "ok", result
    assert raw.run("result = 1 + 1", RAW_LIMITS).result == 2
    server.healthy()


def test_real_sys_with_the_policy_gone_reaches_no_secret(raw):
    # The real sys module is what the facade keeps out: carried through to the process's
    # modules, frames and files, the OS layers must still hold.
    code = (
        "import sys\nout = []\n"
        "os = sys.modules.get('os') or __import__('os')\n"
        "out.append(repr(dict(os.environ)))\n"
        "f = sys._getframe()\n"
        "while f.f_back is not None:\n    f = f.f_back\n"
        "out.append(sorted(k for k in f.f_globals if 'KEY' in k.upper()))\n"
        "for p in ('/proc/%d/environ' % os.getppid(), '/etc/passwd', '/proc/1/environ'):\n"
        "    try:\n        out.append(open(p, 'rb').read()[:300].decode('latin-1'))\n"
        "    except OSError as e:\n        out.append('refused ' + type(e).__name__)\n"
        "result = out"
    )
    result = raw.run(code, RAW_LIMITS)
    assert result.status == "ok", result
    assert CANARY not in str(result)
    assert all(part.startswith("refused") for part in result.result[2:]), result.result


# --- pathlib: pure paths only ----------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        "from pathlib import Path\nPath('/etc/passwd').read_text()",
        "from pathlib import Path\nPath('/tmp/x').write_text('ESCAPED')",
        "from pathlib import Path\nPath('/').iterdir()",
        "from pathlib import Path\nPath('/etc/passwd').open()",
        "from pathlib import Path\nPath('/etc/passwd').exists()",
        "from pathlib import Path\nPath.cwd()",
        "import pathlib\npathlib.os",
        "import pathlib\npathlib.PurePath('/')._flavour",
        "import pathlib\npathlib.PosixPath",
        "import pathlib\nclass P(pathlib.PurePosixPath):\n"
        "    def f(self):\n        return self._flavour\nP('/').f()",
    ],
)
def test_paths_touch_no_filesystem(server, code):
    body = server.execute(code)
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


def test_real_pathlib_with_the_policy_gone_reads_and_writes_nothing(raw, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    target = tmp_path / "written.txt"
    code = (
        "from pathlib import Path\nout = []\n"
        f"for step in (lambda: Path({str(secret)!r}).read_text(),\n"
        f"             lambda: Path({str(target)!r}).write_text('x'),\n"
        "             lambda: list(Path('/').iterdir())):\n"
        "    try:\n        out.append(repr(step())[:200])\n"
        "    except OSError as e:\n        out.append('refused ' + type(e).__name__)\n"
        "result = out"
    )
    result = raw.run(code, RAW_LIMITS)
    assert result.status == "ok", result
    assert CANARY not in str(result)
    assert all(part.startswith("refused") for part in result.result), result.result
    assert not target.exists()


# --- dunder methods as time bombs, with the policy gone ------------------------------------
def test_time_bombs_with_the_policy_gone_never_run_in_the_host(raw):
    # Whatever a class may define (through type() or stores), the host receives JSON only: a
    # raw child's object with every data-model bomb never reaches host code.
    code = (
        "class Bomb:\n"
        "    def __repr__(self):\n        return 'ESCAPED-repr'\n"
        "    def __eq__(self, o):\n        raise SystemExit('ESCAPED-eq')\n"
        "    def __hash__(self):\n        raise SystemExit('ESCAPED-hash')\n"
        "    def __del__(self):\n        print('ESCAPED-del')\n"
        "    def __reduce__(self):\n        return (print, ('ESCAPED-reduce',))\n"
        "Bomb.__str__ = Bomb.__repr__\n"
        "result = [Bomb(), {'k': type('B2', (Bomb,), {})()}]"
    )
    result = raw.run(code, RAW_LIMITS)
    # The raw child cannot send its objects (they are not JSON): it fails, in the child.
    assert result.status == "error" and result.result is None, result
    assert raw.run("result = [1, 'two']", RAW_LIMITS).result == [1, "two"]


# --- asyncio's Queue, timeout(), shield; the await helper; collections.abc -------------------
def test_new_asyncio_objects_and_the_await_helper_lead_nowhere(server):
    names = ("_flow", "_deadline", "_items", "_getters", "_putters", "_joiners", "_g", "_fn",
             "func", "args", "keywords", "__self__", "__closure__", "__globals__", "__dict__",
             "__wrapped__", "__code__", "gr_frame", "__reduce_ex__")  # fmt: skip
    body = server.execute(
        "import asyncio\n"
        "helper = getattr(asyncio, 'terrarium await call')\n"
        "async def main():\n"
        "    out = []\n"
        "    q = asyncio.Queue()\n"
        "    async with asyncio.timeout(5) as t:\n"
        "        objects = (q, t, asyncio.shield(asyncio.sleep(0)), helper(asyncio.sleep(0)),\n"
        "                   helper(q.get()), helper(asyncio.gather()))\n"
        f"        for name in {names!r}:\n"
        "            for obj in objects:\n"
        "                try:\n                    getattr(obj, name)\n"
        "                    out.append(name)\n"
        "                except Exception:\n                    out.append('refused')\n"
        "    return out\n"
        "asyncio.run(main())\n"
    )
    assert body["status"] == "ok", body
    assert set(body["result"]) == {"refused"}, body["result"]
    assert_no_effect(body)


@pytest.mark.parametrize(
    "code",
    [
        "from collections.abc import Mapping\nMapping._abc_impl",
        "from collections.abc import Mapping\ngetattr(Mapping, '__abstractmethods__')",
        "from collections.abc import Mapping\nMapping.__subclasshook__",
        "from collections.abc import Mapping\ntype(Mapping)('X', (Mapping,), {'__del__': 1})",
        "import collections.abc\ncollections.abc.sys",
        "import collections.abc\ncollections.abc.__builtins__",
        "from collections import abc\nabc.Mapping.__mro__[-1].__subclasses__()",
        "from collections.abc import Set\nclass S(Set):\n"
        "    def f(self):\n        return self._abc_impl\nS().f()",
    ],
)
def test_collections_abc_reaches_nothing(server, code):
    body = server.execute(code)
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


@pytest.mark.parametrize(
    "code",
    [
        "import unicodedata\nunicodedata.ucd_3_2_0.__class__.__subclasses__",
        "import unicodedata\nunicodedata._ucnhash_CAPI",
        "import unicodedata\ngetattr(unicodedata, '__loader__')",
        "import unicodedata\nunicodedata.UCD()",
        "import unicodedata\nunicodedata.name = len",
    ],
)
def test_unicodedata_is_functions_over_its_table_only(server, code):
    body = server.execute(code)
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


def test_common_codecs_work_in_a_confined_child(server):
    # Codec modules load on first use, from files a confined child cannot read: the zygote
    # looks the common ones up before confinement.
    body = server.execute(
        "s = 'h\\u00e9llo'\n[s.encode(c).decode(c) == s for c in ('utf-16', 'utf-16-le', 'utf-32', "
        "'utf-32-be', 'latin-1', 'cp1252', 'iso8859-15', 'utf-8-sig', 'unicode_escape')]"
    )
    assert body["status"] == "ok" and body["result"] == [True] * 9, body


def test_a_timeout_around_a_host_call_leaves_the_call_to_the_host(server):
    # asyncio.timeout cancels the script's wait, not the host's bookkeeping: the late reply is
    # read and dropped, the next call gets its own reply, and nothing outlives the execution.
    seen: list[str] = []

    async def slow(args):
        seen.append("slow")
        await asyncio.sleep(0.3)
        return "late"

    async def fast(args):
        seen.append("fast")
        return "fast"

    result = server.pool_execute(
        "import asyncio\nout = []\n"
        "try:\n    async with asyncio.timeout(0.02):\n        out.append(slow())\n"
        "except TimeoutError:\n    out.append('timed out')\n"
        "out.append(fast())\nawait asyncio.sleep(0.4)\nout.append(fast())\nout",
        host_functions={"slow": slow, "fast": fast},
    )
    assert result.status == "ok", result
    assert result.result == ["timed out", "fast", "fast"], result
    assert seen == ["slow", "fast", "fast"]


def test_non_ascii_identifiers_fold_as_in_cpython_in_a_confined_child(server):
    # The parser folds identifiers with NFKC through unicodedata, loaded in the zygote: names
    # fold as CPython folds them, and the policy sees the folded name (refusals hold: see
    # test_unicode_and_tenants.py).
    body = server.execute("caf\u00e9 = 1\n\U0001d465 = 2\n[caf\u00e9, x]")
    assert body["status"] == "ok" and body["result"] == [1, 2], body


def test_print_leads_nowhere(server):
    body = server.execute(
        "out = []\n"
        "for walk in (lambda: getattr(print, '__self__'), lambda: print.__call__,\n"
        "             lambda: print._sink, lambda: type(print).__call__,\n"
        "             lambda: getattr(print, '__dict__'),\n"
        "             lambda: getattr(type(print), '__mro__'),\n"
        "             lambda: getattr(print, '__reduce_ex__')):\n"
        "    try:\n        out.append(repr(walk()))\n"
        "    except AttributeError:\n        out.append('refused')\n"
        "import copy\n[copy.copy(print) is print, type(print)() is print] + out"
    )
    assert body["status"] == "ok" and body["result"] == [True, False] + ["refused"] * 7, body
    assert_no_effect(body)
