"""What `terrarium serve` puts around uvicorn so that one answer costs as few wake-ups as it can.

On this kind of machine a write to a socket or a pipe that wakes another process costs tens of
microseconds (the reader's CPU is woken through the hypervisor), so:
- `OneSendProtocol` is uvicorn's httptools protocol whose writes made in one event-loop turn
  leave in one `send`: uvicorn writes an answer's head and its body separately, and the client
  was woken for the head alone. A whole answer leaves as soon as its last byte is written
  (before the app's own work after it: an execution's figures and "execution finished" line,
  the door's access log and metrics), and nothing is held past the turn (a streamed answer's
  head still leaves as soon as the app yields); closing the connection sends what is held
  first; a `writelines` is held with the rest, in order.
- `HeldLines` is the log handler's stream: lines logged on the event loop (a request's
  "execution finished" and its access line, and those of the requests served meanwhile) are
  written together, in the order they were logged, at most `HOLD_LINES_S` after the first of
  them; a line logged off the loop, or on another loop than the one the held lines wait for,
  is written at once with them, after them, and so is a line at WARNING or above
  (`HeldLinesHandler`); `flush_logs()` writes what is held (at exit, and before a re-raised
  SIGTERM ends the process). A line held when the process is killed (SIGKILL) is lost: at most
  `HOLD_LINES_S` of INFO lines.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections.abc import Iterable
from typing import IO, Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Past this many bytes held, what is held leaves at once (an answer's held bytes stay bounded).
HOLD_BYTES = 64 * 1024
# How long a log line logged on the loop may wait for others to share its write.
HOLD_LINES_S = 0.02


class TurnWrites:
    """A transport whose writes made in one loop turn are sent together at the end of it."""

    __slots__ = ("_transport", "_loop", "_held", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._held is None:
            self._held = [bytes(data)]
            self._size = len(data)
            self._loop.call_soon(self.send_held)
        else:
            self._held.append(bytes(data))
            self._size += len(data)
        if self._size > HOLD_BYTES:
            self.send_held()

    def writelines(self, parts: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in parts:  # held like any write, so that it cannot overtake one
            self.write(data)

    def send_held(self) -> None:
        held, self._held, self._size = self._held, None, 0
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.send_held()
        self._transport.close()

    def write_eof(self) -> None:
        self.send_held()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held, self._size = None, 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class OneSendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through `TurnWrites`; an answer leaves once whole."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: duck-typed both ways
        wrapped: Any = TurnWrites(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(wrapped)

    def on_response_complete(self) -> None:
        # uvicorn calls this right after an answer's last write: the answer is whole, so it
        # leaves now rather than at the end of the turn, after what the app does next.
        held = self.transport
        try:
            if isinstance(held, TurnWrites):
                held.send_held()
        finally:  # uvicorn's own end of the answer (keep-alive, the next pipelined request)
            super().on_response_complete()


class HeldLines:
    """A text stream for a logging handler: what is written on the loop leaves in one write
    `HOLD_LINES_S` after the first of it (the handler's `flush` after each record schedules
    it); off the loop, with no loop running, or on another loop than the one the held lines
    wait for (which may have ended), at once, after what is held."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._parts: list[str] = []
        # Held while lines are taken and written, so that a line written from another thread
        # never overtakes the ones being written.
        self._lock = threading.RLock()
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # whose timer writes them
        _streams.add(self)

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_out()
            return
        with self._lock:
            if self._timer_loop is loop:
                return
            waiting_elsewhere = self._timer_loop is not None
            if not waiting_elsewhere:
                self._timer_loop = loop
        if waiting_elsewhere:
            self.write_out()
            return
        try:
            loop.call_later(HOLD_LINES_S, self.write_out)
        except RuntimeError:  # the loop is closing
            self.write_out()

    def write_out(self) -> None:
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            self._timer_loop = None
            if text:
                self.stream.write(text)
                self.stream.flush()


_streams: weakref.WeakSet[HeldLines] = weakref.WeakSet()


def flush_logs() -> None:
    """Write every line held by a `HeldLines` stream now."""
    for stream in list(_streams):
        stream.write_out()


atexit.register(flush_logs)


class HeldLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing through `HeldLines`. A line at WARNING or above is not held: it
    is written at once, with what was held before it, so a drain, an error or records dropped
    are in the output even if the process is killed a moment later."""

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            try:
                self.stream.write_out()
            except Exception:
                self.handleError(record)


def batch_log_lines(logger: logging.Logger) -> None:
    """The logger's plain stream handlers write through `HeldLines` (once): each is replaced by
    a `HeldLinesHandler` with the same formatter, level, filters and name."""
    for index, handler in enumerate(logger.handlers):
        if type(handler) is not logging.StreamHandler:
            continue  # a file, or one already batched
        held = HeldLinesHandler(HeldLines(handler.stream))
        held.setFormatter(handler.formatter)
        held.setLevel(handler.level)
        held.filters = list(handler.filters)
        held.name = handler.name
        logger.handlers[index] = held
