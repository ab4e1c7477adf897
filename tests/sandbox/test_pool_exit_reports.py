"""The zygote's reports of how children ended are kept for the executions that ask: however
long the pool has run (every execution's child is reported, asked about or not), the report of
a child whose execution runs is never dropped, and the report of a child whose execution ended
is not kept (it would answer for a later child given the same pid)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest

from sandbox.limits import Limits
from sandbox.pool import WarmChild, WarmPool

OLD_REPORTS = 20_000  # a pool that has run this many executions, none of whose ends was asked


@pytest.fixture
def control() -> Iterator[tuple[socket.socket, socket.socket]]:
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host_end.setblocking(False)
    yield host_end, zygote_end
    host_end.close()
    zygote_end.close()


def _report(zygote_end: socket.socket, pid: int, code: int) -> None:
    message = {"op": "exit", "pid": pid, "code": code, "signal": None, "cpu_ms": 1.0}
    zygote_end.send(json.dumps(message).encode())


async def _reported(pool: WarmPool, zygote_end: socket.socket, pid: int, code: int) -> None:
    _report(zygote_end, pid, code)
    pool._on_control()


async def test_a_report_that_comes_before_it_is_asked_for_is_kept_after_many_others(
    control: tuple[socket.socket, socket.socket],
) -> None:
    host_end, zygote_end = control
    pool = WarmPool()
    pool._ctrl, pool._loop = host_end, asyncio.get_running_loop()
    for pid in range(OLD_REPORTS):  # every execution's child is reported as it is reaped
        await _reported(pool, zygote_end, 100_000 + pid, 0)
    pool._running_pids.add(77)  # an execution runs on it
    await _reported(pool, zygote_end, 77, 3)  # before its execution asks
    a, b = socket.socketpair()
    child = WarmChild(77, a, pidfd=-1)  # never signalled by pid in this test
    try:
        far = pool._loop.time() + 100  # no deadline in the way: the report decides
        result = await pool._died(child, Limits(), far)
    finally:
        a.close()
        b.close()
    assert result.error is not None and "exit code 3" in result.error["message"], result.error


async def test_an_old_report_does_not_answer_for_a_new_child_with_its_pid(
    control: tuple[socket.socket, socket.socket],
) -> None:
    host_end, zygote_end = control
    pool = WarmPool()
    pool._ctrl, pool._loop = host_end, asyncio.get_running_loop()
    await _reported(pool, zygote_end, 77, 3)  # a child whose execution ended, never asked
    pool._running_pids.add(77)  # an execution runs on a new child given the same pid
    a, b = socket.socketpair()
    child = WarmChild(77, a, pidfd=-1)  # a new child with the pid of that one
    try:
        far = pool._loop.time() + 100
        result = await pool._died(child, Limits(), far)  # no report for it: none is given
    finally:
        a.close()
        b.close()
    assert result.error is not None and "exit code 3" not in result.error["message"], result


async def test_every_reported_childs_cpu_is_kept_for_measuring_and_bounded(
    control: tuple[socket.socket, socket.socket],
) -> None:
    host_end, zygote_end = control
    pool = WarmPool()
    pool._ctrl, pool._loop = host_end, asyncio.get_running_loop()
    for pid in range(5_000):  # children whose executions ended: their reports are not kept
        await _reported(pool, zygote_end, 100_000 + pid, 0)
    assert not pool._exits
    assert len(pool.child_cpu_ms) == 4096 and set(pool.child_cpu_ms) == {1.0}
    for cpu in (-1.0, True, "2", None, [1.0]):  # not a CPU time: not kept
        message = {"op": "exit", "pid": 5, "code": 0, "signal": None, "cpu_ms": cpu}
        zygote_end.send(json.dumps(message).encode())
        pool._on_control()
    assert len(pool.child_cpu_ms) == 4096 and set(pool.child_cpu_ms) == {1.0}
