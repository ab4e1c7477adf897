"""Class bodies, decorators, metaclasses, and allowed dunders as time bombs for the host.

A script-defined __eq__/__str__/__repr__/__hash__/__iter__/__len__/__del__ must never run in
the host: results and call arguments leave the child as JSON made inside the child.
"""

from __future__ import annotations

import time

import pytest
from security_helpers import assert_no_effect

JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def plain(value):
    """True when value is made only of exact JSON types (no subclass, no live object)."""
    if type(value) not in JSON_TYPES:
        return False
    if type(value) is dict:
        return all(type(k) is str and plain(v) for k, v in value.items())
    if type(value) is list:
        return all(plain(v) for v in value)
    return True


REFUSED = {
    # type()'s 3-argument form and stores on the script's own classes may define what a class
    # body may (see test_relaxations_everyday.py); what a body may not define stays refused.
    "three_arg_type": "type('X', (), {'__del__': lambda s: print('ESCAPED')})",
    "metaclass_keyword": "class M:\n    pass\nclass X(metaclass=M):\n    pass",
    "dunder_del_in_body": "class X:\n    def __del__(self):\n        pass",
    "class_attr_dunder_write": "class X:\n    pass\nX.__del__ = lambda s: print('ESCAPED')",
    "instance_dunder_write": "class X:\n    pass\nx = X()\nx.__class__ = dict",
    "setattr_dunder_on_class": (
        "class X:\n    pass\nsetattr(X, '__getattribute__', lambda s, n: 'ESCAPED')\nX().a"
    ),
    "setattr_dunder_on_instance": "class X:\n    pass\nsetattr(X(), '__class__', dict)",
    "reduce_in_body": "class X:\n    def __reduce__(self):\n        return (print, ('ESCAPED',))",
    "reduce_ex_in_body": "class X:\n    def __reduce_ex__(self, p):\n        return (print, ())",
    "setstate_in_body": "class X:\n    def __setstate__(self, s):\n        pass",
    "setattr_in_body": "class X:\n    def __setattr__(self, n, v):\n        pass",
    "set_name_in_body": "class X:\n    def __set_name__(self, o, n):\n        pass",
    "class_getitem_in_body": "class X:\n    def __class_getitem__(cls, i):\n        pass",
    "subclasshook_in_body": "class X:\n    def __subclasshook__(cls, c):\n        return True",
    "dict_in_body": "class X:\n    __dict__ = {}",
    "match_args_dunder": "class X:\n    __match_args__ = ('__class__',)",
    "super_setattr": ("class X:\n    def f(self):\n        return super().__setattr__\nX().f()"),
    "super_new_builds_sandbox_type": (
        "class X:\n    def __new__(cls):\n        return super().__new__(type(client))\nX()"
    ),
    "decorator_setattr": (
        "import copy\ndef deco(cls):\n"
        "    setattr(cls, '__reduce_ex__', lambda s, p: (print, ('ESCAPED',)))\n    return cls\n"
        "@deco\nclass X:\n    pass\ncopy.copy(X())"
    ),
    "init_subclass": "class X:\n    def __init_subclass__(cls):\n        pass",
    "getattribute_in_body": "class X:\n    def __getattribute__(self, n):\n        return 1",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_class_tricks_are_refused(server, name):
    body = server.execute(REFUSED[name])
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


BOMB = (
    "import time\n"
    "class Bomb:\n"
    "    def __init__(self):\n        self.v = 1\n"
    "    def __eq__(self, other):\n        time.sleep(5)\n        raise RuntimeError('ESCAPED')\n"
    "    def __contains__(self, item):\n        time.sleep(5)\n        return True\n"
)


def test_eq_time_bomb_in_result_never_runs(server):
    started = time.monotonic()
    body = server.execute(BOMB + "[Bomb(), {'k': Bomb()}]")
    assert time.monotonic() - started < 3
    assert body["status"] == "ok", body
    assert all(isinstance(item, (str, dict)) for item in body["result"])
    assert_no_effect(body)


def test_time_bomb_as_call_argument_never_reaches_the_host(server):
    seen = []

    async def echo(args):
        seen.append(args)
        return "ok"

    started = time.monotonic()
    result = server.pool_execute(
        BOMB + "out = []\nfor x in (Bomb(), [Bomb()], {'a': Bomb()}):\n"
        "    try:\n        out.append(echo(x))\n"
        "    except TypeError as e:\n        out.append('refused')\nout",
        host_functions={"echo": echo},
    )
    assert time.monotonic() - started < 3
    assert result.status == "ok" and result.result == ["refused"] * 3, result
    assert seen == []


def test_subclass_arguments_arrive_as_plain_json(server):
    seen = []

    async def echo(args):
        seen.append(args)
        return args

    result = server.pool_execute(
        "class S(str):\n    def __eq__(self, o):\n        return 'ESCAPED'\n"
        "class I(int):\n    def __eq__(self, o):\n        return 'ESCAPED'\n"
        "class D(dict):\n    def __eq__(self, o):\n        return 'ESCAPED'\n"
        "class L(list):\n    def __eq__(self, o):\n        return 'ESCAPED'\n"
        "echo(S('s'), I(3), D(a=S('x')), L([I(1)]), key=S('v'))",
        host_functions={"echo": echo},
    )
    assert result.status == "ok", result
    assert len(seen) == 1 and plain(seen[0])
    assert seen[0] == {"args": ["s", 3, {"a": "x"}, [1]], "kwargs": {"key": "v"}}
    assert plain(result.result)


def test_dict_subclass_result_methods_are_not_called(server):
    body = server.execute(
        "class D(dict):\n"
        "    def items(self):\n        raise RuntimeError('ESCAPED')\n"
        "    def keys(self):\n        raise RuntimeError('ESCAPED')\n"
        "    def __eq__(self, o):\n        raise RuntimeError('ESCAPED')\n"
        "d = D()\nd['a'] = 1\nd"
    )
    assert body["status"] == "ok" and body["result"] == {"a": 1}, body


def test_script_class_instances_are_writable_but_library_classes_are_not(server):
    body = server.execute(
        "import json\nclass A:\n    pass\na = A()\na.x = 1\n"
        "try:\n    json.JSONDecodeError.x = 1\n    r = 'ESCAPED'\n"
        "except TypeError:\n    r = 'refused'\n[a.x, r]"
    )
    assert body["result"] == [1, "refused"], body


def test_dunder_methods_of_the_scripts_own_classes_run_in_the_child_only(server):
    # Defining data-model methods is allowed (they were refused before): they run in the child,
    # under its guards, and a result leaves it as plain JSON without calling them in the host.
    body = server.execute(
        "class X:\n    __repr__ = lambda s: 'R'\n    def __str__(self):\n        return 'S'\n"
        "    def __eq__(self, o):\n        return 'ESCAPED'\n[str(X()), repr(X()), X()]"
    )
    assert body["status"] == "ok", body
    assert body["result"][:2] == ["S", "R"] and plain(body["result"])
