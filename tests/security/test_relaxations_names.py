"""Names, attributes and syntax agents write: each relaxation works, and the attack families it
could open stay closed, by syntax and by every dynamic route (getattr, hasattr, setattr,
delattr, super, match patterns, builtins that call getattr from C), and with the policy layer
gone (raw mode) the OS layers still keep the host's secrets."""

from __future__ import annotations

import pytest
from security_helpers import CANARY, RAW_LIMITS, assert_no_effect

ALLOWED = {
    "type_name": ("class E(Exception):\n    pass\ntype(E()).__name__", "E"),
    "func_name": ("def f():\n    pass\n[f.__name__, f.__qualname__]", ["f", "f"]),
    "cause": (
        "try:\n    try:\n        1/0\n    except ZeroDivisionError as e:\n"
        "        raise ValueError('v') from e\nexcept ValueError as e:\n"
        "    r = [type(e.__cause__).__name__, type(e.__context__).__name__]\nr",
        ["ZeroDivisionError", "ZeroDivisionError"],
    ),
    "class_of": (
        "x = 1\n[x.__class__ is int, int.__class__ is type, type(int) is type]",
        [1, 1, 1],
    ),
    "private": (
        "class A:\n    def __init__(self):\n        self._n = 1\n        self.__m = 2\n"
        "    def _get(self):\n        return self._n + self.__m\nA()._get()",
        3,
    ),
    "dunders": (
        "class V:\n    def __init__(self, x):\n        self.x = x\n"
        "    def __add__(self, o):\n        return V(self.x + o.x)\n"
        "    def __eq__(self, o):\n        return self.x == o.x\n"
        "    def __hash__(self):\n        return hash(self.x)\n"
        "    def __repr__(self):\n        return f'V({self.x})'\n"
        "    def __enter__(self):\n        return self\n"
        "    def __exit__(self, *a):\n        return False\n"
        "with V(1) as v:\n    r = [repr(v + V(2)), V(3) == V(3), len({V(1), V(1)})]\nr",
        ["V(3)", True, 1],
    ),
    "super_init": (
        "class B(Exception):\n    def __init__(self, m):\n        super().__init__(m)\n"
        "        self.m = m\nclass C(B):\n    def __init__(self):\n        super().__init__('c')\n"
        "[str(C()), C().m]",
        ["c", "c"],
    ),
    "setattr_delattr": (
        "class A:\n    pass\na = A()\nsetattr(a, '_x', 1)\nsetattr(a, 'y', 2)\n"
        "delattr(a, 'y')\n[a._x, hasattr(a, 'y'), getattr(a, '_z', 'd')]",
        [1, False, "d"],
    ),
    "namedtuple_api": (
        "import collections\nP = collections.namedtuple('P', 'a b')\np = P(1, 2)\n"
        "[p._replace(a=3)._asdict(), list(p._fields)]",
        [{"a": 3, "b": 2}, ["a", "b"]],
    ),
    "identity": (
        "[print is print, getattr.__name__, type.__name__, print.__name__, setattr.__name__]",
        [True, "getattr", "type", "print", "setattr"],
    ),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowed_forms_run_as_in_cpython(server, name):
    code, expected = ALLOWED[name]
    body = server.execute(code)
    assert body["status"] == "ok", body
    assert body["result"] == expected
    assert_no_effect(body)


# Each refused attribute, by syntax and by each dynamic route, on a function, a class, a
# builtin, a module facade, the client and a script instance.
REFUSED_NAMES = [
    "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__func__",
    "__self__", "__bases__", "__base__", "__mro__", "__traceback__", "__reduce__",
    "__reduce_ex__", "__getattribute__", "__init_subclass__", "__class_getitem__",
    "__set_name__", "__loader__", "__spec__", "__import__", "__setattr__", "__delattr__",
    "__defaults__", "__wrapped__", "__getstate__",
]  # fmt: skip
TARGETS = "[f, A, A(), print, getattr, len, json, client, int, object, E(), super(A, A())]"
SETUP = (
    "import json\ndef f():\n    pass\nclass A:\n    pass\nclass E(Exception):\n    pass\n"
    "try:\n    1/0\nexcept Exception as err:\n    e = err\n"
)


@pytest.mark.parametrize("attr", REFUSED_NAMES)
def test_refused_attributes_stay_refused_on_every_route(server, attr):
    syntax = server.execute(SETUP + f"f.{attr}")
    assert syntax["status"] == "rejected", syntax
    routes = (
        f"out = []\nfor t in {TARGETS} + [e]:\n"
        f"    out.append(hasattr(t, {attr!r}))\n"
        f"    for args in [(t, {attr!r}), (t, {attr!r}, 'd')]:\n"
        "        try:\n            out.append(repr(getattr(*args))[:30])\n"
        "        except (AttributeError, TypeError):\n            out.append('refused')\n"
        "import functools\n"
        f"for call in (lambda: list(map(getattr, [f], [{attr!r}])),\n"
        f"             lambda: functools.partial(getattr, A, {attr!r})(),\n"
        f"             lambda: sorted([A], key=functools.partial(getattr, name={attr!r}))):\n"
        "    try:\n        out.append(repr(call())[:30])\n"
        "    except (AttributeError, TypeError):\n        out.append('refused')\nout"
    )
    body = server.execute(SETUP + routes)
    assert body["status"] == "ok", body
    assert set(body["result"]) <= {"refused", False, "'d'"}, body["result"]
    assert_no_effect(body)


WRITES = {
    "setattr_dunder": "class A:\n    pass\nsetattr(A(), '__class__', dict)",
    # The script's own class may be written to (`Job.count += 1`), but never a dunder of it.
    "setattr_class_dunder": "class A:\n    pass\nsetattr(A, '__getattribute__', len)",
    "class_dunder_store": "class A:\n    pass\nA.__reduce_ex__ = len",
    "setattr_sandbox_class": "page = client.models.list()\nsetattr(type(page.items[0]), 'x', 1)",
    "setattr_builtin_class": "setattr(int, 'x', 1)",
    "setattr_facade": "import json\nsetattr(json, 'loads', print)",
    "setattr_client": "setattr(client, 'models', 1)",
    # The data model's methods may be set on the script's own classes only: never on a class
    # a facade hands out, a built-in, the sandbox's streams, or an immutable value.
    "setattr_init_on_abc": (
        "import collections.abc\nsetattr(collections.abc.Mapping, '__init__', len)"
    ),
    "store_eq_on_abc": "from collections.abc import Sequence\nSequence.__eq__ = len",
    "setattr_repr_on_path": "import pathlib\nsetattr(pathlib.PurePosixPath, '__repr__', len)",
    "store_fspath_on_path": "from pathlib import Path\nPath.__fspath__ = len",
    "setattr_add_on_int": "setattr(int, '__add__', len)",
    "store_index_on_bool": "bool.__index__ = len",
    "setattr_write_on_stream": "import sys\nsetattr(type(sys.stdout), 'write', len)",
    "store_call_on_print": "type(print).__call__ = len",
    "store_dunder_on_int_value": "(5).__add__ = len",
    "setattr_dunder_on_str_value": "setattr('x', '__len__', len)",
    "setattr_init_on_exception_class": "setattr(ValueError, '__init__', len)",
    "delattr_facade": "import json\ndelattr(json, 'loads')",
    "delattr_dunder": "class A:\n    pass\ndelattr(A(), '__dict__')",
    "aug_facade_attr": "import json\njson.loads += 1",
    "aug_client_attr": "client.models += 1",
    "aug_dunder_attr": "class A:\n    pass\na = A()\na.__class__ += 1",
    "aug_record_item": "page = client.models.list()\nrec = page.items[0]\nrec['id'] += 'x'",
    "aug_record_attr": "page = client.models.list()\nrec = page.items[0]\nrec.id += 'x'",
    "aug_inputs_facade": "import string\nstring.ascii_letters += 'x'",
    "str_subclass_name": (
        "class S(str):\n    def __eq__(self, o):\n        return True\n"
        "    def __hash__(self):\n        return hash('x')\ngetattr(1, S('__subclasses__'))"
    ),
    "private_on_facade": "import json\ngetattr(json, '_default_decoder')",
    "private_on_record": "page = client.models.list()\ngetattr(page.items[0], '_record_data')",
    "private_on_library_class": "import json\ngetattr(json.JSONDecoder(), '_scan_once')",
    "object_new_forges_record": (
        "page = client.models.list()\nR = type(page.items[0])\n"
        "class A:\n    def __new__(cls):\n        return super().__new__(R)\nA()"
    ),
    "object_new_direct": "page = client.models.list()\nobject.__new__(type(page.items[0]))",
    "dict_of_class": "class A:\n    pass\ngetattr(A, '__dict__')",
    "dict_of_function": "def f():\n    pass\ngetattr(f, '__dict__')",
    "reserved_binding": "_getattr_ = 1",
    "reserved_print": "_print = 1",
    "reserved_tmp": "_tmp0 = 1",
    "dunder_name": "__builtins__",
    "dunder_name_binding": "__metaclass__ = 1",
    "match_kwd_format": "match 'x':\n    case str(format=f):\n        f",
    "match_kwd_dunder": "match 1:\n    case int(__class__=c):\n        c",
    "match_kwd_obj": "try:\n    (1).nope\nexcept AttributeError as e:\n    match e:\n"
    "        case AttributeError(obj=o):\n            o",
    "match_kwd_frame": (
        "def g():\n    yield 1\nmatch g():\n    case object(gi_frame=fr):\n        fr"
    ),
    "match_value_private": "import json\nmatch 1:\n    case json._default_decoder:\n        pass",
    "match_args_dunder": (
        "class A(Exception):\n    __match_args__ = ('__traceback__',)\n"
        "try:\n    raise A()\nexcept A as e:\n    match e:\n        case A(tb):\n            tb"
    ),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_dangerous_variants_are_refused(server, name):
    body = server.execute(WRITES[name])
    assert body["status"] in ("rejected", "error"), body
    assert "ESCAPED" not in str(body["result"])
    assert_no_effect(body)
    assert server.execute("import json\njson.loads('[1]')")["result"] == [1]  # nothing poisoned


def test_a_refusal_says_how_to_rewrite(server):
    body = server.execute("def f():\n    pass\nf.__globals__")
    assert body["status"] == "rejected"
    problem = body["error"]["problems"][0]
    assert "__globals__" in problem["message"] and problem["hint"]


def test_entry_point_is_only_a_top_level_run(server):
    body = server.execute(
        "class Job:\n    def run(self, client):\n        return 'method'\n"
        "j = Job()\nrun = j.run\n'module'"
    )
    assert body["status"] == "ok" and body["result"] == "module", body
    body = server.execute("async def run(client):\n    return 'entry'")
    assert body["status"] == "ok" and body["result"] == "entry", body


def test_object_graph_walk_with_the_policy_gone_reaches_no_secret(raw):
    # Raw mode: no policy, no guards. The walk the attribute rule keeps closed is carried
    # through to os and open(); the OS layers must still hold.
    code = (
        "out = []\n"
        "subs = ().__class__.__base__.__subclasses__()\n"
        "mods = [c for c in subs if c.__name__ == '_wrap_close']\n"
        "g = mods[0].__init__.__globals__ if mods else {}\n"
        "try:\n    out.append(repr(dict(g['environ'])) if g else 'no os')\n"
        "except Exception as e:\n    out.append(repr(e))\n"
        "for p in ('/proc/1/environ', '/etc/passwd'):\n"
        "    try:\n        out.append(open(p, 'rb').read()[:300].decode('latin-1'))\n"
        "    except OSError as e:\n        out.append('refused ' + repr(e))\n"
        "result = out"
    )
    result = raw.run(code, RAW_LIMITS)
    assert result.status == "ok", result
    assert CANARY not in str(result)
    assert all(part.startswith("refused") for part in result.result[1:]), result.result
