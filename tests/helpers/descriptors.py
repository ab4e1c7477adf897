"""Descriptors the host is handed, for tests that show none is left open: `copies(sock)` counts
this process's descriptors of one socket, and `fake_zygote()` gives a pool reading a control
socket the test writes to as the zygote would, with a child's channel to hand over; for tests
of the zygote's side, `control_socket()` is a control socket's two ends and
`zygote_messages(host_end)` what the zygote has sent on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.pool import WarmPool


def copies(sock: socket.socket | int) -> int:
    """How many of this process's descriptors are this socket (or what this descriptor is)."""
    fd = sock if isinstance(sock, int) else sock.fileno()
    me = os.readlink(f"/proc/self/fd/{fd}")
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == me
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return count


def children_message(pids: bytes, pidfds: bytes = b"false", exits: bytes = b"[]") -> bytes:
    """A `children` message as the zygote writes it, its fields given as JSON text."""
    return b'{"op": "children", "pids": [%s], "pidfds": %s, "exits": %s}' % (pids, pidfds, exits)


@dataclass
class FakeZygote:
    pool: WarmPool
    zygote_end: socket.socket  # what the zygote would write to
    channel: socket.socket  # the host's end of a child's channel, to send with a message
    other: socket.socket  # the child's end

    def says(self, message: bytes, carried: int = 0, fds: list[int] | None = None) -> None:
        """The zygote sends `message`, with `carried` copies of the channel (or `fds`), and the
        pool reads it."""
        socket.send_fds(self.zygote_end, [message], fds or [self.channel.fileno()] * carried)
        self.pool._on_control()


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


@contextlib.contextmanager
def control_socket() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The zygote's end of a control socket and the host's (non-blocking, to read); both
    closed after."""
    zygote_end, host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host_end.setblocking(False)
    try:
        yield zygote_end, host_end
    finally:
        zygote_end.close()
        host_end.close()


def zygote_messages(host_end: socket.socket) -> list[dict[str, Any]]:
    """Every message the zygote has sent so far, read as JSON; the descriptors any of them
    carried are closed."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(host_end, 1 << 16, 64)
        except BlockingIOError:
            return out
        for fd in fds:
            os.close(fd)
        out.append(json.loads(data))
