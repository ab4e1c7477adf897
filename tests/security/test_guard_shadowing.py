"""Binding a guard hook's name (_getattr_, _write_, ...) in any syntactic position is refused,
and builtins that iterate in C still go through the guarded getattr."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

SHADOW = {
    "posonly_default": "def f(_getattr_=getattr, /):\n    return 1\nf()",
    "posonly": "def f(_getattr_, /):\n    return _getattr_(1, '__class__')\nf(getattr)",
    "kwonly": "def f(*, _getattr_=None):\n    return 1",
    "vararg": "def f(*_getattr_):\n    return 1",
    "lambda_arg": "(lambda _getattr_: 1)(None)",
    "match_capture": "match 1:\n    case _getattr_:\n        pass",
    "match_star": "match [1]:\n    case [*_getattr_]:\n        pass",
    "match_mapping_rest": "match {}:\n    case {**_write_}:\n        pass",
    "walrus": "(_getattr_ := (lambda o, n: 1))",
    "except_as": "try:\n    1/0\nexcept Exception as _getattr_:\n    pass",
    "import_as": "import json as _getattr_",
    "from_import_as": "from json import loads as _getitem_",
    "for_target": "for _getiter_ in [1]:\n    pass",
    "comprehension_target": "[1 for _getattr_ in [1]]",
    "global_assign": "def f():\n    global _getattr_\n    _getattr_ = 1\nf()",
    "class_name": "class _getattr_:\n    pass",
    "function_name": "def _write_(o):\n    return o",
    "with_as": "class C:\n    pass\nwith C() as _print_:\n    pass",
    "del_hook": "del _getattr_",
}


@pytest.mark.parametrize("name", sorted(SHADOW))
def test_guard_hooks_cannot_be_shadowed(server, name):
    body = server.execute(SHADOW[name])
    assert body["status"] == "rejected", body
    # The effect: the next execution's guards are intact.
    after = server.execute("def f():\n    pass\ngetattr(f, '__globals__')")
    assert after["status"] == "error" and "not available" in after["error"]["message"]


C_ITERATION = {
    "map_getattr": "list(map(getattr, [1, 'a'], ['__subclasses__', '__class__']))",
    "sorted_key_getattr": (
        "import functools\nsorted([1], key=functools.partial(getattr, name='__subclasses__'))"
    ),
    "filter_getattr": "list(filter(lambda n: getattr(int, n), ['__subclasses__']))",
    "reduce_getattr": (
        "import functools\nfunctools.reduce(getattr, ['__class__', '__subclasses__'], 1)"
    ),
    "max_key_getattr": "max(['__subclasses__'], key=lambda n: getattr(int, n))",
    "partial_getattr": "import functools\nfunctools.partial(getattr, int, '__subclasses__')()",
    "itertools_starmap": (
        "import itertools\nlist(itertools.starmap(getattr, [(int, '__subclasses__')]))"
    ),
    "hasattr_probe": "hasattr(int, '__subclasses__') or hasattr(1, 'gi_frame')",
}


@pytest.mark.parametrize("name", sorted(C_ITERATION))
def test_builtins_iterating_in_c_use_the_guarded_getattr(server, name):
    body = server.execute(C_ITERATION[name])
    assert body["status"] in ("rejected", "error") or body["result"] is False, body
    assert "<class" not in str(body["result"])
    assert_no_effect(body)
