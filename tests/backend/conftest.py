"""Fixtures for the built-in backend's tests: a fresh Backend on a tmp data_dir (runs finish
at once), its development credentials, an SDK client and a raw httpx client."""

from __future__ import annotations

import httpx
import pytest

from client_surface import AsyncFlora
from runtime.backend import Backend
from runtime.settings import Settings

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

        from runtime.db import create_engine, init_db

        async def build(settings: Settings) -> None:
            engine = create_engine(settings)
            await init_db(engine)
            await engine.dispose()

        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=None)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:  # outside the test's loop
                pool.submit(asyncio.run, build(settings)).result()
            _TEMPLATE["db"] = (Path(tmp) / "terrarium.db").read_bytes()
    return _TEMPLATE["db"]


def make_settings(tmp_path, **overrides) -> Settings:
    data_dir = overrides.get("data_dir", tmp_path / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "terrarium.db").exists():
        (data_dir / "terrarium.db").write_bytes(_migrated_db())
    values = {
        "data_dir": tmp_path / "data",
        "backend_speed": 0.0,
        "backend_sweep_interval_s": 0.02,
        "database_url": None,
    }
    values.update(overrides)
    return Settings(**values)


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

    async def make(data_dir=None, webhook_transport=None, **overrides) -> Backend:
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        settings = make_settings(tmp_path, **overrides)
        b = Backend(settings, webhook_transport=webhook_transport)
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
