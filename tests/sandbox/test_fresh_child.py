"""What a fresh child inherits from the zygote and what its compile and result paths skip.

The zygote resets its own signal setup in each child without the `signal` module's enum
conversions; the compile skips the pass over `await` calls for a script without async/await;
the result encoder is made once; the zygote reads the host's spawn requests without json. Each
keeps what it did before, checked here.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math

import pytest

from client_surface.table import sandbox_spec
from sandbox import policy, runner, zygote
from sandbox.pool import WarmPool
from sandbox.surface import SurfaceSpec


async def test_a_child_starts_with_default_sigterm_and_sigchld_and_no_wakeup_fd():
    # The zygote catches SIGTERM, and SIGCHLD while the host waits for a child's exit report,
    # and has a wakeup fd; none of it reaches a child, even one forked while it catches SIGCHLD.
    pool = WarmPool(sandbox_spec(), warm=2, allow_raw=True)
    await pool.start()
    try:
        for _ in range(200):
            if len(pool._idle) == 2:
                break
            await asyncio.sleep(0.05)
        # The zygote catches SIGCHLD until this warm child is reaped, so the replacements of
        # the first execution are forked with its handler in place.
        pool._ask_for_exit(pool._idle[1].pid)
        code = (
            "import signal\n"
            "result = {\n"
            "    'term': int(signal.getsignal(signal.SIGTERM)),\n"
            "    'chld': int(signal.getsignal(signal.SIGCHLD)),\n"
            "    'wakeup': signal.set_wakeup_fd(-1),\n"
            "}\n"
        )
        for _ in range(3):  # the third runs on a child forked while SIGCHLD was caught
            result = await pool.execute(code, raw=True)
            assert result.status == "ok", result.error
            default = 0  # SIG_DFL
            assert result.result == {"term": default, "chld": default, "wakeup": -1}
    finally:
        await pool.stop()


@pytest.fixture(scope="module")
def spec() -> SurfaceSpec:
    return SurfaceSpec.from_json(json.loads(json.dumps(sandbox_spec())))


def test_a_script_without_async_or_await_skips_the_await_pass(monkeypatch, spec):
    def refuse(self, node):
        raise AssertionError("the await pass ran")

    monkeypatch.setattr(policy._AwaitCalls, "visit", refuse)
    compiled = policy.compile_script("rows = [i * 2 for i in range(3)]\nrows", spec)
    assert compiled.code is not None and not compiled.problems
    with pytest.raises(AssertionError, match="the await pass ran"):
        policy.compile_script("async def run(client):\n    await client.models.list()", spec)


def test_an_async_script_still_has_its_awaits_turned_into_calls(spec):
    compiled = policy.compile_script(
        "import asyncio\nasync def run(client):\n    await asyncio.sleep(0)\n    return 1", spec
    )
    assert compiled.code is not None and not compiled.problems
    assert compiled.tree is not None
    names = {getattr(n, "id", None) for n in ast.walk(compiled.tree)}
    assert policy.AWAIT_CALL in names and policy.AWAIT not in names


def test_every_guard_call_of_an_attribute_chain_has_the_attribute_s_location(spec):
    source = "x = 1\ny = (\n    x.real\n    .imag.real\n)\nx.imag"
    compiled = policy.compile_script(source, spec)
    assert compiled.code is not None and compiled.tree is not None
    getattrs = [
        n
        for n in ast.walk(compiled.tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "_getattr_"
    ]
    assert len(getattrs) == 4
    for call in getattrs:
        for node in (call, call.func, call.args[1]):
            assert (node.lineno, node.end_lineno) == (call.lineno, call.end_lineno)
    assert sorted((c.lineno, c.end_lineno) for c in getattrs) == [(3, 3), (3, 4), (3, 4), (6, 6)]


def test_a_node_made_without_a_location_still_compiles(monkeypatch, spec):
    keep_last = policy._keep_last_expression

    def keep_last_then_add_a_bare_node(tree: ast.Module) -> None:
        keep_last(tree)
        tree.body.append(ast.Expr(ast.Constant(1)))  # no lineno: compile() refuses it alone

    monkeypatch.setattr(policy, "_keep_last_expression", keep_last_then_add_a_bare_node)
    compiled = policy.compile_script("x = 1", spec)
    assert compiled.code is not None and not compiled.problems


def test_a_compile_error_that_is_not_a_missing_location_is_not_hidden_by_the_retry(
    monkeypatch, spec
):
    keep_last = policy._keep_last_expression

    def keep_last_then_add_a_bad_node(tree: ast.Module) -> None:
        keep_last(tree)
        bad = ast.Expr(ast.Constant([1]))  # no lineno, and a Constant compile() never takes
        tree.body.append(bad)

    monkeypatch.setattr(policy, "_keep_last_expression", keep_last_then_add_a_bad_node)
    with pytest.raises(TypeError, match="invalid type in Constant"):
        policy.compile_script("x = 1", spec)


def test_the_result_encoder_writes_what_json_dumps_wrote_with_its_options():
    value = {"é": [1, 2.5, None, True, "ü\u2028"], "n": {"a": []}}
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert runner.encode_result(value) == expected
    assert runner.encode_result(value) == expected  # the shared encoder keeps no state
    with pytest.raises(ValueError):
        runner.encode_result([math.nan])
    with pytest.raises(ValueError):
        runner.encode_result({"x": math.inf})


def test_the_zygote_reads_a_spawn_request_as_the_host_writes_it_without_json(monkeypatch):
    for n in (0, 1, 7, 256, 1000):
        data = json.dumps({"op": "spawn", "n": n}).encode()  # what the pool sends
        with monkeypatch.context() as m:
            m.setattr(zygote.json, "loads", lambda _: pytest.fail("json read a spawn request"))
            assert zygote._control_message(data) == {"op": "spawn", "n": n}


def test_any_other_control_message_is_read_by_json():
    assert zygote._control_message(b'{"n": 2, "op": "spawn"}') == {"op": "spawn", "n": 2}
    assert zygote._control_message(b'{"op": "spawn", "n": -1}') == {"op": "spawn", "n": -1}
    assert zygote._control_message(b'{"op": "spawn", "n": 2, "x": 1}') == {
        "op": "spawn",
        "n": 2,
        "x": 1,
    }
    assert zygote._control_message(b'{"op": "init"}') == {"op": "init"}
    with pytest.raises(ValueError):
        zygote._control_message(b'{"op": "spawn", "n": }')


@pytest.mark.parametrize("digits", [b"00", b"007", b"0256"])
def test_a_spawn_request_with_a_leading_zero_is_refused_as_json_refuses_it(digits):
    # JSON has no leading zeros: the fast path must not read `007` as 7 where json refuses it.
    data = b'{"op": "spawn", "n": ' + digits + b"}"
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        zygote._control_message(data)
