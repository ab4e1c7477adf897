"""Fixtures for the built-in backend's tests: a fresh Backend on a tmp data_dir (runs finish
at once), its development credentials, an SDK client and a raw httpx client."""

from __future__ import annotations

import httpx
import pytest

from client_surface import AsyncFlora
from runtime.backend import Backend
from runtime.settings import Settings

BASE = "http://backend/api/v1"


def make_settings(tmp_path, **overrides) -> Settings:
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
        settings = make_settings(tmp_path, **overrides)
        if data_dir is not None:
            settings.data_dir = data_dir
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
