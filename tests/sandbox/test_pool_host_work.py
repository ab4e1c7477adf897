"""The pool's host side spends no work an execution does not need: event-loop turns, timers,
signals."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox.limits import Limits
from sandbox.pool import WarmChild, WarmPool, _Exchange


async def _filled(pool: WarmPool) -> None:
    for _ in range(200):
        if len(pool._idle) >= pool.warm and not pool._pending_spawns:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the pool did not fill")


async def test_an_execution_that_leaves_nothing_missing_schedules_no_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Asked for four at a time, three executions in four end with every missing child already
    # asked for: no callback is scheduled to find that out.
    pool = WarmPool(sandbox_spec(), warm=4)
    await pool.start()
    try:
        await _filled(pool)
        assert (await pool.execute("1 + 1")).result == 2
        await asyncio.sleep(0)  # its request for four goes out
        assert pool.warm - len(pool._idle) - pool._pending_spawns <= 0  # none missing
        scheduled: list[Any] = []
        loop = asyncio.get_running_loop()
        real_call_soon = loop.call_soon

        def call_soon(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
            scheduled.append(callback)
            return real_call_soon(callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_soon", call_soon)
        pool._replenish()
        monkeypatch.undo()
        assert pool._ask_for_children not in scheduled
        assert not pool._asking
    finally:
        await pool.stop()


async def test_a_missing_child_is_still_asked_for() -> None:
    pool = WarmPool(sandbox_spec(), warm=2)
    await pool.start()
    try:
        await _filled(pool)
        for _ in range(5):
            assert (await pool.execute("1 + 1")).result == 2
        await _filled(pool)
        assert len(pool._idle) >= 2
    finally:
        await pool.stop()


def test_a_child_is_sent_sigkill_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(signal, "pidfd_send_signal", lambda fd, signum: sent.append(signum))
    a, b = socket.socketpair()
    child = WarmChild(pid=0, sock=a, pidfd=-1)
    try:
        child.signal(signal.SIGALRM)
        child.kill()
        child.kill()
        assert sent == [signal.SIGALRM, signal.SIGKILL]
    finally:
        child.pidfd = None
        child.close()
        b.close()


async def test_an_execution_within_its_deadline_sets_one_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The end of waiting is set by the alarm when it fires, not beside it from the start.
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    try:
        await _filled(pool)
        loop = asyncio.get_running_loop()
        real_call_at = loop.call_at
        timers: list[Any] = []

        def call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            owner = getattr(callback, "__self__", None)
            if isinstance(owner, (WarmChild, _Exchange)):  # not the ready wait's, if any
                timers.append(callback)
            return real_call_at(when, callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_at", call_at)
        result = await pool.execute("1 + 1", limits=Limits(timeout_s=5))
        monkeypatch.undo()
        assert result.result == 2
        assert len(timers) == 1, timers
    finally:
        await pool.stop()


async def test_the_end_of_waiting_holds_when_the_alarm_cannot_be_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The end of waiting is set by the alarm's callback: it must be set even when sending the
    # alarm fails (a pid the kernel refuses), or a child that never answers is waited on forever.
    real_signal = WarmChild.signal

    def signal_but_not_the_alarm(self: WarmChild, signum: int) -> None:
        if signum == signal.SIGALRM:
            raise OverflowError("signal number out of range")
        real_signal(self, signum)

    monkeypatch.setattr(WarmChild, "signal", signal_but_not_the_alarm)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # the alarm's error, expected
    pool = WarmPool(sandbox_spec(), warm=1)
    await pool.start()
    try:
        code = "import time\nwhile True:\n    time.sleep(0.01)\n"
        execution = pool.execute(code, limits=Limits(timeout_s=0.3))
        result = await asyncio.wait_for(execution, 20)  # a guard against hanging, not a timing
        assert result.status == "timeout", result
        assert result.error is not None and "killed" in result.error["message"], result.error
    finally:
        loop.set_exception_handler(None)
        await pool.stop()
