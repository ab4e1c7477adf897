"""A real DrainingServer in a subprocess, stopped by SIGTERM: the lines logged on the loop as it
stops (held for a shared write) are in its output before the re-raised signal ends the process.
This holds only while uvicorn's run goes through `capture_signals`, which DrainingServer
extends: an upgrade of uvicorn that stops doing so fails here instead of losing lines."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

SERVER = textwrap.dedent(
    """
    import asyncio, logging, os, signal, socket, sys

    import uvicorn

    from runtime.adapters.cli.drain import DrainingServer
    from runtime.adapters.http.serving import OneSendProtocol, batch_log_lines

    log = logging.getLogger("terrarium")
    log.handlers[:] = [logging.StreamHandler(sys.stderr)]
    log.setLevel(logging.INFO)
    log.propagate = False
    batch_log_lines(log)


    class Drains:
        async def drain(self, grace_s):
            return 0


    async def app(scope, receive, send):
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
            elif message["type"] == "lifespan.shutdown":
                log.info("the last line, logged as the server stops")
                await send({"type": "lifespan.shutdown.complete"})
                return


    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", http=OneSendProtocol, loop="uvloop")
    DrainingServer(config, Drains(), 0).run(sockets=[sock])
    print("not reached: the re-raised SIGTERM ends the process", file=sys.stderr)
    """
)


def test_lines_logged_as_the_server_stops_are_written_before_sigterm_ends_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVER],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stderr.splitlines() == [
        "SIGTERM: draining; new executions are refused",
        "drained; stopping",
        "the last line, logged as the server stops",
    ], done.stderr
