"""The file store (flora_backend/files.py): on SQLite the files are on disk; on PostgreSQL in
backend_blobs, streamed in pieces, with files an older version wrote to disk served from there
and copied into the database on start. The file route answers Range, If-Range and HEAD the same
way on both."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import flora_backend.db as backend_db
from flora_backend import Backend, files
from flora_backend.settings import BackendSettings
from flora_backend.store import Blob, File, Workspace

BASE = "http://backend/api/v1/"


@pytest.mark.parametrize(
    "header,size,expected",
    [
        (None, 10, None),
        ("bytes=0-3", 10, (0, 4)),
        ("bytes=4-", 10, (4, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("bytes=5-100", 10, (5, 10)),
        ("bytes=10-", 10, False),
        ("bytes=-0", 10, False),
        ("bytes=-5", 0, False),  # an empty file has no last bytes
        ("bytes=0-", 0, False),
        ("bytes=5-2", 10, None),  # invalid: the whole file
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-3", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_byte_range(header, size, expected):
    assert files.byte_range(header, size) == expected


async def generated(raw: httpx.AsyncClient, ws: str) -> str:
    """The file path (under /api/v1/) of a new image output."""
    prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"type": "image", "prompt": "a heron", "workspace_id": ws}
    started = (await raw.post("generate", json={**body, "project_id": prj["project_id"]})).json()
    run = (await raw.get(f"runs/{started['run_id']}")).json()
    assert run["status"] == "completed", run
    return run["outputs"][0]["url"].rsplit("/api/v1/", 1)[1]


async def check_ranges(raw: httpx.AsyncClient, path: str) -> bytes:
    whole = await raw.get(path)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    data, etag = whole.content, whole.headers["etag"]
    assert int(whole.headers["content-length"]) == len(data)
    part = await raw.get(path, headers={"range": "bytes=1-4"})
    assert part.status_code == 206 and part.content == data[1:5]
    assert part.headers["content-range"] == f"bytes 1-4/{len(data)}"
    assert part.headers["content-type"] == whole.headers["content-type"]
    same = await raw.get(path, headers={"range": "bytes=1-4", "if-range": etag})
    assert same.status_code == 206
    changed = await raw.get(path, headers={"range": "bytes=1-4", "if-range": '"other"'})
    assert changed.status_code == 200 and changed.content == data
    beyond = await raw.get(path, headers={"range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    head = await raw.head(path)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(data)
    return data


async def test_on_sqlite_files_are_on_disk_and_served_by_range(backend, raw, creds):
    path = await generated(raw, creds[0])
    data = await check_ranges(raw, path)
    on_disk = list(backend.files_dir.glob("file_*"))
    assert [p.read_bytes() for p in on_disk] == [data]
    assert isinstance(backend.files, files.DiskFiles)
    async with backend.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Blob))).scalar() == 0


@pytest.mark.postgres
async def test_the_database_store_streams_pieces_and_replaces_and_deletes(pg_database, tmp_path):
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=pg_database, speed=0)
    async with Backend(settings) as b:
        store = b.files
        assert isinstance(store, files.DatabaseFiles)
        data = random.Random(3).randbytes(files.CHUNK_BYTES * 2 + 3)
        await store.put("file_big0.bin", data)
        assert await store.size("file_big0.bin") == len(data)
        assert await store.read("file_big0.bin") == data
        pieces = [p async for p in store.open_range("file_big0.bin", 5, len(data) - 1)]
        assert [len(p) for p in pieces] == [files.CHUNK_BYTES, files.CHUNK_BYTES - 3]
        assert b"".join(pieces) == data[5:-1]
        await store.put("file_big0.bin", b"shorter")  # a retried upload replaces the bytes
        assert await store.read("file_big0.bin") == b"shorter"
        await store.delete("file_big0.bin")
        assert await store.size("file_big0.bin") is None
        assert await store.read("file_big0.bin") is None
        assert not list((tmp_path / "data" / "files").iterdir())
        with pytest.raises(ValueError, match="not a file name"):
            await store.put("../dev-key", b"x")


@pytest.mark.postgres
async def test_files_on_a_replicas_disk_are_adopted_into_the_database(pg_database, tmp_path):
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=pg_database, speed=0)
    async with Backend(settings) as b:
        store = b.files
        assert isinstance(store, files.DatabaseFiles)
        on_disk = {"file_a0.png": b"a" * 10, ".upload-asset_x": b"staged", "file_b0.wav": b"b"}
        for name, data in on_disk.items():
            await store.disk.put(name, data)
        (b.files_dir / ".file_c0.png.123.abcd.tmp").write_bytes(b"a write in progress")
        await store.put("file_b0.wav", b"already in the database")
        assert await store.adopt_disk_files() == 2
        assert await store.adopt_disk_files() == 0
        async with b.sessions() as s:
            rows = dict((await s.execute(select(Blob.name, Blob.data))).all())
        assert rows == {
            "file_a0.png": b"a" * 10,
            ".upload-asset_x": b"staged",
            "file_b0.wav": b"already in the database",
        }
        assert (b.files_dir / "file_a0.png").read_bytes() == b"a" * 10  # the disk copy stays


async def at_revision(settings: BackendSettings, revision: str) -> None:
    from alembic import command

    engine = backend_db.create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(backend_db.alembic_config(c), revision))
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_after_the_upgrade_old_files_are_adopted_and_new_ones_are_in_the_database(
    pg_database, tmp_path
):
    """A database last used at backend_0005 (files on the replica's disk) upgrades on start:
    its old file is copied into the database and served, by range too; new outputs go to the
    database only."""
    data_dir = tmp_path / "data"
    settings = BackendSettings(data_dir=data_dir, database_url=pg_database, speed=0)
    await at_revision(settings, "backend_0005")
    old = b"\x89PNG\r\n\x1a\n" + random.Random(5).randbytes(5000)
    engine = backend_db.create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                Workspace.__table__.insert().values(
                    id="ws_old", name="old", credits=10, webhook_secret="whsec_x",
                    is_default=False, created_at=backend_db.utcnow(),
                )
            )  # fmt: skip
            await conn.execute(
                File.__table__.insert().values(
                    id="file_old0", workspace_id="ws_old", run_id="run_old",
                    filename="file_old0.png", content_type="image/png", size=len(old),
                    created_at=backend_db.utcnow(),
                )
            )  # fmt: skip
    finally:
        await engine.dispose()
    Path(data_dir / "files").mkdir(parents=True)
    (data_dir / "files" / "file_old0.png").write_bytes(old)

    async with Backend(settings) as b:
        ws, key = await b.default_credentials()
        async with httpx.AsyncClient(
            transport=b.transport(), base_url=BASE, headers={"authorization": f"Bearer {key}"}
        ) as raw:
            assert await check_ranges(raw, "files/file_old0") == old
            path = await generated(raw, ws)
            data = await check_ranges(raw, path)
        assert sorted(p.name for p in (data_dir / "files").iterdir()) == ["file_old0.png"]
        async with b.sessions() as s:
            stored = dict((await s.execute(select(Blob.name, Blob.data))).all())
        new_name = next(name for name in stored if name != "file_old0.png")
        assert new_name.split(".")[0] == "file_" + path.rsplit("file_", 1)[1]
        # The old file was copied into the database when the backend started: every replica
        # serves it now, even one without this disk.
        assert stored == {"file_old0.png": old, new_name: data}
        (data_dir / "files" / "file_old0.png").unlink()
        async with httpx.AsyncClient(transport=b.transport(), base_url=BASE) as anyone:
            assert (await anyone.get("files/file_old0")).content == old


async def test_a_disk_write_that_fails_leaves_no_part_of_its_file(tmp_path, monkeypatch):
    store = files.DiskFiles(tmp_path)
    real_write_bytes = Path.write_bytes

    def fills_the_disk(self: Path, data: bytes) -> int:
        real_write_bytes(self, data[:10])  # a part written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", fills_the_disk)
    with pytest.raises(OSError):
        await store.put("file_abc0.png", b"x" * 100)
    assert list(tmp_path.iterdir()) == []


async def cancelled_while_writing(
    store: files.DiskFiles, entered: threading.Event
) -> asyncio.Task[None]:
    """A put of `file_abc0.png` cancelled once its thread is writing (`entered`), and still
    waiting for that thread a moment later."""
    put = asyncio.create_task(store.put("file_abc0.png", b"x" * 100))
    while not entered.is_set():
        await asyncio.sleep(0.001)
    put.cancel()
    await asyncio.sleep(0.01)
    assert not put.done()  # still waiting for the thread
    return put


async def test_a_cancelled_disk_write_returns_only_once_its_file_is_in_place(tmp_path, monkeypatch):
    # A caller that removes the file when it is cancelled (a request's files, `starting`) must
    # not remove it before the write's thread renames it into place: it would stay, named by
    # no row.
    store = files.DiskFiles(tmp_path)
    entered, release = threading.Event(), threading.Event()
    real_write = store._write

    def slow_write(name: str, data: bytes) -> None:
        entered.set()
        release.wait(10)
        real_write(name, data)

    monkeypatch.setattr(store, "_write", slow_write)
    put = await cancelled_while_writing(store, entered)
    put.cancel()  # a second cancellation does not let it go either
    await asyncio.sleep(0.01)
    assert not put.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await put
    assert [p.name for p in tmp_path.iterdir()] == ["file_abc0.png"]  # in place: removable now


async def test_a_cancelled_disk_write_whose_thread_then_fails_is_still_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its thread's failure after the cancellation is its own: the caller sees the cancellation
    # (not the disk's error), only once the thread is done, and no part of the file is left.
    store = files.DiskFiles(tmp_path)
    entered, release = threading.Event(), threading.Event()
    real_write_bytes = Path.write_bytes

    def fills_the_disk(self: Path, data: bytes) -> int:
        entered.set()
        release.wait(10)
        real_write_bytes(self, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", fills_the_disk)
    put = await cancelled_while_writing(store, entered)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await put
    assert list(tmp_path.iterdir()) == []
