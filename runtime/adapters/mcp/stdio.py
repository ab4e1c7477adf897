"""`terrarium mcp`: one client over stdin/stdout, served as the default tenant, so every
execution is admitted and recorded as over HTTP.

Its data directory is the user's (`platformdirs`: `~/.local/share/terrarium` on Linux) unless
TERRARIUM_DATA_DIR says otherwise, never the directory the client happened to start it in; one
it cannot write is refused at start, by name.

With the built-in backend, outputs are files in that directory, which no HTTP server serves
here: `terrarium mcp` binds its own file server on 127.0.0.1 (the port it had last time for this
data directory when it is free, else any free one), read-only, serving only the backend's file
route, and output URLs point at it. A URL stays fetchable while the process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from pathlib import Path
from typing import Any

from runtime.settings import Settings

APP_NAME = "terrarium"
FILES_PORT_FILE = "mcp-files-port"  # in the data dir: the file server's port, tried again first
CANNOT_START = 2  # the exit status of a process that could not start (as `terrarium serve`)
FILE_PATH = re.compile(r"/api/v1/files/[A-Za-z0-9_-]{1,100}")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DataDirError(Exception):
    """The data directory cannot be used; the message names it and the setting."""


def user_data_dir() -> Path:
    from platformdirs import user_data_dir as platform_dir

    return Path(platform_dir(APP_NAME, appauthor=False))


def check_writable(path: Path) -> None:
    """Create `path` if needed and write a file in it, or raise DataDirError naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataDirError(
            f"cannot write to the data directory {path} ({reason}); set TERRARIUM_DATA_DIR "
            "to a directory this user can write"
        ) from None


def stdio_settings(settings: Settings) -> Settings:
    """The settings `terrarium mcp` serves with: the per-user data directory unless
    TERRARIUM_DATA_DIR is set, checked writable (DataDirError otherwise)."""
    if "data_dir" not in settings.model_fields_set:
        settings = settings.model_copy(update={"data_dir": user_data_dir()})
    check_writable(settings.data_dir)
    return settings


def serves_files(settings: Settings) -> bool:
    """Whether this process must serve the output files itself: the built-in backend, and no
    TERRARIUM_BACKEND_PUBLIC_URL naming another server that does."""
    return not settings.flora_api_key and "backend_public_url" not in settings.model_fields_set


def bind_loopback(data_dir: Path) -> socket.socket:
    """A listening socket on 127.0.0.1: last time's port for this data directory when free."""
    remembered = data_dir / FILES_PORT_FILE
    port = 0
    with contextlib.suppress(OSError, ValueError):
        port = int(remembered.read_text().strip())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        remembered.write_text(f"{sock.getsockname()[1]}\n")
    return sock


def files_only(app: ASGIApp, port: int) -> ASGIApp:
    """`app` reached only by GET/HEAD of a file URL with a loopback Host (a page in a browser
    that renamed its host to 127.0.0.1 is refused); anything else is 404 or 405."""
    hosts = {f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()}

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        host = dict(scope.get("headers") or []).get(b"host", b"").lower()
        path = scope.get("path", "")
        if host in hosts and FILE_PATH.fullmatch(path) and scope["method"] in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        status = 405 if host in hosts and FILE_PATH.fullmatch(path) else 404
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"allow", b"GET, HEAD")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"only output files are served here\n"})

    return serve


async def serve_files(app: ASGIApp, sock: socket.socket) -> Callable[[], Awaitable[None]]:
    """Serve `app` on `sock` (uvicorn, no logs of its own, no signal handlers taken from the
    stdio server); returns the coroutine function that stops it."""
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                            server_header=False, date_header=False)  # fmt: skip
    server = Quiet(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        sock.close()

    return stop


async def serve_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout with an executions service of its own.

    The service starts inside the stdio transport, which points fd 1 at stderr while it
    serves, so nothing the sandbox processes write can reach the protocol stream. A data
    directory it cannot write ends the process with status 2 and one line on stderr.
    """
    try:  # before the service's imports: a refusal is immediate
        settings = stdio_settings(settings)
    except DataDirError as exc:
        print(f"terrarium: {exc}", file=sys.stderr)
        raise SystemExit(CANNOT_START) from None
    from mcp.server.stdio import stdio_server

    from runtime.adapters.mcp.tools import build_mcp_server
    from runtime.executions.service import Executions

    sock: socket.socket | None = None
    if serves_files(settings):
        sock = bind_loopback(settings.data_dir)
        port = sock.getsockname()[1]
        settings = settings.model_copy(update={"backend_public_url": f"http://127.0.0.1:{port}"})
    async with stdio_server() as (read_stream, write_stream):
        executions = Executions(settings)
        await executions.start()
        stop_files: Callable[[], Awaitable[None]] | None = None
        try:
            backend = executions.connections.backend
            if sock is not None and backend is not None:
                app = files_only(backend.standalone_app(), sock.getsockname()[1])
                stop_files = await serve_files(app, sock)

            def default_tenant(ctx: Any) -> Any:
                return executions.default_tenant

            server = build_mcp_server(executions, default_tenant)
            await server.run(read_stream, write_stream, server.create_initialization_options())
        finally:
            if stop_files is not None:
                await stop_files()
            elif sock is not None:
                sock.close()
            await executions.stop()
