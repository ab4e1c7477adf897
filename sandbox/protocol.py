"""JSON frames on a byte stream: the only thing that crosses between a sandbox child and the host.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Both sides
serialize and parse with the standard library's json module and nothing else: no pickle, no
object hooks, so a hostile child can at worst send bytes the host refuses.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
# A frame larger than this is a protocol violation: the host stops reading and kills the child.
MAX_FRAME_BYTES = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # includes JSONDecodeError and huge ints
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None


def send(sock: socket.socket, message: Any) -> None:
    sock.sendall(encode(message))


class Reader:
    """Blocking reads of whole frames (the child's side): one recv per frame when it fits."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = FrameBuffer()
        self._frames: collections.deque[Any] = collections.deque()

    def recv(self) -> Any:
        while not self._frames:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("channel closed")
            self._frames.extend(self._buffer.feed(data))
        return self._frames.popleft()


class FrameBuffer:
    """Incremental parser for the host side: feed bytes, take out whole frames."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        frames = []
        while len(self._buf) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buf)
            if length > self._max:
                raise ProtocolError(f"frame of {length} bytes is over the limit")
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append(decode_body(bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return frames

    @property
    def partial(self) -> bool:
        """Bytes of a frame not yet complete are waiting for more."""
        return bool(self._buf)
