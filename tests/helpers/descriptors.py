"""`copies(sock)`: how many of this process's descriptors are one socket, for tests that show a
descriptor the host was handed is closed (not left open beside the one the test holds)."""

from __future__ import annotations

import os
import socket


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
