"""The host reads the zygote's control messages as it reads a child's frames: a `child` message
whose pid is not one process's (a negative pid or 0 would make a signal by pid reach a whole
process group, or every process; one out of range raises) is refused, and the descriptors it
carried are closed."""

from __future__ import annotations

import asyncio
import socket

import pytest
from descriptors import copies

from sandbox.pool import WarmPool

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
    try:
        socket.send_fds(zygote_end, [b'{"op": "child", "pid": %s}' % pid], [channel.fileno()])
        pool._on_control()
        assert not pool._idle, pool._idle
        assert copies(channel) == 1  # what it carried is closed
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


@pytest.mark.parametrize(
    "body",
    [
        b'{"op": "exit", "pid": 4242, "code": 0, "signal": null, "cpu_ms": 1.0}',
        b'{"op": "what"}',
        b'{"op": "child", "pid": 4242',
        b"[1, 2]",
    ],
)
async def test_descriptors_carried_by_any_other_message_are_closed(body: bytes) -> None:
    pool = WarmPool()
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_end.setblocking(False)
    pool._ctrl = host_end
    pool._loop = asyncio.get_running_loop()
    pool._asking = True
    try:
        socket.send_fds(zygote_end, [body], [channel.fileno()])
        try:
            pool._on_control()
        except ValueError:
            pass  # not JSON, or not an object: refused as before
        assert not pool._idle
        assert copies(channel) == 1
    finally:
        for sock in (host_end, zygote_end, channel, other):
            sock.close()
