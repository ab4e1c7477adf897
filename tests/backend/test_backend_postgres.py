"""The built-in backend on PostgreSQL (asyncpg): the same code and migrations as on SQLite.
Starts a throwaway server itself; skipped when PostgreSQL is not installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import httpx
import pytest

from runtime.backend import Backend
from runtime.settings import Settings

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed")
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="terrarium-pg-")
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, port = os.path.join(root, "data"), _free_port()

    def run(*cmd: str) -> None:
        out = subprocess.DEVNULL  # a pipe would be held open by the server
        subprocess.run([*prefix, *cmd], check=True, stdout=out, stderr=out, timeout=60)

    run(initdb, "-D", data, "-U", "terrarium", "--auth=trust")
    log = os.path.join(root, "log")
    run(pg_ctl, "-D", data, "-l", log, "-o", f"-p {port} -k {root} -h 127.0.0.1", "-w", "start")
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"postgresql://terrarium@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


async def test_backend_on_postgres(pg_url, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", backend_speed=0, database_url=pg_url)
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
