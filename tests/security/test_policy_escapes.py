"""Escapes of the in-child policy, each written as its attack family with the variants.

Neither the OS layers nor the host can stop a script that gets the child's own interpreter
(the real `__import__`, `open`, `eval`, `os`): it only runs with what the child already is.
So every payload here carries its attack through to that goal and asserts the goal was not
reached: no live object of the child's machinery, no write where the script may not write,
no limit exceeded, and no poisoned module seen afterwards.

Families (RestrictedPython's advisories among them):
- a real bound or unbound method of a builtin type that walks attributes by string
  (`str.format`, `str.format_map`) reached through `super`, classes, `getattr`, `map`
  (CVE-2023-41039, GHSA-xjw2-6jm9-rf67, and the 2024 `super` route);
- `AttributeError.obj`, which carries the object an attribute walk reached (CVE-2024-47532);
- `string.Formatter`, `operator.attrgetter`/`methodcaller` (CVE-2026-76825, RestrictedPython
  #330): not importable;
- `try/except*` (CVE-2025-22153): refused at compile time;
- forged client records and pages, and data answering dunder names;
- a caller's memo handed to `copy.deepcopy`, on every injected object.
"""

from __future__ import annotations

import json

import pytest
from security_helpers import assert_no_effect

from sandbox.limits import Limits

# What the child's real machinery looks like when it is described; none may come back.
REAL_MACHINERY = (
    "<built-in function __import__>",
    "<built-in function open>",
    "<built-in function eval>",
    "<module 'builtins'",
    "<module 'os'",
    "<sandbox.",
    "ESCAPED",
)


def assert_machinery_not_reached(body: dict) -> None:
    assert_no_effect(body)
    text = json.dumps([body.get("result"), body.get("stdout"), body.get("error")])
    for marker in REAL_MACHINERY:
        assert marker not in text, (marker, body)


# --- builtin methods that walk attributes by string -------------------------------------------

# A format field that walks from a script function to the real builtins module, then asks it
# for a missing name so that the AttributeError carries the module in `.obj`.
WALK = "0.__globals__[_getattr_].__globals__[builtins].nope"
ESCAPE_TAIL = (
    "except AttributeError as e:\n"
    "    if 'not available' in str(e):\n        raise\n"
    "    b = e.obj\n"
    "    real = {'__builtins__': b}\n"
    "    result = ['ESCAPED', repr(b.open), b.eval(\"__import__('os').getpid()\", real)]\n"
    "result\n"
)
PRELUDE = (
    "import functools\n"
    "class S(str):\n"
    "    def walk(self, x):\n        return super().format(x)\n"
    "    def walk_map(self, m):\n        return super().format_map(m)\n"
    "def f():\n    pass\n"
    f"s = S('{{{WALK}}}')\n"
    f"m = S('{{{WALK.replace('0.', 'x.', 1)}}}')\n"
    "result = 'not reached'\n"
    "try:\n"
)
FORMAT_ROUTES = {
    "super_bound": "super(S, s).format(f)",
    "super_unbound": "super(S, S).format(s, f)",
    "super_zero_argument": "s.walk(f)",
    "super_bound_format_map": "super(S, m).format_map({'x': f})",
    "super_unbound_format_map": "super(S, S).format_map(m, {'x': f})",
    "super_zero_argument_format_map": "m.walk_map({'x': f})",
    "subclass_class_attribute": "S.format(s, f)",
    "type_of_instance": "type(s).format(s, f)",
    "instance_of_subclass": "s.format(f)",
    "plain_str_format_map": "m.format_map({'x': f})",
    "getattr_with_default": "getattr(super(S, s), 'format', None)(f)",
    "getattr_of_unbound_super": "getattr(super(S, S), 'format_map')(m, {'x': f})",
    "map_getattr": "list(map(getattr, [super(S, s)], ['format']))[0](f)",
    "partial_getattr": "functools.partial(getattr, super(S, S))('format')(s, f)",
    "reduce_getattr": "functools.reduce(getattr, ['format'], super(S, s))(f)",
}


@pytest.mark.parametrize("route", sorted(FORMAT_ROUTES))
def test_str_format_is_unreachable_on_every_route(server, route):
    body = server.execute(PRELUDE + f"    walked = {FORMAT_ROUTES[route]}\n" + ESCAPE_TAIL)
    assert body["status"] == "error", body
    assert "str.format is not available" in body["error"]["message"], body
    assert_machinery_not_reached(body)


def test_super_still_reaches_the_scripts_own_methods(server):
    body = server.execute(
        "class A:\n"
        "    def hello(self):\n        return 'A'\n"
        "class B(A):\n"
        "    def hello(self):\n        return super().hello() + 'B'\n"
        "class T(str):\n"
        "    def shout(self):\n        return super().upper() + '!'\n"
        "b = B()\n"
        "[b.hello(), super(B, b).hello(), T('hi').shout(), T('a-b').split('-')]"
    )
    assert body["status"] == "ok", body
    assert body["result"] == ["AB", "A", "HI!", ["a", "b"]]


def test_a_scripts_own_format_method_still_works(server):
    body = server.execute(
        "class Report:\n    def format(self, x):\n        return f'<{x}>'\n"
        "class Label(str):\n    def format(self, x):\n        return self + ':' + str(x)\n"
        "[Report().format(1), Label('n').format(2), format(3.14159, '.2f')]"
    )
    assert body["status"] == "ok", body
    assert body["result"] == ["<1>", "n:2", "3.14"]


# --- AttributeError.obj ----------------------------------------------------------------------

OBJ_ROUTES = {
    "attribute": "e.obj",
    "getattr": "getattr(e, 'obj')",
    "getattr_with_default": "getattr(e, 'obj', 'refused')",
    "map_getattr": "list(map(getattr, [e], ['obj']))[0]",
    "subclass_instance": "None",  # replaced below: raised as a subclass, read as e.obj
}


@pytest.mark.parametrize("route", sorted(OBJ_ROUTES))
def test_attribute_error_obj_is_refused(server, route):
    raise_it = "    getattr(json, 'nope')\n"
    read = OBJ_ROUTES[route]
    if route == "subclass_instance":
        raise_it = "    raise Missing('m', name='nope', obj=json)\n"
        read = "e.obj"
    body = server.execute(
        "import json\nclass Missing(AttributeError):\n    pass\n"
        f"try:\n{raise_it}except AttributeError as e:\n    leaked = {read}\nleaked"
    )
    assert body["status"] == "error", body
    assert "obj" in body["error"]["message"] and "not available" in body["error"]["message"]
    assert_machinery_not_reached(body)


def test_attribute_error_name_and_message_stay_readable(server):
    body = server.execute(
        "import json\ntry:\n    json.nope\nexcept AttributeError as e:\n"
        "    out = [e.name, hasattr(e, 'obj'), 'nope' in str(e)]\nout"
    )
    assert body["status"] == "ok", body
    assert body["result"] == ["nope", False, True]


# --- other attribute walkers from the advisories -------------------------------------------

REFUSED_WALKERS = {
    "string_formatter": "import string\nstring.Formatter().get_field('0.__class__', [1], {})",
    "from_string_import_formatter": "from string import Formatter\nFormatter",
    "operator_attrgetter": "import operator\noperator.attrgetter('__class__.__subclasses__')(1)",
    "operator_methodcaller": "import operator\noperator.methodcaller('format', 1)('{0}')",
    "except_star": "try:\n    pass\nexcept* ValueError:\n    pass",
}


@pytest.mark.parametrize("name", sorted(REFUSED_WALKERS))
def test_other_attribute_walkers_are_not_available(server, name):
    body = server.execute(REFUSED_WALKERS[name])
    assert body["status"] in ("rejected", "error"), body
    assert_machinery_not_reached(body)


# --- forged records and pages ------------------------------------------------------------------

GET_RECORD = "import copy\npage = client.models.list()\nrec = page.items[0]\n"
FORGERIES = {
    "record_call": "type(rec)({'id': 'x'})",
    "record_keyword": "type(rec)(data={'id': 'x'})",
    "record_subclass": "class R(type(rec)):\n    pass\nR",
    "page_call": "type(page)(lambda c: None, 'models', {'models': []})",
    "page_subclass": "class P(type(page)):\n    pass\nP",
    "facade_call": "import json\ntype(json)('json', {'loads': 1})",
    "record_copy_reduced": "copy.copy(rec) is rec and copy.deepcopy(rec) is rec and 'copied'",
}


@pytest.mark.parametrize("name", sorted(set(FORGERIES) - {"record_copy_reduced"}))
def test_client_results_cannot_be_built_or_subclassed_by_a_script(server, name):
    body = server.execute(GET_RECORD + FORGERIES[name])
    assert body["status"] == "error", body
    assert (
        "cannot be created" in body["error"]["message"] or "subclass" in body["error"]["message"]
    ), body
    assert_machinery_not_reached(body)


def test_copying_a_record_gives_the_same_read_only_record(server):
    body = server.execute(GET_RECORD + FORGERIES["record_copy_reduced"])
    assert body["status"] == "ok" and body["result"] == "copied", body


# Objects a script holds but may not write to: the guard behind `getattr`, the `type()`
# stand-in class, a function behind a facade.
SETATTR_TARGETS = {
    "guard_function": "getattr",
    "type_stand_in": "type(int)",
    "facade_function": "json.loads",
}


@pytest.mark.parametrize("target", sorted(SETATTR_TARGETS))
def test_forged_reduce_cannot_set_attributes_on_sandbox_objects(server, target):
    # copy's reconstruction writes the state it is given with an unguarded setattr.
    held = SETATTR_TARGETS[target]
    body = server.execute(
        GET_RECORD + f"import json\ndef target():\n    return {held}\n"
        "bomb = {'__reduce_ex__': lambda p: (target, (), (None, {'pwned': 'ESCAPED'}))}\n"
        "try:\n    copy.deepcopy(type(rec)(bomb))\nexcept TypeError:\n    pass\n"
        f"getattr({held}, 'pwned', 'clean')"
    )
    assert body["status"] == "ok" and body["result"] == "clean", body


def test_forged_class_does_not_fool_isinstance(server):
    body = server.execute(
        GET_RECORD + "try:\n    fake = type(rec)({'__class__': dict})\n"
        "except TypeError:\n    fake = rec\n[isinstance(fake, dict), isinstance(rec, dict)]"
    )
    assert body["status"] == "ok" and body["result"] == [False, False], body


def test_record_data_never_answers_underscore_names(server):
    seen = {}

    async def fetch(args):
        seen["args"] = args
        return {"__class__": "str", "__deepcopy__": 1, "__reduce_ex__": 2, "_raw": 3, "ok": 4}

    result = server.pool_execute(
        "import copy\nr = fetch()\n"
        "[r.ok, r['_raw'], isinstance(r, str), copy.deepcopy(r) is r, copy.copy(r) is r]",
        host_functions={"fetch": fetch},
    )
    assert result.status == "ok", result
    assert result.result == [4, 3, False, True, True]


GROWING = (
    "import datetime\n"
    "class Grow(dict):\n"
    "    n = [0]\n"
    "    def items(self):\n"
    "        self.n[0] += 1\n"
    "        return [('k', 'x' * 100)] if self.n[0] < 2 else [('k', 'x' * 3000000)]\n"
    "    def keys(self):\n        return [k for k, _ in self.items()]\n"
)
SIZE_ROUTES = {
    "forged_raw": GET_RECORD + GROWING + "type(rec)({'_raw': lambda: Grow(a=1)})",
    "date_subclass_isoformat": GROWING
    + "class D(datetime.date):\n    def isoformat(self):\n        return Grow(a=1)\n"
    "D(2024, 1, 1)",
    "nested_in_list": GROWING + "[Grow(a=1), (Grow(b=2),)]",
    "set_of_tuples": GROWING + "{('a', 1)}",
}


@pytest.mark.parametrize("route", sorted(SIZE_ROUTES))
def test_result_size_is_measured_on_what_is_sent(server, route):
    limit = 100_000
    result = server.pool_execute(SIZE_ROUTES[route], limits=Limits(result_bytes=limit))
    encoded = json.dumps(result.result, separators=(",", ":")).encode()
    assert len(encoded) <= limit, (route, len(encoded))
    assert "x" * 1000 not in encoded.decode()


# --- a caller's memo, on every injected object ------------------------------------------------

INJECTED = {
    "print": "print",
    "facade": "json",
    "record": "rec",
    "page": "page",
    "client": "client",
    "resource": "client.models",
    "method": "client.models.list",
    "error_class": "NotFoundError",
    "lock": "asyncio.Lock()",
    "type_stand_in": "type(int)",
    "getattr": "getattr",
    "copy_facade_function": "copy.deepcopy",
}


@pytest.mark.parametrize("name", sorted(INJECTED))
def test_deepcopy_memo_receives_nothing_from_injected_objects(server, name):
    target = INJECTED[name]
    body = server.execute(
        GET_RECORD + "import json, asyncio\n"
        f"memo = {{}}\nkeep = {{}}\ncopied = copy.deepcopy({target}, memo)\n"
        "copy.deepcopy([1, [2]], keep)\n"
        "[len(memo), len(keep), [repr(v)[:60] for v in memo.values()]]"
    )
    assert body["status"] == "ok", body
    assert body["result"][:2] == [0, 0], body
    assert_machinery_not_reached(body)


def test_memo_leak_cannot_flood_stdout_or_poison_json(server):
    async def fetch(args):
        return {"id": "r", "nested": {"a": [1]}}

    limit = 1000
    result = server.pool_execute(
        "import copy, json\nmemo = {}\n"
        "copy.deepcopy([print, json, fetch(), fetch], memo)\n"
        "for held in memo.get(id(memo), []):\n"
        "    for attr in ('sink', 'parts'):\n"
        "        held = getattr(held, attr, held)\n"
        "    if type(held) is list:\n        held.extend(['x' * 10000] * 100)\n"
        "    if type(held) is dict:\n        held['dumps'] = lambda *a, **k: 'ESCAPED'\n"
        "print('hello')\njson.dumps([1])",
        limits=Limits(stdout_bytes=limit),
        host_functions={"fetch": fetch},
    )
    assert len(result.stdout.encode()) <= limit, len(result.stdout)
    assert result.result == "[1]", result


def test_deepcopy_of_the_scripts_own_data_keeps_shared_references(server):
    body = server.execute(
        "import copy\nshared = [1]\nclass Box:\n    def __init__(self, v):\n        self.v = v\n"
        "data = {'a': shared, 'b': shared, 'box': Box(shared)}\n"
        "memo = {}\nc = copy.deepcopy(data, memo)\n"
        "[c['a'] is c['b'], c['box'].v is c['a'], c['a'] is not shared, c['a'] == shared]"
    )
    assert body["status"] == "ok", body
    assert body["result"] == [True, True, True, True]
