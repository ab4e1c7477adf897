"""The warm pool on its own: fresh children, the zygote's death, host functions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox.limits import Limits
from sandbox.pool import WarmPool
from sandbox.result import ExecutionResult


async def test_a_dead_zygote_is_restarted_and_executions_resume():
    pool = WarmPool(sandbox_spec(), warm=2)
    await pool.start()
    try:
        assert (await pool.execute("1 + 1")).result == 2
        old = pool._proc.pid
        os.kill(old, signal.SIGKILL)
        for _ in range(100):  # the restart is asynchronous; health says when it is back
            await asyncio.sleep(0.1)
            if pool.health()["zygote_alive"] and pool._proc.pid != old:
                break
        assert pool._proc.pid != old
        result = await pool.execute("'after restart'", limits=Limits(timeout_s=5))
        assert result.status == "ok", result.error
        assert result.result == "after restart"
    finally:
        await pool.stop()


async def test_each_execution_gets_a_different_process():
    pool = WarmPool(sandbox_spec(), warm=2)
    await pool.start()
    seen: list[int] = []

    async def whoami(args):
        return None

    try:
        for _ in range(3):
            await pool.execute("1", host_functions={"noop": whoami})
        seen = [pool.started_children]
        assert pool.health()["executions_completed"] == 3
        assert seen[0] >= 3  # one child per execution, never reused
    finally:
        await pool.stop()


async def test_host_functions_receive_json_and_their_errors_stay_generic():
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    received = []

    async def record(args):
        received.append(args)
        return {"echo": args["args"][0]}

    async def broken(args):
        raise RuntimeError("secret detail from the host")

    try:
        ok = await pool.execute("record({'a': [1, 2]})['echo']", host_functions={"record": record})
        assert ok.result == {"a": [1, 2]}
        assert received == [{"args": [{"a": [1, 2]}], "kwargs": {}}]
        failed = await pool.execute("broken()", host_functions={"broken": broken})
        assert failed.status == "error"
        assert "secret detail" not in str(failed.to_json())
    finally:
        await pool.stop()


@pytest.mark.parametrize("settle", [True, False], ids=["dead", "dying"])
async def test_a_warm_child_that_died_is_skipped_not_handed_the_script(settle):
    """Dead with its ready frame buffered, or dying while the script is sent: either way the
    script runs once, on a live child."""
    pool = WarmPool(sandbox_spec(), warm=3)
    await pool.start()
    try:
        for _ in range(100):
            if len(pool._idle) >= 3:
                break
            await asyncio.sleep(0.05)
        doomed = [pool._idle[0], pool._idle[1]]
        for child in doomed:  # as if the OOM killer or an operator took them
            child.kill()
        if settle and all(child.pidfd is not None for child in doomed):
            select.select([child.pidfd for child in doomed][:1], [], [], 5)
            select.select([child.pidfd for child in doomed][1:], [], [], 5)
        result = await pool.execute("'still served'", limits=Limits(timeout_s=5))
        assert result.status == "ok", result.error
        assert result.result == "still served"
        assert all(child not in pool._idle for child in doomed)
    finally:
        await pool.stop()


async def test_the_host_alarm_reports_the_line_a_sleeping_script_was_on():
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    try:
        code = "import time\nx = 1\nwhile True:\n    time.sleep(0.01)\n"
        result = await pool.execute(code, limits=Limits(timeout_s=0.5))
        assert result.status == "timeout", result
        assert result.error["line"] in (3, 4), result.error  # reported by the child, not killed
        assert "wall-clock" in result.error["message"]
    finally:
        await pool.stop()


async def test_a_host_call_past_the_deadline_ends_the_execution_and_the_pool_goes_on():
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    calls = 0

    async def slow(args):
        nonlocal calls
        calls += 1
        await asyncio.sleep(30)

    try:
        result = await pool.execute(
            "x = 1\nslow(None)\n", limits=Limits(timeout_s=0.5), host_functions={"slow": slow}
        )
        assert result.status == "timeout", result
        assert calls == 1
        assert result.duration_ms < 5000
        again = await pool.execute("'next'", limits=Limits(timeout_s=5))
        assert again.status == "ok" and again.result == "next"
    finally:
        await pool.stop()


async def test_cancelling_an_execution_during_a_host_call_cancels_it_not_a_timeout():
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    started = asyncio.Event()

    async def slow(args):
        started.set()
        await asyncio.sleep(30)

    try:
        task = asyncio.create_task(
            pool.execute("slow(None)", limits=Limits(timeout_s=20), host_functions={"slow": slow})
        )
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.health()["running"] == 0  # the slot was given back
    finally:
        await pool.stop()


async def test_a_burst_larger_than_one_request_to_the_zygote_is_all_served(monkeypatch):
    # More executions at once than one request asks of the zygote: the pool asks again as
    # children arrive, and one request per turn of the event loop, not one per execution.
    monkeypatch.setattr("sandbox.pool.SPAWN_BATCH_MAX", 3)
    pool = WarmPool(sandbox_spec(), size_max=20, warm=1)
    await pool.start()
    asked: list[int] = []
    real_ask = pool._ask_for_children

    def ask() -> None:
        before = pool._pending_spawns
        real_ask()
        if pool._pending_spawns != before:
            asked.append(pool._pending_spawns - before)

    monkeypatch.setattr(pool, "_ask_for_children", ask)
    try:
        code = "import time\ntime.sleep(0.3)\n1"
        results = await asyncio.wait_for(
            asyncio.gather(*(pool.execute(code) for _ in range(12))), 60
        )
        assert [r.status for r in results] == ["ok"] * 12
        assert asked and max(asked) <= 3
        assert len(asked) < 12
    finally:
        await pool.stop()


async def test_back_to_back_executions_ask_the_zygote_for_children_in_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each execution leaves one child to replace; the pool asks for four at a time (no more
    # than it keeps warm), so the zygote's wake-up, read, handing over and reaping serve four.
    monkeypatch.setattr("sandbox.pool.SPAWN_BATCH_MIN", 4)
    for warm, group in ((4, 4), (2, 2)):
        pool = WarmPool(sandbox_spec(), warm=warm)
        await pool.start()
        asked: list[int] = []
        real_ask = pool._ask_for_children

        def ask(real_ask: Any = real_ask, pool: WarmPool = pool, asked: list[int] = asked) -> None:
            before = pool._pending_spawns
            real_ask()
            if pool._pending_spawns != before:
                asked.append(pool._pending_spawns - before)

        monkeypatch.setattr(pool, "_ask_for_children", ask)
        try:
            for _ in range(6):
                assert (await pool.execute("1 + 1")).result == 2
            assert asked and min(asked) >= group
            assert sum(asked) <= 6 + group - 1  # at most group - 1 children more than were used
        finally:
            await pool.stop()


def test_the_pool_raises_its_soft_open_files_limit_to_the_hard_one(caplog):
    import resource

    from sandbox.pool import _raise_open_files

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), hard))
    try:
        _raise_open_files(size_max=1)
        now_soft, now_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert now_hard == hard
        assert now_soft == (hard if hard != resource.RLIM_INFINITY else max(64, 1 << 20))
        _raise_open_files(size_max=10**9)  # more than any hard limit: said, not raised
        assert "open files" in caplog.text
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_the_deny_list_holds_in_a_child_whichever_filter_carries_each_call():
    # The zygote loads most of the seccomp deny list once (every child inherits it) and each
    # child stacks the rest: calls of either part are refused in a child.
    pool = WarmPool(sandbox_spec(), warm=1, allow_raw=True)
    await pool.start()
    try:
        if not pool.layers.get("seccomp", {}).get("active"):
            pytest.skip("seccomp is not available here")
        assert pool._proc is not None
        with open(f"/proc/{pool._proc.pid}/status") as fh:
            zygote_status = fh.read()
        assert "Seccomp:\t2" in zygote_status  # the zygote itself runs under its part
        code = (
            "import os, socket\n"
            "out = {}\n"
            "calls = {'socket': socket.socket, 'socketpair': socket.socketpair,\n"
            "         'fork': os.fork, 'setuid': lambda: os.setuid(0),\n"
            "         'pidfd_open': lambda: os.pidfd_open(1)}\n"
            "for name, call in calls.items():\n"
            "    try:\n"
            "        call()\n"
            "        out[name] = 'allowed'\n"
            "    except OSError as exc:\n"
            "        out[name] = exc.errno\n"
            "result = out\n"
        )
        result = await pool.execute(code, raw=True)
        assert result.status == "ok", result.error
        assert result.result == {
            "socket": 1, "socketpair": 1, "fork": 1, "setuid": 1, "pidfd_open": 1
        }  # fmt: skip
    finally:
        await pool.stop()


async def test_host_functions_that_end_before_or_after_their_first_wait_answer_alike():
    """A call is served in the reader's callback up to the host function's first wait, then in
    the execution's task: returns and raises on either side reach the script the same way."""
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()

    async def at_once(args):
        return {"at_once": args["args"][0]}

    async def after_a_wait(args):
        await asyncio.sleep(0.01)
        return {"after_a_wait": args["args"][0]}

    async def raises_at_once(args):
        raise ValueError("no, at once")

    async def raises_after_a_wait(args):
        await asyncio.sleep(0.01)
        raise ValueError("no, after a wait")

    code = (
        "out = [at_once(1), after_a_wait(2), at_once(3)]\n"
        "for f in (raises_at_once, raises_after_a_wait):\n"
        "    try:\n"
        "        f(None)\n"
        "    except Exception as e:\n"
        "        out.append(str(e))\n"
        "out\n"
    )
    functions = {
        f.__name__: f for f in (at_once, after_a_wait, raises_at_once, raises_after_a_wait)
    }
    try:
        result = await pool.execute(code, limits=Limits(timeout_s=10), host_functions=functions)
        assert result.status == "ok", result
        assert result.result[:3] == [{"at_once": 1}, {"after_a_wait": 2}, {"at_once": 3}]
        # no host detail either way: the function's name, never its message
        assert result.result[3:] == [
            "raises_at_once failed in the host", "raises_after_a_wait failed in the host"
        ]  # fmt: skip
        again = await pool.execute("'next'", limits=Limits(timeout_s=5))
        assert again.status == "ok" and again.result == "next"
    finally:
        await pool.stop()


async def test_a_pool_stopped_as_its_zygote_dies_starts_no_new_one(monkeypatch):
    # The zygote's death schedules its restart; a stop() before the restart runs must not be
    # followed by a new zygote, which nobody would end.
    pool = WarmPool()
    pool._loop = asyncio.get_running_loop()
    started = []

    async def start() -> None:
        started.append(True)

    monkeypatch.setattr(pool, "start", start)
    pool._zygote_died()  # the control socket's end: a restart is scheduled
    await pool.stop()
    assert pool._restart_task is not None
    await pool._restart_task
    assert started == []


async def test_a_host_call_past_the_deadline_times_out_in_a_task_cancelled_before() -> None:
    # The execution may run in a caller's own task whose earlier cancellation was caught (its
    # count above zero): the deadline's cancellation is still told apart from any other.
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()

    async def slow(args: Any) -> None:
        await asyncio.sleep(30)

    async def in_a_task_cancelled_before() -> ExecutionResult:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1)
        assert task.cancelling() == 1
        return await pool.execute(
            "slow(None)", limits=Limits(timeout_s=0.5), host_functions={"slow": slow}
        )

    try:
        result = await asyncio.wait_for(asyncio.create_task(in_a_task_cancelled_before()), 20)
        assert result.status == "timeout", result
    finally:
        await pool.stop()
