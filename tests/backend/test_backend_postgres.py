"""The built-in backend on PostgreSQL (asyncpg): the same code and migrations as on SQLite.
Starts a throwaway server itself (`pg_url` in conftest); skipped when PostgreSQL is not
installed."""

from __future__ import annotations

import httpx
import pytest

from flora_backend import Backend
from flora_backend.settings import BackendSettings

pytestmark = pytest.mark.postgres


async def test_backend_on_postgres(pg_url, tmp_path):
    settings = BackendSettings(data_dir=tmp_path / "data", speed=0, database_url=pg_url)
    assert settings.database_url_or_default().startswith("postgresql+asyncpg://")
    async with Backend(settings) as b:
        ws, key = await b.default_credentials()
        async with httpx.AsyncClient(
            transport=b.transport(),
            base_url="http://backend/api/v1/",
            headers={"authorization": f"Bearer {key}", "idempotency-key": "pg-1"},
        ) as raw:
            prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
            body = {"type": "image", "prompt": "a fox", "workspace_id": ws}
            body["project_id"] = prj["project_id"]
            started = await raw.post("generate", json=body)
            assert started.status_code == 201, started.text
            assert (await raw.post("generate", json=body)).status_code == 409
            run = (await raw.get(f"runs/{started.json()['run_id']}")).json()
            assert run["status"] == "completed"
            page = (await raw.get("generations", params={"limit": 1})).json()
            assert page["generations"][0]["run_id"] == run["run_id"]
            file_url = run["outputs"][0]["url"].rsplit("/api/v1/", 1)[1]
            assert (await raw.get(file_url)).headers["content-type"] == "image/png"
    async with Backend(settings) as again:  # migrations re-applied cleanly; key kept
        assert await again.default_credentials() == (ws, key)
