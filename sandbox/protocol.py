"""JSON frames on a byte stream: the only thing that crosses between a sandbox child and the host.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Nothing but
JSON crosses: no pickle, no object hooks. Each side encodes the frames declared in
sandbox/messages.py (the child with the standard library's json, `allow_nan=False`, the frame's
"t" first; the host with msgspec, sandbox/frames.py) and adds the header here. The host cuts the
byte stream into frames here, checking each frame's length against its cap as soon as the header
arrives (before buffering the body), and parses them strictly in sandbox/frames.py.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
from _json import make_scanner
from typing import Any

HEADER = struct.Struct(">I")
# The largest frame the child accepts from the host (a script, its inputs, a reply).
MAX_FRAME_BYTES = 64 * 1024 * 1024
# The largest frame the host accepts from a child other than `done`: call arguments are small
# (ids, prompts, settings), and a cap well under what could hurt the server bounds what a child
# makes the host buffer and parse. The child refuses larger arguments itself, with a message.
CALL_FRAME_BYTES = 256 * 1024
# A frame over CALL_FRAME_BYTES must open with this (its own cap is set per execution).
DONE_PREFIX = b'{"t":"done"'


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


def frame(body: bytes) -> bytes:
    """A frame's body (JSON bytes) with its length header."""
    return HEADER.pack(len(body)) + body


# The scanner json.loads ends in, called directly: the host's frames are compact JSON (msgspec),
# with no whitespace around the value for JSONDecoder.decode to skip.
_SCAN = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # its stub is narrower


def decode_body(body: bytes) -> Any:
    try:  # the host sends UTF-8 only: decoded here, so no guessing of the encoding
        text = body.decode()
        value, end = _SCAN(text, 0)
    except StopIteration as stop:  # the scanner's way of saying there is no value at an index
        error = json.JSONDecodeError("Expecting value", text, stop.value)  # as json.loads says
        raise ProtocolError(f"frame is not valid JSON: {error}") from None
    except (
        ValueError,
        RecursionError,
    ) as exc:  # UnicodeDecodeError is a ValueError  # includes JSONDecodeError and huge ints
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if end != len(text):
        error = json.JSONDecodeError("Extra data", text, end)
        raise ProtocolError(f"frame is not valid JSON: {error}")
    return value


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
            bodies = self._buffer.feed(data)
            if len(bodies) == 1:  # most often: one frame, one read
                return decode_body(bodies[0])
            self._frames.extend(decode_body(body) for body in bodies)
        return self._frames.popleft()

    @property
    def buffered(self) -> bool:
        """A whole frame is already read and waiting (recv() will not block)."""
        return bool(self._frames)


class FrameBuffer:
    """Cuts a byte stream into frame bodies (bytes, not yet parsed); refuses oversized frames.

    A frame's length is checked when its header arrives, so no more than the cap (plus one read)
    is ever buffered. Frames up to `max_small` bytes may be of any kind; larger ones, up to
    `max_frame`, only if they open with DONE_PREFIX (known after its first bytes arrive).
    """

    def __init__(self, max_frame: int = MAX_FRAME_BYTES, max_small: int | None = None) -> None:
        self._buf = bytearray()
        self._max = max_frame
        self._max_small = max_frame if max_small is None else min(max_small, max_frame)

    def feed(self, data: bytes) -> list[bytes]:
        if not self._buf and len(data) >= HEADER.size:  # most often: exactly one small frame
            (length,) = HEADER.unpack_from(data)
            if length <= self._max_small and len(data) == HEADER.size + length:
                return [data[HEADER.size :]]
        self._buf += data
        bodies = []
        while len(self._buf) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buf)
            if length > self._max:
                raise ProtocolError(f"a frame of {length} bytes, over the {self._max}-byte cap")
            if length > self._max_small:
                opening = bytes(self._buf[HEADER.size : HEADER.size + len(DONE_PREFIX)])
                if not DONE_PREFIX.startswith(opening):
                    raise ProtocolError(
                        f"a frame of {length} bytes, over the {self._max_small}-byte cap for "
                        "frames other than 'done'"
                    )
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            bodies.append(bytes(self._buf[HEADER.size : end]))
            del self._buf[:end]
        return bodies

    @property
    def partial(self) -> bool:
        """Bytes of a frame not yet complete are waiting for more."""
        return bool(self._buf)
