"""Fixtures for the built-in backend's tests: a fresh Backend on a tmp data_dir (runs finish
at once), its development credentials, an SDK client and a raw httpx client; for webhooks, an
HTTP listener on 127.0.0.1 (`HookServer`; the resolver `Zone` is in tests/helpers/resolver.py);
an empty database on the session's PostgreSQL server (`pg_url`, skipped when
PostgreSQL is not installed)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import httpx
import pytest
from throwaway_pg import fresh_database, new_database

from client_surface import AsyncFlora
from flora_backend import Backend
from flora_backend.settings import BackendSettings

BASE = "http://backend/api/v1"


_TEMPLATE: dict[str, bytes] = {}


def _migrated_db() -> bytes:
    """An SQLite file with every migration applied, made once per session (copying it is
    much faster than migrating each test's database)."""
    if "db" not in _TEMPLATE:
        import asyncio
        import concurrent.futures
        import tempfile
        from pathlib import Path

        from flora_backend.db import create_engine, init_db

        async def build(settings: BackendSettings) -> None:
            engine = create_engine(settings)
            await init_db(engine)
            await engine.dispose()

        with tempfile.TemporaryDirectory() as tmp:
            settings = BackendSettings(data_dir=Path(tmp), database_url=None)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:  # outside the test's loop
                pool.submit(asyncio.run, build(settings)).result()
            _TEMPLATE["db"] = (Path(tmp) / "terrarium.db").read_bytes()
    return _TEMPLATE["db"]


def make_settings(tmp_path, **overrides) -> BackendSettings:
    data_dir = overrides.get("data_dir", tmp_path / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "terrarium.db").exists():
        (data_dir / "terrarium.db").write_bytes(_migrated_db())
    values = {
        "data_dir": tmp_path / "data",
        "speed": 0.0,
        "sweep_interval_s": 0.02,
        "database_url": None,
    }
    values.update(overrides)
    return BackendSettings(**values)


@pytest.fixture
async def backend(tmp_path):
    b = Backend(make_settings(tmp_path))
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def new_backend(tmp_path):
    """A factory: `await new_backend(**settings)` starts a Backend, stopped at teardown."""
    started: list[Backend] = []

    async def make(data_dir=None, callback_resolver=None, webhook_ssl_context=None, **overrides):
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        settings = make_settings(tmp_path, **overrides)
        extra = {"callback_resolver": callback_resolver} if callback_resolver else {}
        b = Backend(settings, webhook_ssl_context=webhook_ssl_context, **extra)
        await b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        await b.stop()


def raw_client(b: Backend, key: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=b.transport(), base_url=BASE + "/", headers=headers)


@pytest.fixture
def raw_for():
    return raw_client


@pytest.fixture
async def creds(backend):
    return await backend.default_credentials()


@pytest.fixture
async def client(backend, creds):
    c = AsyncFlora(api_key=creds[1], base_url=BASE, transport=backend.transport(), max_retries=0)
    yield c
    await c.close()


@pytest.fixture
async def raw(backend, creds):
    async with httpx.AsyncClient(
        transport=backend.transport(),
        base_url=BASE + "/",
        headers={"authorization": f"Bearer {creds[1]}"},
    ) as c:
        yield c


@pytest.fixture
async def project(client, creds):
    return await client.projects.create(name="Test project", workspace_id=creds[0])


# ---------------------------------------------------------------- webhook receivers


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


class HookServer:
    """An HTTP/1.1 listener on 127.0.0.1 that records every connection and request. It answers
    `statuses` in turn (then 200), or, with hold=True, reads the request and never answers."""

    def __init__(
        self, statuses: tuple[int, ...] = (), hold: bool = False, ssl=None, location=None
    ) -> None:
        self.statuses = statuses
        self.hold = hold
        self.ssl = ssl
        self.location = location  # sent as a Location header with every answer
        self.connections = 0
        self.open_now = 0
        self.max_open = 0
        self.requests: list[Received] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> HookServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl)
        return self

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        self.connections += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            line, *fields = head.split("\r\n")
            headers = {}
            for field in fields:
                if ":" in field:
                    name, value = field.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, target, _ = line.split(" ", 2)
            self.requests.append(Received(method, target, headers, body, time.monotonic()))
            if self.hold:
                await reader.read()  # until the sender gives up and closes
                return
            n = len(self.requests) - 1
            status = self.statuses[n] if n < len(self.statuses) else 200
            head = f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n"
            if self.location:
                head += f"location: {self.location}\r\n"
            writer.write((head + "\r\n").encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
            self._handlers.discard(asyncio.current_task())

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)


@pytest.fixture
async def hook_server():
    """A factory: `await hook_server(statuses=..., hold=...)` listens on 127.0.0.1."""
    servers: list[HookServer] = []

    async def make(**kwargs) -> HookServer:
        server = await HookServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close()


@pytest.fixture(scope="module")
def pg_url(postgres_server: str) -> str:
    """An empty database of this module's own on the session's PostgreSQL server."""
    return fresh_database(postgres_server, "backend")


@pytest.fixture
async def pg_database(postgres_server: str) -> str:
    """An empty database of this test's own on the session's PostgreSQL server."""
    return await new_database(postgres_server, "test")


def pytest_collection_modifyitems(items):
    """In the backend's tests a SQLAlchemy deprecation warning is an error (inside a handler,
    a 500 the test sees): deprecated calls are replaced when they appear, not collected."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(
                pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")
            )


class FileServer:
    """Serves `body` for any GET on 127.0.0.1 (a stand-in for a public image host)."""

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status, self.hits = body, status, 0

    async def start(self) -> FileServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    def url(self, path: str = "/fox.png") -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.hits += 1
        head = (
            f"HTTP/1.1 {self.status} X\r\ncontent-type: image/png\r\n"
            f"content-length: {len(self.body)}\r\nconnection: close\r\n\r\n"
        )
        writer.write(head.encode() + self.body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def image_host():
    servers = []

    async def make(body: bytes, status: int = 200) -> FileServer:
        servers.append(await FileServer(body, status).start())
        return servers[-1]

    yield make
    for s in servers:
        s.server.close()
