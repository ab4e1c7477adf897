"""The host reads the zygote's control messages as it reads a child's frames: a `child` message
whose pid is not one process's (a negative pid or 0 would make a signal by pid reach a whole
process group, or every process; one out of range raises) is refused, and the descriptors it
carried are closed."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from sandbox.pool import WarmPool


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


NOT_A_PROCESS = [b"-1", b"0", b"-4242", b"2147483648", b'"12"', b"12.0", b"true", b"null"]


@pytest.mark.parametrize("pid", NOT_A_PROCESS)
async def test_a_child_message_with_a_pid_that_is_not_a_process_is_refused(pid: bytes) -> None:
    pool = WarmPool()
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_end.setblocking(False)
    pool._ctrl = host_end
    pool._loop = asyncio.get_running_loop()
    pool._asking = True  # no request for children goes out on this fake control socket
    received = set(os.listdir("/proc/self/fd"))
    try:
        socket.send_fds(zygote_end, [b'{"op": "child", "pid": %s}' % pid], [channel.fileno()])
        pool._on_control()
        assert not pool._idle, pool._idle
        new = set(os.listdir("/proc/self/fd")) - received
        assert not [fd for fd in new if _open(int(fd))], new  # what it carried is closed
    finally:
        for child in pool._idle:
            child.close()
        for sock in (host_end, zygote_end, channel, other):
            sock.close()


async def test_a_child_message_with_a_process_id_is_taken() -> None:
    pool = WarmPool()
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_end.setblocking(False)
    pool._ctrl = host_end
    pool._loop = asyncio.get_running_loop()
    pool._asking = True
    try:
        socket.send_fds(zygote_end, [b'{"op": "child", "pid": 4242}'], [channel.fileno()])
        pool._on_control()
        assert [(child.pid, child.pidfd) for child in pool._idle] == [(4242, None)]
    finally:
        for child in pool._idle:
            child.close()
        for sock in (host_end, zygote_end, channel, other):
            sock.close()
