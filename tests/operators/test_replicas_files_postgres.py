"""Two `terrarium serve` replicas on one PostgreSQL serve each other's files: an output generated
through one is fetched (whole, by range, by HEAD) through the other, and a several-MB signed
upload sent to one and completed on the other is served by both. Replicas starting at once
migrate one at a time (an advisory lock), so none fails on tables another is creating."""

from __future__ import annotations

import asyncio
import os
import random
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cryptography.fernet import Fernet
from served import ServedTerrarium as Replica
from throwaway_pg import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def database_url(postgres_server: str) -> str:
    return postgres_server


@pytest.fixture(scope="module")
def replicas(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("file-replicas")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "TERRARIUM_"))},
        "DATABASE_URL": fresh_database(database_url, "files"),
        "TERRARIUM_SECRET_KEY": Fernet.generate_key().decode(),
        "TERRARIUM_BACKEND_SPEED": "0",
        "TERRARIUM_POOL_WARM": "1",
    }
    # Both start at once on the empty database, as pods of a StatefulSet do: one migrates and
    # seeds while the other waits on the lock.
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(Replica, env, root / name) for name in ("a", "b")]
    started = [f.result() for f in starting if f.exception() is None]
    try:
        assert len(started) == 2, [str(f.exception()) for f in starting if f.exception()]
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.stop()


def _path(url: str) -> str:
    return "/api/v1/" + url.split("/api/v1/", 1)[1]


def test_replicas_started_together_share_one_development_workspace(replicas):
    a, b = replicas
    seen = set()
    for replica in (a, b):
        key = (replica.data_dir / "dev-key").read_text().strip()
        listed = httpx.get(
            replica.base + "/api/v1/workspaces", headers={"authorization": f"Bearer {key}"}
        )
        seen.update(w["workspace_id"] for w in listed.json()["workspaces"])
    assert len(seen) == 1


def test_an_output_made_through_one_replica_is_served_by_the_other(replicas):
    a, b = replicas
    code = (
        "ws = client.workspaces.list().workspaces[0].workspace_id\n"
        "p = client.projects.create(name='p', workspace_id=ws)\n"
        "r = client.generations.create(workspace_id=ws, project_id=p.project_id, type='image',"
        " prompt='a fox across replicas')\n"
        "client.generations.retrieve(r.run_id).outputs[0].url"
    )
    # The replica that made the default tenant's key keeps it; the other made none.
    auth = {"authorization": f"Bearer {a.key or b.key}"}
    answered = httpx.post(a.base + "/v1/execute", json={"code": code}, headers=auth, timeout=60)
    assert answered.status_code == 200 and answered.json()["status"] == "ok", answered.text
    path = _path(answered.json()["result"])
    on_a, on_b = httpx.get(a.base + path), httpx.get(b.base + path)
    assert on_b.status_code == 200, on_b.text
    assert on_b.headers["content-type"] == "image/png" and on_b.content[:4] == b"\x89PNG"
    assert on_b.content == on_a.content
    assert not list((a.data_dir / "files").glob("file_*"))  # in the database, not a disk
    part = httpx.get(b.base + path, headers={"range": "bytes=8-23"})
    assert part.status_code == 206 and part.content == on_a.content[8:24]
    assert part.headers["content-range"] == f"bytes 8-23/{len(on_a.content)}"
    head = httpx.head(b.base + path)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(on_a.content)


def _wav(size: int) -> bytes:
    """A WAV header (the bytes an asset is recognised by) and `size` bytes of noise."""
    noise = random.Random(7).randbytes(size)
    return b"RIFF" + struct.pack("<I", size + 36) + b"WAVE" + b"\0" * 32 + noise


def test_a_large_upload_to_one_replica_completed_on_the_other_is_served_by_both(replicas):
    a, b = replicas
    key = (a.data_dir / "dev-key").read_text().strip()
    auth = {"authorization": f"Bearer {key}"}
    workspace = httpx.get(a.base + "/api/v1/workspaces", headers=auth).json()
    ws = workspace["workspaces"][0]["workspace_id"]
    created = httpx.post(
        a.base + "/api/v1/assets", json={"source": "signed-url", "workspace_id": ws}, headers=auth
    ).json()
    data = _wav(3 * 1024 * 1024 + 12345)  # several pieces of the 256 KiB the store streams
    put = httpx.put(a.base + _path(created["upload_url"]), content=data, timeout=60)
    assert put.status_code == 200, put.text
    done = httpx.post(f"{b.base}/api/v1/assets/{created['asset_id']}/complete", headers=auth)
    assert done.json()["status"] == "ready", done.text
    path = _path(done.json()["url"])
    for replica in (b, a):
        whole = httpx.get(replica.base + path, timeout=60)
        assert whole.status_code == 200 and whole.content == data
    start, end = 256 * 1024 - 10, 3 * 256 * 1024 + 10  # across the pieces' edges
    part = httpx.get(b.base + path, headers={"range": f"bytes={start}-{end - 1}"})
    assert part.status_code == 206 and part.content == data[start:end]
    tail = httpx.get(b.base + path, headers={"range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    beyond = httpx.get(b.base + path, headers={"range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"


MIGRATE = """
import asyncio, sys
import flora_backend.db as backend_db
import runtime.db as runtime_db
from flora_backend.settings import BackendSettings
from runtime.settings import Settings

async def main(url):
    for db, settings in ((runtime_db, Settings(database_url=url)),
                         (backend_db, BackendSettings(database_url=url))):
        engine = db.create_engine(settings)
        try:
            await db.init_db(engine)
        finally:
            await engine.dispose()

asyncio.run(main(sys.argv[1]))
"""


def test_replicas_starting_at_once_migrate_one_at_a_time(database_url, tmp_path):
    """Two processes run the migrations every `terrarium serve` runs on start (the runtime's
    history, then the backend's) on one empty database at once: all succeed, and each history
    is at its head."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    import flora_backend.db as backend_db
    import runtime.db as runtime_db
    from flora_backend.settings import BackendSettings

    url = fresh_database(database_url, "migrate_at_once")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, url],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=90)[0] for p in procs]
    failed = [out for p, out in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert not failed, failed[0][-3000:]

    async def versions() -> dict[str, list[str]]:
        engine = backend_db.create_engine(BackendSettings(database_url=url))
        try:
            async with engine.connect() as conn:
                tables = {"backend": backend_db.VERSION_TABLE, "runtime": "alembic_version"}
                return {
                    name: sorted(r[0] for r in await conn.execute(text(f"SELECT * FROM {t}")))
                    for name, t in tables.items()
                }
        finally:
            await engine.dispose()

    def heads(config) -> list[str]:  # type: ignore[no-untyped-def]
        return sorted(ScriptDirectory.from_config(config).get_heads())

    assert asyncio.run(versions()) == {
        "backend": heads(backend_db.alembic_config()),
        "runtime": heads(runtime_db.alembic_config()),
    }
