"""Frames through generators, coroutines and tracebacks; exceptions that carry objects."""

from __future__ import annotations

import pytest
from security_helpers import assert_no_effect

REFUSED = {
    "gi_frame": "def g():\n    yield 1\nx = g()\nx.gi_frame.f_globals",
    "gi_frame_getattr": "def g():\n    yield 1\ngetattr(g(), 'gi_frame')",
    "gi_code": "def g():\n    yield 1\ngetattr(g(), 'gi_code')",
    "gi_yieldfrom": "def g():\n    yield from [1]\ngetattr(g(), 'gi_yieldfrom')",
    "coroutine_cr_frame": "async def c():\n    return 1\ngetattr(c(), 'cr_frame')",
    "genexpr_frame": "getattr((i for i in [1]), 'gi_frame')",
    "traceback_attr": "try:\n    1/0\nexcept Exception as e:\n    t = e.__traceback__\nt",
    "traceback_getattr": (
        "try:\n    1/0\nexcept Exception as e:\n    t = getattr(e, '__traceback__')\nt"
    ),
    "tb_frame_via_context": (
        "try:\n    try:\n        1/0\n    except Exception:\n        raise ValueError('v')\n"
        "except Exception as e:\n    c = getattr(e, '__context__')\ngetattr(c, '__traceback__')"
    ),
    "sys_exc_info": "import sys\nsys.exc_info()",
    "f_back_chain": (
        "def g():\n    yield 1\nx = g()\nnext(x)\ngetattr(getattr(x, 'gi_frame'), 'f_back')"
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_frames_are_unreachable(server, name):
    body = server.execute(REFUSED[name])
    assert body["status"] in ("rejected", "error"), body
    assert_no_effect(body)


def test_coroutines_do_not_exist_in_the_sandbox(server):
    # async def is desugared to def: calling it gives an Awaitable (the function and its
    # arguments, sandbox/concurrency.py), never a coroutine object with frames inside.
    body = server.execute("async def c():\n    return 41\nx = c()\ntype(x).__name__")
    assert body["status"] == "ok" and body["result"] != "coroutine", body
    body = server.execute("async def c():\n    return 41\n(await c()) + 1")
    assert body["status"] == "ok" and body["result"] == 42
    # As in CPython, an awaitable is not its value; what it holds is out of reach (the
    # variants: tests/security/test_concurrent_calls.py::test_awaitables_and_tasks_lead_nowhere).
    body = server.execute("async def c():\n    return 41\nc() + 1")
    assert body["status"] == "error" and body["error"]["type"] == "TypeError", body
    for name in ("cr_frame", "gi_frame", "_fn", "__closure__"):
        body = server.execute(f"async def c():\n    return 41\ngetattr(c(), {name!r})")
        assert body["status"] == "error", (name, body)


def test_attribute_error_obj_is_refused_whatever_it_holds(server):
    # `.obj` carries the object a failed lookup reached, wherever the lookup ran (CVE-2024-47532);
    # the variants are in test_policy_escapes.py.
    body = server.execute(
        "import json\nout = []\n"
        "for target in (1, json, client.models, [1]):\n"
        "    try:\n        getattr(target, 'nope')\n"
        "    except AttributeError as e:\n        out.append(repr(e.obj)[:40])\nout"
    )
    assert body["status"] == "error", body
    assert "AttributeError.obj is not available" in body["error"]["message"]
    assert_no_effect(body)


def test_exception_args_carry_no_internals(server):
    body = server.execute(
        "try:\n    client.projects.retrieve('prj_does_not_exist')\n"
        "except NotFoundError as e:\n"
        "    out = ['NotFoundError', e.args, e.status, e.code, e.fields, e.request_id,\n"
        "           repr(e.message)]\nout"
    )
    assert body["status"] == "ok", body
    assert body["result"][0] == "NotFoundError"
    assert_no_effect(body)


def test_client_error_attributes_are_read_only_data(server):
    body = server.execute(
        "try:\n    client.projects.retrieve('prj_does_not_exist')\n"
        "except Exception as e:\n    e.status = 200\n"
    )
    assert body["status"] == "error" and "read-only" in body["error"]["message"]


def test_exception_with_hostile_str_is_described_safely(server):
    body = server.execute(
        "class E(Exception):\n    def __init__(self):\n        self.x = 1\n"
        "    def __eq__(self, other):\n        return 'ESCAPED'\nraise E()"
    )
    assert body["status"] == "error" and body["error"]["type"] == "E"
    assert_no_effect(body)
