"""`terrarium serve`'s answer to SIGTERM: drain, then stop.

The first SIGTERM does not close the listening socket: the server keeps answering, refuses new
executions with 503 (`shutting_down`, with retry-after) and says it is not ready on /readyz, so
a load balancer moves traffic elsewhere; executions already running get TERRARIUM_DRAIN_S
seconds to finish; the rest are failed, saying the server shut down
(`Executions.drain`). Then the server stops as before. SIGINT (Ctrl-C), or a second SIGTERM,
stops at once (what still runs is failed the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
import socket
from collections.abc import Generator
from types import FrameType

import uvicorn

from runtime.adapters.http.serving import flush_logs
from runtime.executions.service import Executions

log = logging.getLogger("terrarium")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, executions: Executions, drain_s: float) -> None:
        super().__init__(config)
        self.executions = executions
        self.drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises a captured SIGTERM as it leaves, which ends the process at once:
        # the log lines still held are written first.
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first_term = sig == signal.SIGTERM and not self._draining and not self.should_exit
        if not first_term or self._loop is None or not self.started:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._captured_signals.append(sig)  # re-raised once stopped, as uvicorn does
        # A fresh context: the handler runs in whatever the main thread was running (often a
        # request being served), whose request_id the drain's log lines must not carry.
        self._loop.call_soon_threadsafe(self._start_drain, context=contextvars.Context())

    def _start_drain(self) -> None:
        if self._drain is None and not self.should_exit:
            self._drain = asyncio.create_task(self._drain_then_exit(), name="terrarium-drain")

    async def _drain_then_exit(self) -> None:
        log.warning(
            "SIGTERM: draining; new executions are refused", extra={"drain_s": self.drain_s}
        )
        try:
            failed = await self.executions.drain(self.drain_s)
            log.warning("drained; stopping", extra={"failed": failed})
        except Exception:
            log.exception("draining failed; stopping")
        finally:
            self.should_exit = True
