"""Walking the object graph: __subclasses__, __globals__, mro, modules behind allowed modules."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

PAYLOADS = {
    "subclasses": "().__class__.__bases__[0].__subclasses__()",
    "subclasses_getattr": (
        "o = getattr(getattr((), '__class__'), '__base__')\ngetattr(o, '__subclasses__')()"
    ),
    "function_globals": "def f():\n    pass\ngetattr(f, '__globals__')['__builtins__']",
    "mro_method": "getattr(type(1), 'mro')()",
    "mro_attr_syntax": "int.mro()",
    "json_decoder": "import json\ngetattr(json, 'decoder').scanner",
    "datetime_sys": "import datetime\ndatetime.sys.modules['os']",
    "statistics_sys": "import statistics\nstatistics.sys",
    "re_compiler": "import re\nre._compiler",
    "random_os": "import random\nrandom._os.system('true')",
    "collections_abc": "import collections\ncollections.abc.Callable.__subclasses__()",
    "import_os": "import os\nos.getpid()",
    "import_builtin": "__import__('os')",
    "dunder_import_string": "getattr(__builtins__, '__import__')('os')",
    "from_json_import_decoder": "from json import decoder\ndecoder",
    "facade_members": "import json\ngetattr(json, '_facade_members')",
    "typing_origin_walk": "import typing\ngetattr(typing.List, '__origin__')",
    "typing_forward_to_abc": ("import typing\ntyping.Callable.register(int)\ntyping.sys"),
    "namedtuple_internals": (
        "import collections\nP = collections.namedtuple('P', 'a')\n"
        "getattr(getattr(P, '_make'), '__func__')"
    ),
    "partial_func_walk": (
        "import functools\np = functools.partial(print)\ngetattr(p.func, '__self__')"
    ),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_object_graph_walk_reaches_nothing(server, name):
    body = server.execute(PAYLOADS[name])
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


def test_metaclass_from_type_of_a_class_cannot_build_classes(server):
    # type(SomeClass) used to hand out the real `type`: its 3-argument form built a class with
    # a __repr__ that trusted code in the child then ran.
    # Now it builds a class as a class statement does: the body's allow-list holds.
    body = server.execute(
        "T = type(int)\nX = T('X', (), {'__getattribute__': lambda self, n: 'ESCAPED'})\nX().a"
    )
    assert body["status"] == "error" and "cannot be defined" in body["error"]["message"]
    assert_no_effect(body)


def test_metaclass_of_a_typing_object_cannot_build_classes(server):
    body = server.execute(
        "import typing\nM = type(typing.Any)\n"
        "X = M('X', (), {'__reduce_ex__': lambda self, p: (print, ('ESCAPED',))})\nX()"
    )
    assert body["status"] == "error"
    assert_no_effect(body)


def test_type_of_a_class_still_works_for_isinstance(server):
    body = server.execute("[isinstance(int, type(int)), isinstance(1, type(int)), type(1) is int]")
    assert body["result"] == [True, False, True]
