"""`terrarium serve` around uvicorn: an answer leaves in one send, log lines logged on the loop
leave together in order, and nothing is held past its time, a close, or the end of the server."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
import uvicorn
from transports import FakeTransport
from uvicorn.server import ServerState

from runtime.adapters.http.serving import (
    HOLD_BYTES,
    HOLD_LINES_S,
    HeldLines,
    OneSendProtocol,
    TurnWrites,
    batch_log_lines,
    flush_logs,
)


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = b'{"status":"ok"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def protocol_for(app: Any) -> tuple[OneSendProtocol, FakeTransport]:
    config = uvicorn.Config(app, http=OneSendProtocol, log_level="warning", lifespan="off")
    config.load()
    protocol = OneSendProtocol(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


async def test_an_answer_leaves_in_one_send_head_and_body_together():
    protocol, transport = protocol_for(json_app)
    protocol.data_received(b"GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1, transport.writes
    sent = transport.writes[0]
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    assert sent.endswith(b'\r\n\r\n{"status":"ok"}')


async def test_a_whole_answer_leaves_before_what_the_app_does_after_it():
    """The answer's last write sends it, head and body in one send, within the app's own turn:
    what the app does next (the door's access log and metrics) does not hold it back."""
    seen: list[list[bytes]] = []

    async def then_more(scope: Any, receive: Any, send: Any) -> None:
        await json_app(scope, receive, send)
        seen.append(list(transport.writes))  # no turn has ended since the body was written

    protocol, transport = protocol_for(then_more)
    protocol.data_received(b"GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(seen) == 1 and len(seen[0]) == 1, seen
    assert seen[0][0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert seen[0][0].endswith(b'\r\n\r\n{"status":"ok"}')
    assert transport.writes == seen[0]  # and nothing was sent again at the end of the turn


async def test_a_streamed_head_is_not_held_past_the_turn():
    release = asyncio.Event()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()  # the app waits: the head must have left meanwhile
        await send({"type": "http.response.body", "body": b"late", "more_body": False})

    protocol, transport = protocol_for(streaming)
    protocol.data_received(b"GET /s HTTP/1.1\r\nHost: t\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200")
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert b"late" in b"".join(transport.writes[1:])


async def test_close_sends_what_is_held_first_and_abort_drops_it():
    loop = asyncio.get_running_loop()
    real = FakeTransport()
    writes = TurnWrites(real, loop)  # type: ignore[arg-type]
    writes.write(b"a")
    writes.write(b"b")
    assert real.writes == []
    writes.close()
    assert real.writes == [b"ab"] and real.closed
    await asyncio.sleep(0)  # the scheduled send finds nothing more
    assert real.writes == [b"ab"]

    other = FakeTransport()
    dropped = TurnWrites(other, loop)  # type: ignore[arg-type]
    dropped.write(b"x")
    dropped.abort()
    await asyncio.sleep(0)
    assert other.writes == [] and other.aborted


async def test_a_large_write_is_not_held():
    real = FakeTransport()
    writes = TurnWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"head")
    writes.write(b"x" * (HOLD_BYTES + 1))
    assert real.writes == [b"head" + b"x" * (HOLD_BYTES + 1)]


def make_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers[:] = [logging.StreamHandler(out)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    batch_log_lines(logger)
    batch_log_lines(logger)  # once: not wrapped twice
    stream = logger.handlers[0].stream  # type: ignore[attr-defined]
    assert isinstance(stream, HeldLines) and stream.stream is out
    return logger, out


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.write_calls = 0

    def write(self, text: str) -> int:
        self.write_calls += 1
        return super().write(text)


async def test_log_lines_on_the_loop_leave_together_in_order_soon_after_the_first():
    logger, _ = make_logger("terrarium.test.serving.turn")
    counting = CountingStream()
    stream = logger.handlers[0].stream  # type: ignore[attr-defined]
    stream.stream = counting
    logger.info("execution finished")
    logger.info("request")
    await asyncio.sleep(0)
    logger.info("another request's")
    assert counting.getvalue() == ""  # held
    await asyncio.sleep(HOLD_LINES_S * 3)
    assert counting.getvalue() == "execution finished\nrequest\nanother request's\n"
    assert counting.write_calls == 1
    logger.info("next")
    await asyncio.sleep(HOLD_LINES_S * 3)
    assert counting.getvalue().endswith("another request's\nnext\n")
    assert counting.write_calls == 2


def test_lines_logged_off_the_loop_are_written_at_once():
    logger, out = make_logger("terrarium.test.serving.sync")
    logger.warning("no loop here")
    assert out.getvalue() == "no loop here\n"


async def test_flush_logs_writes_what_is_held():
    logger, out = make_logger("terrarium.test.serving.flush")
    logger.info("before a re-raised SIGTERM")
    flush_logs()
    assert out.getvalue() == "before a re-raised SIGTERM\n"


def test_the_draining_server_writes_held_lines_before_it_leaves(monkeypatch: pytest.MonkeyPatch):
    from runtime.adapters.cli.drain import DrainingServer

    logger, out = make_logger("terrarium.test.serving.drain")
    server = DrainingServer(uvicorn.Config(json_app), executions=None, drain_s=0)  # type: ignore[arg-type]

    async def main() -> None:
        with server.capture_signals():
            logger.info("lifespan shut down")  # held
            assert out.getvalue() == ""
        assert out.getvalue() == "lifespan shut down\n"  # written as capture_signals left

    asyncio.run(main())


async def test_writelines_is_held_in_order_with_the_turns_other_writes() -> None:
    real = FakeTransport()
    real.writelines = lambda parts: real.writes.append(b"".join(parts))  # type: ignore[attr-defined]
    writes = TurnWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    writes.writelines([b"HTTP/1.1 200 OK\r\n", b"\r\n", b"body"])
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody"]


def test_a_line_logged_off_the_loop_is_not_written_before_one_being_written() -> None:
    """The loop's timer is writing the held lines when another thread logs: its line follows
    them, it does not overtake them."""
    import threading

    entered, release = threading.Event(), threading.Event()

    class SlowStream(io.StringIO):
        def write(self, text: str) -> int:
            if text.startswith("held"):
                entered.set()
                release.wait(5)
            return super().write(text)

    logger, _ = make_logger("terrarium.test.serving.threads")
    slow = SlowStream()
    stream = logger.handlers[0].stream  # type: ignore[attr-defined]
    stream.stream = slow
    stream.write("held on the loop\n")
    timer = threading.Thread(target=stream.write_out)  # as the loop's timer would
    timer.start()
    assert entered.wait(5)
    other = threading.Thread(target=logger.warning, args=("from a thread",))
    other.start()
    other.join(0.2)  # its line may not overtake the one being written
    release.set()
    timer.join(5)
    other.join(5)
    assert slow.getvalue() == "held on the loop\nfrom a thread\n"


async def test_lines_held_for_a_loop_that_ended_do_not_hold_the_next_ones() -> None:
    """A line logged on a loop that ended before its write (another thread's asyncio.run) is
    written with the next line logged, not held with it until the process exits."""
    import threading

    logger, out = make_logger("terrarium.test.serving.loops")

    async def elsewhere() -> None:
        logger.info("on a short-lived loop")

    thread = threading.Thread(target=asyncio.run, args=(elsewhere(),))
    thread.start()
    thread.join(5)
    logger.info("on the server's loop")
    await asyncio.sleep(HOLD_LINES_S * 3)
    assert out.getvalue() == "on a short-lived loop\non the server's loop\n"


async def test_a_warning_is_written_at_once_after_the_lines_held_before_it() -> None:
    """Held lines are lost if the process is killed before their write: a warning or an error
    (a drain, records dropped) is not held, and takes what is held before it along."""
    logger, out = make_logger("terrarium.test.serving.levels")
    logger.info("execution finished")
    assert out.getvalue() == ""
    logger.error("execution records could not be written; dropped")
    assert out.getvalue() == (
        "execution finished\nexecution records could not be written; dropped\n"
    )
    logger.info("request")
    await asyncio.sleep(HOLD_LINES_S * 3)
    assert out.getvalue().endswith("dropped\nrequest\n")


def test_batching_keeps_the_handlers_formatter_level_and_filters() -> None:
    out = io.StringIO()
    logger = logging.getLogger("terrarium.test.serving.keep")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    handler.addFilter(lambda record: "secret" not in record.getMessage())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    batch_log_lines(logger)
    logger.debug("below the handler's level")
    logger.warning("a secret")
    logger.warning("shown")
    assert out.getvalue() == "WARNING shown\n"


async def test_uvicorns_end_of_an_answer_runs_even_if_sending_it_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its keep-alive timer and the next pipelined request hang on it: a write that raises
    must not leave the connection without them."""
    ended: list[bool] = []
    monkeypatch.setattr(
        uvicorn.protocols.http.httptools_impl.HttpToolsProtocol,
        "on_response_complete",
        lambda self: ended.append(True),
    )
    protocol, transport = protocol_for(json_app)

    def broken(self: TurnWrites) -> None:
        raise OSError("the transport failed")

    monkeypatch.setattr(TurnWrites, "send_held", broken)
    with pytest.raises(OSError, match="the transport failed"):
        protocol.on_response_complete()
    assert ended == [True]
