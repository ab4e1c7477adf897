"""The zygote forks the children of one request before it hands any of them to the host.

Every page the zygote writes after a fork is copied while the child shares it, so the work of
handing a child over (pidfd, send, closes) is done once for a group, after its last fork, and
the group goes to the host in one message.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from client_surface.table import sandbox_spec
from sandbox import zygote
from sandbox.limits import Limits
from sandbox.pool import WarmPool


def test_a_request_for_children_forks_them_all_before_handing_any_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    pids = iter(range(40001, 40100))

    def fork() -> int:
        events.append("fork")
        return next(pids)  # the zygote's side only: no child is made

    def pidfd_open(pid: int) -> int:
        raise OSError("no such process")  # the channels go alone

    def send_fds(sock: Any, buffers: list[bytes], fds: list[int]) -> None:
        events.append("send")
        assert len(fds) == 3 and all(os.fstat(fd) for fd in fds)  # the channels' host ends

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(os, "pidfd_open", pidfd_open)
    monkeypatch.setattr(socket, "send_fds", send_fds)
    ctrl_a, ctrl_b = socket.socketpair()
    try:
        zygote._spawn(ctrl_a, None, {}, False, 3)  # type: ignore[arg-type]
    finally:
        ctrl_a.close()
        ctrl_b.close()
    assert events == ["fork"] * 3 + ["send"]  # the whole group in one message


def test_a_whole_group_fits_in_what_the_host_takes_in_one_message() -> None:
    # The host refuses a `children` message of more than GROUP_MAX children (and reads at most
    # CONTROL_FDS_MAX descriptors): a larger group would be refused whole, every time.
    from sandbox.pool import CONTROL_FDS_MAX, GROUP_MAX

    assert zygote.SPAWN_TOGETHER <= GROUP_MAX and 2 * zygote.SPAWN_TOGETHER <= CONTROL_FDS_MAX


def test_a_large_request_is_forked_in_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    groups: list[int] = []
    monkeypatch.setattr(zygote, "_spawn", lambda ctrl, spec, st, raw, n, exits: groups.append(n))
    zygote._spawn_groups(None, None, {}, False, 19, zygote._Exits())  # type: ignore[arg-type]
    assert groups == [8, 8, 3]
    groups.clear()
    zygote._spawn_groups(None, None, {}, False, 1000, zygote._Exits())  # type: ignore[arg-type]
    assert sum(groups) == 256 and max(groups) == 8  # at most 256 for one request, as before


_LIST_DESCRIPTORS = """
import os, stat
open_fds = []
for fd in range(4096):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    open_fds.append([fd, stat.S_ISSOCK(mode)])
result = open_fds
"""


async def test_a_script_sees_no_descriptor_of_its_group() -> None:
    # The pool's first request is one group of eight: each child was forked holding the other
    # seven channels (both ends) and the zygote's control socket; none may be open by the time
    # a script runs, whichever of the group it runs on (the first forked or the last).
    pool = WarmPool(sandbox_spec(), warm=zygote.SPAWN_TOGETHER, size_max=8, allow_raw=True)
    await pool.start()
    try:
        limits = Limits(timeout_s=10, cpu_s=5, memory_mb=128)
        runs = [pool.execute(_LIST_DESCRIPTORS, limits=limits, raw=True) for _ in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*runs), 60)
    finally:
        await pool.stop()
    for result in results:
        assert result.status == "ok", result.error
        fds = result.result
        assert [fd for fd, _ in fds[:3]] == [0, 1, 2] and not any(s for _, s in fds[:3]), fds
        assert len(fds) == 4 and fds[3][1], fds  # stdio on /dev/null and its own channel only
