"""Descriptors the host is handed, for tests that show none is left open: `copies(sock)` counts
this process's descriptors of one socket, and `fake_zygote()` gives a pool reading a control
socket the test writes to as the zygote would, with a child's channel to hand over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from sandbox.pool import WarmPool


def copies(sock: socket.socket) -> int:
    """How many of this process's descriptors are this socket."""
    me = os.readlink(f"/proc/self/fd/{sock.fileno()}")
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == me
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return count


@dataclass
class FakeZygote:
    pool: WarmPool
    zygote_end: socket.socket  # what the zygote would write to
    channel: socket.socket  # the host's end of a child's channel, to send with a message
    other: socket.socket  # the child's end


@contextlib.contextmanager
def fake_zygote() -> Iterator[FakeZygote]:
    """A pool on a control socket the test writes to (inside a running event loop); no request
    for children goes out on it. Every child it took, and every socket, is closed after."""
    pool = WarmPool()
    host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel, other = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_end.setblocking(False)
    pool._ctrl = host_end
    pool._loop = asyncio.get_running_loop()
    pool._asking = True
    try:
        yield FakeZygote(pool, zygote_end, channel, other)
    finally:
        for child in pool._idle:
            child.close()
        for sock in (host_end, zygote_end, channel, other):
            sock.close()
