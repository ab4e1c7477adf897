"""The zygote's reports of how children ended are kept for the executions that ask: however
long the pool has run (every execution's child is reported, asked about or not), the report of
a child whose execution runs is never dropped, and the report of a child whose execution ended
is not kept (it would answer for a later child given the same pid)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from descriptors import fake_zygote

from sandbox.limits import Limits
from sandbox.pool import PoolUnavailable, WarmChild, WarmPool

OLD_REPORTS = 20_000  # a pool that has run this many executions, none of whose ends was asked


def _reported(
    pool: WarmPool, zygote_end: socket.socket, pid: int, code: int, cpu: Any = 1.0
) -> None:
    report = {"pid": pid, "code": code, "signal": None, "cpu_ms": cpu}
    zygote_end.send(json.dumps({"op": "exits", "exits": [report]}).encode())
    pool._on_control()


async def _ended(pool: WarmPool, pid: int, zygote: int = 0) -> str:
    """The error an execution on a child with this pid (forked by the pool's `zygote`-th
    zygote) ends with, once its channel closes."""
    a, b = socket.socketpair()
    child = WarmChild(pid, a, pidfd=-1, zygote=zygote)  # never signalled by pid in these tests
    try:
        assert pool._loop is not None
        far = pool._loop.time() + 100  # no deadline in the way: the report decides
        result = await pool._died(child, Limits(), far)
    finally:
        a.close()
        b.close()
    assert result.error is not None, result
    return str(result.error["message"])


async def test_a_report_that_comes_before_it_is_asked_for_is_kept_after_many_others() -> None:
    with fake_zygote() as z:
        for pid in range(OLD_REPORTS):  # every execution's child is reported as it is reaped
            _reported(z.pool, z.zygote_end, 100_000 + pid, 0)
        z.pool._running_pids.add(77)  # an execution runs on it
        _reported(z.pool, z.zygote_end, 77, 3)  # before its execution asks
        assert "exit code 3" in await _ended(z.pool, 77)


async def test_an_old_report_does_not_answer_for_a_new_child_with_its_pid() -> None:
    with fake_zygote() as z:
        _reported(z.pool, z.zygote_end, 77, 3)  # a child whose execution ended, never asked
        z.pool._running_pids.add(77)  # an execution runs on a new child given the same pid
        assert "exit code 3" not in await _ended(z.pool, 77)  # no report for it: none given


async def test_every_reported_childs_cpu_is_kept_for_measuring_and_bounded() -> None:
    with fake_zygote() as z:
        for pid in range(5_000):  # children whose executions ended: their reports are not kept
            _reported(z.pool, z.zygote_end, 100_000 + pid, 0)
        assert not z.pool._exits
        assert len(z.pool.child_cpu_ms) == 4096 and set(z.pool.child_cpu_ms) == {1.0}
        for cpu in (-1.0, True, "2", None, [1.0]):  # not a CPU time: not kept
            _reported(z.pool, z.zygote_end, 5, 0, cpu)
        assert len(z.pool.child_cpu_ms) == 4096 and set(z.pool.child_cpu_ms) == {1.0}


def _requests(zygote_end: socket.socket) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            out.append(json.loads(zygote_end.recv(1 << 16, socket.MSG_DONTWAIT)))
        except BlockingIOError:
            return out


async def test_a_report_asked_for_while_the_control_socket_is_full_is_asked_for_later() -> None:
    with fake_zygote() as z:
        z.pool.warm = 0  # no request for children in the way
        assert z.pool._ctrl is not None
        while True:  # the zygote has not read what it was sent (it forks a large request)
            try:
                z.pool._ctrl.send(b'{"op": "spawn", "n": 0}')
            except BlockingIOError:
                break
        z.pool._running_pids.add(77)
        ending = asyncio.ensure_future(_ended(z.pool, 77))  # its channel closed: it asks
        await asyncio.sleep(0.01)
        assert not ending.done()
        read = _requests(z.zygote_end)  # the zygote reads what waited, and what comes
        for _ in range(20):
            await asyncio.sleep(0.01)
            read += _requests(z.zygote_end)
        assert [r for r in read if r.get("op") == "exits"] == [{"op": "exits", "pid": 77}]
        _reported(z.pool, z.zygote_end, 77, 3)
        assert "exit code 3" in await ending


async def test_a_measurement_asks_for_the_reports_held_and_reads_them() -> None:
    with fake_zygote() as z:
        z.pool.ask_for_exit_reports()
        assert _requests(z.zygote_end) == [{"op": "exits"}]  # no pid: what is held, now
        _reported(z.pool, z.zygote_end, 100_001, 0, 4.5)  # the zygote's answer
        assert list(z.pool.child_cpu_ms) == [4.5]


async def _zygote_dies(pool: WarmPool) -> None:
    pool._stopping = True  # no restart in this test
    pool._zygote_died()


async def _pool_stops(pool: WarmPool) -> None:
    await pool.stop()  # closes the control socket and ends the zygote, its children with it


@pytest.mark.parametrize("gone", [_zygote_dies, _pool_stops])
async def test_an_execution_waiting_for_a_report_that_cannot_come_answers_at_once(
    gone: Callable[[WarmPool], Awaitable[None]],
) -> None:
    # Its child died with the zygote (parent-death signal) and no report can come: the
    # execution says so, instead of waiting out the report's timeout for "exit code None".
    with fake_zygote() as z:
        z.pool._running_pids.add(77)
        ended = asyncio.ensure_future(_ended(z.pool, 77))
        for _ in range(5):
            await asyncio.sleep(0)
        assert 77 in z.pool._exit_waiters  # asked, and waiting
        await gone(z.pool)
        for _ in range(5):
            await asyncio.sleep(0)
        assert ended.done()
        message = ended.result()
        assert "zygote ended" in message and "exit code" not in message
        assert not z.pool._exit_waiters


async def test_a_child_of_an_earlier_zygote_waits_for_no_report() -> None:
    # The zygote died and was started again before the execution asked: the new one never
    # knew the child, so no report is waited for.
    with fake_zygote() as z:
        z.pool._zygotes = 2
        assert "zygote ended" in await _ended(z.pool, 77, zygote=1)
        assert not z.pool._exit_waiters and not _requests(z.zygote_end)


async def test_a_zygote_that_exits_during_start_leaves_no_descriptor_open() -> None:
    before = len(os.listdir("/proc/self/fd"))
    pool = WarmPool(python="/bin/false")  # exits at once, never says ready
    with pytest.raises(PoolUnavailable, match="exited during start"):
        await pool.start()
    assert pool._proc is not None
    pool._proc.wait()
    assert len(os.listdir("/proc/self/fd")) == before
