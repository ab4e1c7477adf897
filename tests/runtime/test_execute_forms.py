"""The script forms an agent may send, and what comes back for each."""

from __future__ import annotations

import textwrap


def test_sync_run_function_result_is_its_return_value(run):
    body = run("def run(client):\n    return {'answer': 42}")
    assert body["status"] == "ok"
    assert body["result"] == {"answer": 42}
    assert body["execution_id"].startswith("exe_")


def test_async_run_function_is_awaited_synchronously(run):
    code = textwrap.dedent("""
        import asyncio
        async def helper(x):
            await asyncio.sleep(0)
            return x * 2
        async def run(client):
            a, b = await asyncio.gather(helper(1), helper(2))
            return [a, b]
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] == [2, 4]


def test_plain_statements_return_the_last_expression(run):
    body = run("x = 20\ny = 22\nx + y")
    assert body["result"] == 42


def test_top_level_await_works(run):
    body = run("import asyncio\nawait asyncio.sleep(0.01)\nawait asyncio.sleep(0, result='done')")
    assert body["status"] == "ok", body["error"]
    assert body["result"] == "done"


def test_asyncio_run_of_main_returns_its_value(run):
    code = textwrap.dedent("""
        import asyncio
        async def main():
            return 'from main'
        if __name__ == "__main__":
            asyncio.run(main())
    """)
    assert run(code)["result"] == "from main"


def test_script_calling_run_itself_is_not_run_twice(run):
    code = textwrap.dedent("""
        import asyncio
        calls = []
        async def run(client):
            calls.append(1)
            return len(calls)
        asyncio.run(run(client))
    """)
    assert run(code)["result"] == 1


def test_print_goes_to_stdout_never_into_the_result(run):
    body = run("def run(client):\n    print('hello', 1)\n    print('second')\n    return 'r'")
    assert body["stdout"] == "hello 1\nsecond\n"
    assert body["result"] == "r"
    assert body["stdout_truncated"] is False


def test_async_for_and_async_with_are_accepted(run):
    code = textwrap.dedent("""
        import asyncio
        async def run(client):
            seen = []
            async for m in client.models.list(type="image"):
                seen.append(m.model_id)
            async with asyncio.Lock():
                pass
            return len(seen) > 0
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] is True


def test_async_comprehension_is_accepted(run):
    code = "async def run(client):\n    return [m.model_id async for m in client.models.list()][:1]"
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert len(body["result"]) == 1


def test_allowed_modules_import_and_work(run):
    code = textwrap.dedent("""
        import json, math, re, datetime, time, asyncio, random, itertools, collections, statistics
        from collections import Counter
        [json.loads('[1]')[0], math.floor(2.5), bool(re.match('a', 'a')),
         datetime.date(2024, 1, 2).isoformat(), time.time() > 0, random.randint(1, 1),
         list(itertools.islice(itertools.count(), 2)), Counter('aab')['a'],
         statistics.mean([1, 2, 3])]
    """)
    body = run(code)
    assert body["status"] == "ok", body["error"]
    assert body["result"] == [1, 2, True, "2024-01-02", True, 1, [0, 1], 2, 2]


def test_refused_import_lists_what_is_allowed(run):
    body = run("import os\nos.listdir('/')")
    assert body["status"] == "error"
    assert body["error"]["type"] == "ModuleNotFoundError"  # an ImportError, as CPython raises
    assert "'os' is not allowed" in body["error"]["message"]
    assert "json" in body["error"]["message"] and "statistics" in body["error"]["message"]
    assert body["error"]["line"] == 1
    assert any("'os' is not allowed" in w for w in body["warnings"])


def test_refused_import_can_be_caught(run):
    body = run("try:\n    import numpy\nexcept ImportError as e:\n    numpy = None\nnumpy is None")
    assert body["status"] == "ok" and body["result"] is True
    assert any("'numpy' is not allowed" in w for w in body["warnings"])


def test_facades_do_not_leak_the_real_modules(run):
    for attempt in ("json.decoder", "datetime.sys", "statistics.sys", "random.os"):
        module = attempt.split(".")[0]
        body = run(f"import {module}\n{attempt}")
        assert body["status"] == "error", attempt
        assert body["error"]["type"] == "AttributeError", attempt
        assert "in the sandbox" in body["error"]["message"]


def test_inputs_are_a_global(run):
    body = run("def run(client):\n    return inputs['n'] * 2", inputs={"n": 21})
    assert body["result"] == 42


def test_a_global_from_one_execution_is_absent_in_the_next(run):
    first = run("marker = 'set by the first'\nmarker")
    assert first["result"] == "set by the first"
    second = run("marker")
    assert second["status"] == "error"
    assert second["error"]["type"] == "NameError"


def test_non_json_results_are_converted_by_the_documented_rule(run):
    body = run("import datetime\n{'s': {3, 1, 2}, 't': (1, 2), 'd': datetime.date(2024, 5, 6)}")
    assert body["status"] == "ok"
    assert body["result"] == {"s": [1, 2, 3], "t": [1, 2], "d": "2024-05-06"}
    assert any("set converted to a list" in w for w in body["warnings"])


def test_custom_objects_in_the_result_become_their_repr(run):
    body = run("class Thing:\n    pass\nThing()")
    assert body["status"] == "ok", body["error"]
    assert body["result"].startswith("<") and "Thing object" in body["result"]
    assert any("repr()" in w for w in body["warnings"])
