"""asyncio in the sandbox: gathered calls run concurrently on the host, with asyncio's semantics.

A host function `work(seconds)` sleeps that long on the host (0.05 s answers with an error), so
the time an execution takes shows whether its calls were in flight together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox.limits import Limits
from sandbox.messages import CALLS_IN_FLIGHT_MAX
from sandbox.pool import HostCallError, WarmPool
from sandbox.result import ExecutionResult

ASYNC_WORK = "import asyncio\nasync def f(d):\n    return await work(d)\n"


class Work:
    def __init__(self) -> None:
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, args: Any) -> Any:
        seconds = args["args"][0]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.in_flight -= 1
        if seconds == 0.05:
            raise HostCallError({"class": "ValueError", "message": "bad"})
        return seconds


@pytest.fixture
async def pool() -> AsyncIterator[WarmPool]:
    warm = WarmPool(sandbox_spec(), warm=2)
    await warm.start()
    yield warm
    await warm.stop()


async def run(pool: WarmPool, code: str, **limits: Any) -> tuple[ExecutionResult, float, Work]:
    work = Work()
    started = time.monotonic()
    result = await pool.execute(
        code, limits=Limits(timeout_s=10, **limits), host_functions={"work": work}
    )
    return result, time.monotonic() - started, work


async def test_gathered_calls_are_in_flight_together_and_results_keep_their_order(pool):
    code = ASYNC_WORK + "await asyncio.gather(*[f(0.3 - i / 100) for i in range(20)])"
    result, took, work = await run(pool, code)
    assert result.status == "ok", result.error
    assert result.result == [0.3 - i / 100 for i in range(20)]
    assert took < 1.5 and work.most_in_flight == 20  # one latency, not twenty


async def test_gathered_plain_calls_are_concurrent_too(pool):
    code = "import asyncio\nawait asyncio.gather(*[work(0.3) for i in range(10)], work(0.3))"
    result, took, work = await run(pool, code)
    assert result.result == [0.3] * 11 and took < 1.5 and work.most_in_flight == 11


async def test_calls_in_flight_never_pass_the_cap(pool):
    n = CALLS_IN_FLIGHT_MAX + 8
    result, _, work = await run(
        pool, f"import asyncio\nawait asyncio.gather(*[work(0.2) for i in range({n})])"
    )
    assert result.status == "ok" and len(result.result) == n
    assert work.most_in_flight == CALLS_IN_FLIGHT_MAX


async def test_return_exceptions_gives_them_in_place(pool):
    code = ASYNC_WORK + (
        "async def boom():\n    raise KeyError('k')\n"
        "r = await asyncio.gather(f(0.1), boom(), f(0.05), return_exceptions=True)\n"
        "[type(x).__name__ if isinstance(x, Exception) else x for x in r]"
    )
    result, _, _ = await run(pool, code)
    assert result.result == [0.1, "KeyError", "RuntimeError"], result


async def test_the_first_exception_to_happen_propagates_and_the_others_go_on(pool):
    code = ASYNC_WORK + (
        "done = []\n"
        "async def slow():\n    await work(0.4)\n    done.append('slow')\n"
        "async def boom():\n    await work(0.1)\n    raise KeyError('first')\n"
        "async def later():\n    await work(0.2)\n    raise ValueError('second')\n"
        "try:\n    await asyncio.gather(slow(), later(), boom())\nexcept Exception as e:\n"
        "    out = [type(e).__name__, list(done)]\n"
        "await asyncio.sleep(0.5)\nout + [done]"
    )
    result, _, _ = await run(pool, code)
    assert result.result == ["KeyError", [], ["slow"]], result


async def test_wait_for_times_out_and_cancels(pool):
    code = ASYNC_WORK + (
        "cancelled = []\n"
        "async def g():\n    try:\n        return await f(2)\n"
        "    except asyncio.CancelledError:\n        cancelled.append(1)\n        raise\n"
        "try:\n    await asyncio.wait_for(g(), timeout=0.2)\n    out = 'no'\n"
        "except asyncio.TimeoutError:\n    out = 'timeout'\n"
        "[out, cancelled, await asyncio.wait_for(f(0.1), 1)]"
    )
    result, took, _ = await run(pool, code)
    assert result.result == ["timeout", [1], 0.1], result
    assert took < 1.5


async def test_as_completed_yields_in_completion_order(pool):
    code = ASYNC_WORK + (
        "out = []\nfor c in asyncio.as_completed([f(0.3), f(0.1), f(0.2)]):\n"
        "    out.append(await c)\nout"
    )
    result, took, _ = await run(pool, code)
    assert result.result == [0.1, 0.2, 0.3] and took < 1.0, result


async def test_semaphore_bounds_the_calls_in_flight(pool):
    code = ASYNC_WORK + (
        "sem = asyncio.Semaphore(3)\n"
        "async def g(d):\n    async with sem:\n        return await f(d)\n"
        "await asyncio.gather(*[g(0.1) for _ in range(9)])"
    )
    result, took, work = await run(pool, code)
    assert result.result == [0.1] * 9 and work.most_in_flight == 3 and 0.25 < took < 1.5


async def test_create_task_runs_in_the_background_and_awaiting_it_gives_its_result(pool):
    code = ASYNC_WORK + (
        "async def main():\n"
        "    t1 = asyncio.create_task(f(0.3))\n    t2 = asyncio.create_task(f(0.3))\n"
        "    a = await t1\n    b = await t2\n    return [a, b, t1.done(), t2.result()]\n"
        "asyncio.run(main())"
    )
    result, took, work = await run(pool, code)
    assert result.result == [0.3, 0.3, True, 0.3] and work.most_in_flight == 2 and took < 1.0


async def test_task_group_wait_and_sleep(pool):
    code = ASYNC_WORK + (
        "async def main():\n"
        "    async with asyncio.TaskGroup() as tg:\n"
        "        a = tg.create_task(f(0.2))\n        b = tg.create_task(asyncio.sleep(0.2, 'z'))\n"
        "    first = asyncio.FIRST_COMPLETED\n"
        "    done, pending = await asyncio.wait([f(0.1), f(2)], return_when=first)\n"
        "    return [a.result(), b.result(), len(done), len(pending)]\n"
        "asyncio.run(main())"
    )
    result, took, _ = await run(pool, code)
    assert result.result == [0.2, "z", 1, 1] and took < 1.5, result


async def test_sequential_awaits_and_sync_calls_work_as_before(pool):
    code = ASYNC_WORK + (
        "async def main():\n    a = await f(0.01)\n    b = await f(a)\n    return [a, b]\n"
        "x = asyncio.run(main())\n"
        "y = [work(0.01) for _ in range(3)]\n[x, y]"
    )
    result, _, work = await run(pool, code)
    assert result.result == [[0.01, 0.01], [0.01] * 3] and work.most_in_flight == 1


async def test_an_awaitable_is_awaited_once_and_a_wait_that_cannot_end_is_an_error(pool):
    code = ASYNC_WORK + "c = f(0.01)\nawait c\nawait c"
    result, _, _ = await run(pool, code)
    assert result.error and "already awaited" in result.error["message"], result
    code = (
        "import asyncio\nasync def main():\n    await asyncio.Event().wait()\nasyncio.run(main())"
    )
    result, took, _ = await run(pool, code)
    assert result.status == "error" and "never happen" in result.error["message"] and took < 1


async def test_async_with_uses_the_scripts_own_aenter(pool):
    code = (
        "log = []\nclass Session:\n"
        "    async def __aenter__(self):\n        log.append('enter')\n        return self\n"
        "    async def __aexit__(self, *exc):\n        log.append('exit')\n        return False\n"
        "async def main():\n    async with Session() as s:\n        log.append(type(s).__name__)\n"
        "    return log\n"
        "import asyncio\nasyncio.run(main())"
    )
    result, _, _ = await run(pool, code)
    assert result.result == ["enter", "Session", "exit"], result


async def test_more_calls_than_may_be_in_flight_with_large_replies_all_come_back(
    pool: WarmPool,
) -> None:
    """Replies ready together go back in one write, larger than the socket takes at once: the
    child reads the first ones and sends its next calls while the rest are still written."""

    async def big(args: Any) -> Any:
        return "x" * 100_000

    code = (
        "import asyncio\nasync def f(i):\n    return len(big(i))\n"
        f"sum(await asyncio.gather(*[f(i) for i in range({3 * CALLS_IN_FLIGHT_MAX})]))"
    )
    result = await pool.execute(code, limits=Limits(timeout_s=20), host_functions={"big": big})
    assert result.status == "ok", result.error
    assert result.result == 3 * CALLS_IN_FLIGHT_MAX * 100_000
