"""Mutated attack payloads and random scripts: none crashes the host or leaks a secret."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_helpers import assert_no_effect

SEEDS = [
    "().__class__.__base__.__subclasses__()",
    "getattr(1, '__class__')",
    "'{0.__class__}'.format(1)",
    "import json\njson.loads = None",
    "client.models.list = None",
    "type(int)('X', (), {})",
    "def g():\n    yield 1\ngetattr(g(), 'gi_frame')",
    "import os\nos.environ",
    "client.projects.retrieve('prj_x')",
    "[1, 2, 3]",
    "inputs",
]
ATOMS = [
    "getattr", "type", "client", "inputs", "json", "'__class__'", "'_host_call'", "1", "()",
    "[]", "{}", "lambda x: x", "print", "format", "map", "'{0}'", "None", "str", "object",
    "client.models", "client.models.list", "NotFoundError", "iter", "next",
]  # fmt: skip
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check(server, code: str) -> None:
    body = server.execute(code, timeout_s=3, cpu_s=2)  # also asserts no host secret leaked
    assert body["status"] in ("ok", "error", "rejected", "timeout", "limit_exceeded")
    assert_no_effect(body)


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(0, 40),
    insert=st.text(alphabet="_.()[]'\"{}:=,\n ＿abcx0", max_size=6),
)
def test_mutated_payloads(server, seed, cut, insert):
    position = min(cut, len(seed))
    check(server, seed[:position] + insert + seed[position:])


expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["x", "list", "loads", "format", "items"])).map(
            lambda t: f"{t[0]}.{t[1]}"
        ),
        st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
    ),
    max_leaves=6,
)


@FUZZ
@given(lines=st.lists(expressions, min_size=1, max_size=4))
def test_random_scripts(server, lines):
    check(server, "\n".join(f"x = {line}" for line in lines[:-1]) + f"\n{lines[-1]}")


def test_server_healthy_after_fuzzing(server):
    server.healthy()
