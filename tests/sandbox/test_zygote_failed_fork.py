"""A fork that fails in the zygote (the process limit, memory, descriptors) does not end it, and
so does not end every running execution with it (their children die with their zygote): the
children forked so far are handed over, the rest are reported as not forked (`failed`), and the
pool asks for them again after a pause. A `failed` message that is not well formed is refused
like any other."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import select
import socket
from collections.abc import Iterator

import pytest
from descriptors import children_message, control_socket, copies, fake_zygote, zygote_messages

from sandbox import pool as pool_module
from sandbox import zygote


@pytest.fixture
def ctrl() -> Iterator[tuple[socket.socket, socket.socket]]:
    with control_socket() as ends:
        yield ends


def _forks_then_fails(monkeypatch: pytest.MonkeyPatch, succeed: int, error: int) -> None:
    """os.fork on the zygote's side only: `succeed` made-up pids, then OSError(error)."""
    made = iter(range(40001, 40001 + succeed))

    def fork() -> int:
        pid = next(made, None)
        if pid is None:
            raise OSError(error, os.strerror(error))
        return pid

    monkeypatch.setattr(os, "fork", fork)


def test_the_children_forked_are_handed_over_and_the_rest_reported_not_forked(
    ctrl: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    zygote_end, host_end = ctrl
    _forks_then_fails(monkeypatch, 2, errno.EAGAIN)
    exits = zygote._Exits()
    zygote._spawn_groups(zygote_end, None, {}, False, 20, exits)  # type: ignore[arg-type]
    children, failed = zygote_messages(host_end)
    assert children["op"] == "children" and children["pids"] == [40001, 40002]
    assert failed == {"op": "failed", "n": 18, "errno": "EAGAIN"}  # the group's 6 and 12 more


def test_held_reports_still_go_when_no_child_could_be_forked(
    ctrl: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    zygote_end, host_end = ctrl
    _forks_then_fails(monkeypatch, 0, errno.ENOMEM)
    exits = zygote._Exits()
    exits.held = [b'{"pid": 7, "code": 0, "signal": null, "cpu_ms": 1.000}']
    zygote._spawn_groups(zygote_end, None, {}, False, 3, exits)  # type: ignore[arg-type]
    reports, failed = zygote_messages(host_end)
    assert reports["op"] == "exits" and [r["pid"] for r in reports["exits"]] == [7]
    assert failed == {"op": "failed", "n": 3, "errno": "ENOMEM"}
    assert not exits.held


async def test_the_pool_counts_them_off_and_asks_again_after_a_pause() -> None:
    with fake_zygote() as z:
        z.pool.warm = 4
        z.pool._pending_spawns = 4
        z.says(b'{"op": "failed", "n": 3, "errno": "EAGAIN"}')
        assert z.pool._pending_spawns == 1 and z.pool._retry is not None
        z.pool._asking = False  # the fake zygote's pool asks for nothing until now
        z.pool._replenish()  # an execution ends meanwhile: no request before the pause
        assert not z.pool._asking
        z.pool._retry.cancel()
        z.pool._retry_spawn()  # the pause is over
        await asyncio.sleep(0)
        assert json.loads(z.zygote_end.recv(1 << 16)) == {"op": "spawn", "n": 4}
        assert z.pool._retry is None


async def test_no_request_goes_out_during_the_pause() -> None:
    # Neither a request already scheduled in the turn the `failed` message came, nor one that
    # waited for room on the control socket: the zygote is asked again only once the pause is
    # over.
    with fake_zygote() as z:
        z.pool.warm = 8
        z.pool._pending_spawns = 4
        z.pool._asking = False  # the fake zygote's pool asks for nothing until now
        z.pool._replenish()  # an execution ended: a request is scheduled for this turn
        assert z.pool._asking
        z.says(b'{"op": "failed", "n": 3, "errno": "EAGAIN"}')  # in the same turn
        assert z.pool._retry is not None
        await asyncio.sleep(0)  # the scheduled request's turn
        z.pool._ctrl_full = True
        z.pool._on_control_writable()  # room again on the control socket
        assert select.select([z.zygote_end], [], [], 0)[0] == []
        z.pool._retry.cancel()
        z.pool._retry_spawn()  # the pause is over
        await asyncio.sleep(0)
        assert json.loads(z.zygote_end.recv(1 << 16)) == {"op": "spawn", "n": 7}


@pytest.mark.parametrize(
    ("message", "carried"),
    [
        (b'{"op": "failed", "n": 0, "errno": "EAGAIN"}', 0),
        (b'{"op": "failed", "n": "3", "errno": "EAGAIN"}', 0),
        (b'{"op": "failed", "n": true, "errno": "EAGAIN"}', 0),
        (b'{"op": "failed", "n": %d, "errno": "EAGAIN"}' % (pool_module.SPAWN_BATCH_MAX + 1), 0),
        (b'{"op": "failed", "errno": "EAGAIN"}', 0),
        (b'{"op": "failed", "n": 1, "errno": "EAGAIN"}', 1),  # a descriptor it cannot carry
    ],
)
async def test_a_failed_message_that_is_not_well_formed_is_refused(
    message: bytes, carried: int
) -> None:
    with fake_zygote() as z:
        z.pool._pending_spawns = 4
        z.says(message, carried)
        assert copies(z.channel) == 1  # what it carried is closed
        assert z.pool._retry is None and z.pool._pending_spawns == 0


PIDS_CGROUPS = "/sys/fs/cgroup/pids"


def _pids_cgroup() -> str | None:
    """A new cgroup of the pids controller (v1) this process may write, or None."""
    path = os.path.join(PIDS_CGROUPS, f"terrarium-test-{os.getpid()}")
    try:
        os.mkdir(path)
    except OSError:
        return None
    try:
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write("max")
    except OSError:
        os.rmdir(path)
        return None
    return path


async def test_a_zygote_at_its_process_limit_keeps_its_running_executions() -> None:
    # The zygote is moved into a cgroup that allows it no more processes: its forks fail with
    # EAGAIN, as at a container's pids.max. The execution running meanwhile ends ok (its
    # child lives on with its zygote), and once the limit is lifted the pool is served again
    # by the same zygote.
    from client_surface.table import sandbox_spec
    from sandbox.limits import Limits
    from sandbox.pool import WarmPool

    cgroup = _pids_cgroup()
    if cgroup is None:
        pytest.skip("no writable pids cgroup (v1) on this machine")
    pool = WarmPool(sandbox_spec(), warm=1)
    try:
        await pool.start()
        for _ in range(200):
            if pool._idle:
                break
            await asyncio.sleep(0.02)
        assert pool._proc is not None
        zygote = pool._proc.pid
        running = asyncio.ensure_future(
            pool.execute("import time\ntime.sleep(1.5)\n'slept'", limits=Limits(timeout_s=20))
        )
        await asyncio.sleep(0.3)  # it has the warm child
        try:
            with open(os.path.join(cgroup, "pids.max"), "w") as f:
                f.write("1")
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(zygote))
        except OSError as exc:  # a cgroup this process may make but not move a process into
            await running
            pytest.skip(f"the zygote cannot be moved into a pids cgroup here: {exc}")
        waiting = asyncio.ensure_future(pool.execute("x = 2", limits=Limits(timeout_s=20)))
        await asyncio.sleep(1.0)  # the zygote is asked, cannot fork, is asked again ...
        assert not waiting.done()
        first = await running
        assert first.status == "ok" and first.result == "slept", first.error
        with open(os.path.join(cgroup, "pids.max"), "w") as f:
            f.write("max")
        second = await asyncio.wait_for(waiting, 15)
        assert second.status == "ok", second.error
        assert pool._proc is not None and pool._proc.pid == zygote  # never restarted
    finally:
        try:
            await pool.stop()
        finally:  # the cgroup goes even if stopping failed
            for _ in range(100):  # its processes are gone once the zygote and children exit
                try:
                    os.rmdir(cgroup)
                    break
                except OSError:
                    await asyncio.sleep(0.05)


async def test_an_execution_that_gets_no_child_in_time_is_refused_as_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not a bare TimeoutError out of the pool (a server error): the sandbox is unavailable
    # (503), with the reason.
    monkeypatch.setattr(pool_module, "CHILD_WAIT_S", 0.05)
    with fake_zygote() as z:
        with pytest.raises(pool_module.PoolUnavailable, match="no sandbox child could be made"):
            await z.pool._take_child()
        assert not z.pool._child_waiters


async def test_the_pool_says_it_is_not_forking_until_a_group_comes() -> None:
    with fake_zygote() as z:
        assert z.pool.health()["forking"] is True
        z.says(b'{"op": "failed", "n": 1, "errno": "EAGAIN"}')
        assert z.pool.health()["forking"] is False
        message = children_message(b"4242")
        z.says(message, 1)
        assert z.pool.health()["forking"] is True


async def test_a_spell_of_failed_forks_is_logged_once_and_its_end_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The pool asks again every SPAWN_RETRY_S while a limit lasts: one line when the spell
    # starts, one when a group comes again, not two a second in between.
    with fake_zygote() as z, caplog.at_level(logging.WARNING, logger="terrarium.pool"):
        for _ in range(5):
            z.says(b'{"op": "failed", "n": 1, "errno": "EAGAIN"}')
        message = children_message(b"4242")
        z.says(message, 1)
        z.says(b'{"op": "failed", "n": 2, "errno": "ENOMEM"}')
    lines = [r.getMessage() for r in caplog.records if "fork" in r.getMessage()]
    assert len(lines) == 3, lines
    assert "could not fork 1 children (EAGAIN)" in lines[0]
    assert "forks again, after 5 requests" in lines[1]
    assert "could not fork 2 children (ENOMEM)" in lines[2]


async def test_a_spell_whose_groups_come_cut_short_is_one_spell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # At the process limit each retry forks a few (the zombies the zygote reaped freed their
    # pids) and fails the rest: a group cut short, then its `failed`. That is the same spell:
    # one line when it starts, one when a request is served whole, not two each retry.
    with fake_zygote() as z, caplog.at_level(logging.WARNING, logger="terrarium.pool"):
        pid = 5000
        for _ in range(4):
            z.pool._pending_spawns = 3  # asked for 3
            message = children_message(b"%d" % pid)
            z.says(message, 1)
            z.says(b'{"op": "failed", "n": 2, "errno": "EAGAIN"}')
            assert z.pool.health()["forking"] is False
            pid += 1
        z.pool._pending_spawns = 1
        message = children_message(b"%d" % pid)
        z.says(message, 1)
        assert z.pool.health()["forking"] is True
    lines = [r.getMessage() for r in caplog.records if "fork" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "could not fork 2 children (EAGAIN)" in lines[0]
    assert "forks again, after 4 requests" in lines[1]
