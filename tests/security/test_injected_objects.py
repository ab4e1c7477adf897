"""Writes to injected objects (client, inputs, facades) and the client proxy's internals.

Every execution runs in a fresh child, so even a write that succeeded could not reach the next
one; each test checks both that the write is refused and that the NEXT execution is clean.
"""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

WRITES = {
    "client_attr": "client.x = 1",
    "client_method": "client.models.list = lambda *a, **k: 'ESCAPED'",
    "client_resource": "client.models = None",
    "client_del": "del client.models",
    "json_loads": "import json\njson.loads = lambda s: 'ESCAPED'",
    "json_del": "import json\ndel json.loads",
    "math_pi": "import math\nmath.pi = 3",
    "facade_setattr_builtin": "import json\nsetattr(json, 'loads', None)",
    "error_class_attr": "NotFoundError.status = 200",
    "builtin_type_attr": "int.x = 1",
    "record_write": "r = client.models.list()\nfor m in r:\n    m.id = 'ESCAPED'\n    break",
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_writes_to_injected_objects_are_refused(server, name):
    body = server.execute(WRITES[name])
    assert body["status"] in ("rejected", "error"), body
    after = server.execute(
        "import json, math\n[json.loads('[1]'), math.pi > 3.14, repr(client)[:8]]"
    )
    assert after["status"] == "ok" and after["result"][:2] == [[1], True], after
    assert_no_effect(after)


def test_poisoning_shared_state_does_not_reach_the_next_execution(server):
    first = server.execute(
        "import random, typing\nrandom.seed(1)\ntyping.Iterable.register(int)\n"
        "inputs['x'] = 'poisoned'\nimport json\n[isinstance(1, typing.Iterable), inputs]",
        inputs={"x": 1},
    )
    assert first["result"] == [True, {"x": "poisoned"}]
    second = server.execute(
        "import typing\n[isinstance(1, typing.Iterable), inputs]", inputs={"x": 1}
    )
    assert second["result"] == [False, {"x": 1}], second


PROXY_NAMES = [
    "_host_call", "__dict__", "__closure__", "__globals__", "__code__",
    "__self__", "__wrapped__", "__func__", "__slots__", "_record_data", "_page_call",
    "transport", "api_key", "_client", "http", "channel", "sock", "_channel", "key",
    "session", "headers", "base_url", "flora", "_transport", "auth",
]  # fmt: skip


@pytest.mark.parametrize("name", PROXY_NAMES)
def test_client_proxy_exposes_no_channel_key_or_internals(server, name):
    targets = ["client", "client.models", "client.models.list", "client.techniques.runs"]
    for target in targets:
        syntax = server.execute(f"{target}.{name}")
        assert syntax["status"] in ("rejected", "error"), (target, syntax)
        by_string = server.execute(f"getattr({target}, {name!r})")
        assert by_string["status"] in ("rejected", "error"), (target, by_string)
        assert_no_effect(by_string)


def test_records_and_pages_expose_only_data(server):
    body = server.execute(
        "page = client.models.list()\nout = []\n"
        "for name in ('_page_call', '_page_data', '_raw', 'get_next_page', 'has_next_page'):\n"
        "    try:\n        out.append(repr(getattr(page, name))[:30])\n"
        "    except AttributeError:\n        out.append('refused')\nout"
    )
    assert body["status"] == "ok", body
    assert body["result"][:3] == ["refused"] * 3
    assert_no_effect(body)


def test_client_proxy_class_is_only_its_type(server):
    # `__class__` is readable (it was refused before): it is `type(x)`, and nothing reachable
    # from the class leads to the channel, the key or the interpreter.
    body = server.execute(
        "out = [getattr(client, '__class__') is type(client), "
        "getattr(client.models, '__class__') is type(client.models)]\n"
        "for name in ('__dict__', '__subclasses__', '__mro__', '__bases__', '_host_call', "
        "'__new__', '__init__', '__reduce_ex__'):\n"
        "    try:\n        getattr(type(client), name)\n        out.append(name)\n"
        "    except AttributeError:\n        out.append('refused')\nout"
    )
    assert body["status"] == "ok", body
    assert body["result"][:2] == [True, True]
    assert body["result"][2:] in (["refused"] * 8, ["refused"] * 6 + ["__init__", "refused"])
    assert_no_effect(body)
