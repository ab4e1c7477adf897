"""The draining server's SIGTERM lines belong to no request: the signal handler runs in whatever
context the main thread is in (often a request being served), and the drain must not take its
request_id."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from runtime.adapters.cli.drain import DrainingServer
from runtime.infra import logs


class Drains:
    async def drain(self, grace_s: float) -> int:
        return 0


class RequestIds(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), logs.request_id.get()))


async def app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not served")


async def test_the_drains_log_lines_carry_no_request_id_of_the_interrupted_request() -> None:
    server = DrainingServer(uvicorn.Config(app), Drains(), drain_s=0)  # type: ignore[arg-type]
    server._loop = asyncio.get_running_loop()
    server.started = True
    seen = RequestIds()
    logger = logging.getLogger("terrarium")
    logger.addHandler(seen)
    try:
        token = logs.request_id.set("req_interrupted")  # the signal arrives while one is served
        try:
            server.handle_exit(signal.SIGTERM, None)
        finally:
            logs.request_id.reset(token)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if server.should_exit:
                break
    finally:
        logger.removeHandler(seen)
    assert server.should_exit
    assert seen.seen == [
        ("SIGTERM: draining; new executions are refused", None),
        ("drained; stopping", None),
    ]
