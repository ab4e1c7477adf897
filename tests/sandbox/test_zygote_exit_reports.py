"""The zygote is not woken by each child's exit: it reaps the children that ended when the next
request for children comes and sends their reports with the next group, in the same message.
When the host waits for one child's report (`exits`), the zygote sends what it holds at once
and, while that child still runs, is woken by exits until it is reaped, then sends it."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from descriptors import control_socket, zygote_messages

from sandbox import zygote


@pytest.fixture
def ctrl() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The zygote's end of a control socket and the host's (non-blocking, to read)."""
    with control_socket() as ends:
        try:
            yield ends
        finally:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _in_own_process(test: Callable[..., None]) -> Callable[..., None]:
    """Run the test in a forked process of its own. The zygote's reaping waits for any child
    (`wait4(-1)`): in the test runner's process it could take another test's child that has
    just ended from whoever waits for it."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the forked process reports through the pipe
            os.close(r)
            try:
                test(*args, **kwargs)
                outcome = b"ok"
            except BaseException:  # noqa: BLE001 - every failure is reported to the parent
                outcome = traceback.format_exc().encode()
            try:
                os.write(w, outcome[-60000:])
            finally:
                os._exit(0)
        os.close(w)
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        os.close(r)
        os.waitpid(pid, 0)
        outcome = b"".join(chunks)
        assert outcome == b"ok", outcome.decode(errors="replace")

    return run


def _ended(pid: int) -> None:
    """Wait until `pid` has exited (left as a zombie, not reaped)."""
    for _ in range(1000):
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return
        time.sleep(0.005)
    raise AssertionError(f"{pid} did not exit")


def _fork_exiting(code: int, wait_for: int | None = None) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        if wait_for is not None:
            os.read(wait_for, 1)
        os._exit(code)
    return pid


@_in_own_process
def test_an_ended_child_is_reported_with_the_next_group(
    ctrl: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    zygote_end, host_end = ctrl
    exits = zygote._Exits()
    pid = _fork_exiting(3)
    _ended(pid)
    zygote._reap(zygote_end, exits)  # as at the next request, before its forks
    assert zygote_messages(host_end) == []  # held, not sent on its own
    monkeypatch.setattr(os, "fork", lambda: 40001)  # the zygote's side only: no child is made
    zygote._spawn_groups(zygote_end, None, {}, False, 1, exits)  # type: ignore[arg-type]
    [message] = zygote_messages(host_end)
    assert message["op"] == "children" and message["pids"] == [40001]
    assert [(r["pid"], r["code"], r["signal"]) for r in message["exits"]] == [(pid, 3, None)]
    assert message["exits"][0]["cpu_ms"] >= 0
    assert exits.held == []


@_in_own_process
def test_a_report_the_host_waits_for_is_sent_once_its_child_is_reaped(
    ctrl: tuple[socket.socket, socket.socket],
) -> None:
    zygote_end, host_end = ctrl
    exits = zygote._Exits()
    gone = _fork_exiting(0)
    _ended(gone)
    zygote._reap(zygote_end, exits)  # one report held
    r, w = os.pipe()
    try:
        running = _fork_exiting(5, wait_for=r)
        zygote._asked(zygote_end, exits, running)
        # What was held goes at once; the child it waits for still runs: woken by exits now.
        [held] = zygote_messages(host_end)
        assert held["op"] == "exits" and [x["pid"] for x in held["exits"]] == [gone]
        assert exits.wanted == {running}
        assert signal.getsignal(signal.SIGCHLD) is zygote._on_sigchld
        os.write(w, b"x")
        _ended(running)
        zygote._reap(zygote_end, exits)  # what the loop does when SIGCHLD wakes it
    finally:
        os.close(r)
        os.close(w)
    [report] = zygote_messages(host_end)
    assert report["op"] == "exits"
    assert [(x["pid"], x["code"]) for x in report["exits"]] == [(running, 5)]
    assert not exits.wanted and signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


@_in_own_process
def test_asking_for_a_child_already_reaped_sends_what_is_held_and_waits_for_nothing(
    ctrl: tuple[socket.socket, socket.socket],
) -> None:
    zygote_end, host_end = ctrl
    exits = zygote._Exits()
    pid = _fork_exiting(7)
    _ended(pid)
    zygote._reap(zygote_end, exits)
    zygote._asked(zygote_end, exits, pid)
    [message] = zygote_messages(host_end)
    assert [(x["pid"], x["code"]) for x in message["exits"]] == [(pid, 7)]
    zygote._asked(zygote_end, exits, pid)  # again: it is no child of ours any more
    zygote._asked(zygote_end, exits, -1)  # not a pid: nothing to wait for
    assert zygote_messages(host_end) == [] and not exits.wanted
    gone = _fork_exiting(2)
    _ended(gone)
    zygote._asked(zygote_end, exits, None)  # no pid (a measurement): what is held, now
    [held] = zygote_messages(host_end)
    assert [(x["pid"], x["code"]) for x in held["exits"]] == [(gone, 2)]
    assert not exits.wanted
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


@_in_own_process
def test_reports_held_are_sent_on_their_own_before_they_grow_large(
    ctrl: tuple[socket.socket, socket.socket],
) -> None:
    zygote_end, host_end = ctrl
    exits = zygote._Exits()
    exits.held = [b'{"pid": 1, "code": 0, "signal": null, "cpu_ms": 1.000}'] * (
        zygote.HELD_EXITS_MAX - 1
    )
    pid = _fork_exiting(0)
    _ended(pid)
    zygote._reap(zygote_end, exits)
    [message] = zygote_messages(host_end)
    assert message["op"] == "exits" and len(message["exits"]) == zygote.HELD_EXITS_MAX
    assert exits.held == []


def _zombies(parent: int) -> int:
    """How many of `parent`'s children have exited and are not reaped."""
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        count += fields[0] == "Z" and int(fields[1]) == parent
    return count


async def test_children_that_ended_in_a_pool_left_idle_are_reaped() -> None:
    # A burst ends and nothing more comes: no request for children follows (the pool is full),
    # yet the children that ended do not stay zombies for as long as the pool is idle.
    from client_surface.table import sandbox_spec
    from sandbox.limits import Limits
    from sandbox.pool import WarmPool

    pool = WarmPool(sandbox_spec(), warm=2)
    await pool.start()
    try:
        code = "import time\ntime.sleep(0.2)"
        runs = [pool.execute(code, limits=Limits(timeout_s=10)) for _ in range(6)]
        assert {r.status for r in await asyncio.gather(*runs)} == {"ok"}
        assert pool._proc is not None
        for _ in range(200):  # a while after the burst, without waiting on a timer's figure
            if _zombies(pool._proc.pid) == 0:
                break
            await asyncio.sleep(0.05)
        assert _zombies(pool._proc.pid) == 0
    finally:
        await pool.stop()
