"""The zygote forks the children of one request before it hands any of them to the host.

Every page the zygote writes after a fork is copied while the child shares it, so the work of
handing a child over (pidfd, send, closes) is done once for a group, after its last fork.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from sandbox import zygote


def test_a_request_for_children_forks_them_all_before_handing_any_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    pids = iter(range(40001, 40100))

    def fork() -> int:
        events.append("fork")
        return next(pids)  # the zygote's side only: no child is made

    def pidfd_open(pid: int) -> int:
        raise OSError("no such process")  # the child's channel goes alone

    def send_fds(sock: Any, buffers: list[bytes], fds: list[int]) -> None:
        events.append("send")
        assert len(fds) == 1 and os.fstat(fds[0])  # the channel's host end, still open

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(os, "pidfd_open", pidfd_open)
    monkeypatch.setattr(socket, "send_fds", send_fds)
    ctrl_a, ctrl_b = socket.socketpair()
    try:
        zygote._spawn(ctrl_a, None, {}, False, 3)  # type: ignore[arg-type]
    finally:
        ctrl_a.close()
        ctrl_b.close()
    assert events == ["fork"] * 3 + ["send"] * 3


def test_a_large_request_is_forked_in_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    groups: list[int] = []
    monkeypatch.setattr(zygote, "_spawn", lambda ctrl, spec, st, raw, n: groups.append(n))
    zygote._spawn_groups(None, None, {}, False, 19)  # type: ignore[arg-type]
    assert groups == [8, 8, 3]
    groups.clear()
    zygote._spawn_groups(None, None, {}, False, 1000)  # type: ignore[arg-type]
    assert sum(groups) == 256 and max(groups) == 8  # at most 256 for one request, as before
