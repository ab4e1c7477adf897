"""Where the backend keeps the bytes of its files (generated outputs, assets, staged uploads),
behind one small interface so that routes and the run engine do not care where they are:

- `DiskFiles`: `<data_dir>/files`, for SQLite (one server process, one disk).
- `DatabaseFiles`: a row per file in `backend_blobs` (PostgreSQL `bytea`, stored uncompressed
  out of line so a range is read without reading the rest), so every replica sharing the
  database serves every file. A file written to disk before the table existed is copied into
  the table when that replica starts (`adopt_disk_files`), and read from its disk until then.

A file is written once under a name the backend made (`file_<id>.<ext>`, `.upload-<asset id>`)
and never changed; it is read whole (`read`) or streamed in pieces (`open_range`), and served
over HTTP by `response`, which answers HEAD and single `Range: bytes=` requests.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from flora_backend.db import utcnow
from flora_backend.store import Blob

CHUNK_BYTES = 256 * 1024  # one read from disk or one query, while streaming
ADOPT_BATCH = 500  # names looked up per query when adopting files from disk
_NAME = re.compile(r"^\.?[A-Za-z0-9_.-]{1,190}$")


def check_name(name: str) -> str:
    """A file name the backend made: no path separators, never `..`."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"not a file name the backend makes: {name!r}")
    return name


class FileStore(Protocol):
    """The bytes of the backend's files, by name."""

    where: str  # "disk" or "database", for logs and docs

    async def put(self, name: str, data: bytes, session: AsyncSession | None = None) -> None:
        """Store `data` under `name` (replacing what was there). With `session`, as part of
        that session's transaction where the store can (the database); else at once."""
        ...

    async def size(self, name: str) -> int | None:
        """The file's size in bytes, or None when there is no such file."""
        ...

    async def read(self, name: str) -> bytes | None:
        """The whole file, or None when there is no such file."""
        ...

    def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the file, in pieces of at most CHUNK_BYTES."""
        ...

    async def delete(self, name: str) -> None:
        """Remove the file; nothing happens when there is none."""
        ...


class DiskFiles:
    """Files in one directory on this server's disk."""

    where = "disk"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / check_name(name)

    def _write(self, name: str, data: bytes) -> None:
        """Atomically: a reader sees the whole file or none; a write that fails (a full disk)
        leaves no part of it behind."""
        target = self.path(name)
        tmp = self.directory / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def put(self, name: str, data: bytes, session: AsyncSession | None = None) -> None:
        """Cancelled, it still returns only once its thread is done: a caller that removes the
        file then (`routes.starting`) never races a rename that puts it back."""
        loop = asyncio.get_running_loop()
        write = loop.run_in_executor(None, self._write, name, data)
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            while not write.done():
                try:
                    await asyncio.shield(write)
                except asyncio.CancelledError:
                    continue  # cancelled again: the thread is still to be waited for
                except Exception:  # noqa: BLE001 - its own failure; the cancellation goes on
                    break
            raise

    def _size(self, name: str) -> int | None:
        try:
            stat = self.path(name).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return stat.st_size if S_ISREG(stat.st_mode) else None

    async def size(self, name: str) -> int | None:
        return await asyncio.to_thread(self._size, name)

    def _read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    async def read(self, name: str) -> bytes | None:
        return await asyncio.to_thread(self._read, name)

    async def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path(name).open, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            left = end - start
            while left > 0:
                piece = await asyncio.to_thread(handle.read, min(CHUNK_BYTES, left))
                if not piece:
                    return
                left -= len(piece)
                yield piece
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.path(name).unlink, missing_ok=True)

    def names(self) -> list[str]:
        """The files here, by name (not the temporary ones of writes in progress)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.directory)
            if entry.is_file(follow_symlinks=False)
            and _NAME.match(entry.name)
            and ".." not in entry.name
            and not entry.name.endswith(".tmp")
        )


class DatabaseFiles:
    """Files as rows of `backend_blobs` in the shared PostgreSQL database; a name with no row
    is looked for on this server's disk (files written before the table existed)."""

    where = "database"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], disk: DiskFiles) -> None:
        self.sessions = sessions
        self.disk = disk

    async def put(self, name: str, data: bytes, session: AsyncSession | None = None) -> None:
        values = {"name": check_name(name), "size": len(data), "data": data, "created_at": utcnow()}
        stmt = pg_insert(Blob).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[Blob.name],
            set_={"size": stmt.excluded.size, "data": stmt.excluded.data},
        )
        if session is not None:
            await session.execute(stmt)
            return
        async with self.sessions() as own, own.begin():
            await own.execute(stmt)

    async def size(self, name: str) -> int | None:
        async with self.sessions() as s:
            size = (await s.execute(select(Blob.size).where(Blob.name == name))).scalar()
        return size if size is not None else await self.disk.size(name)

    async def read(self, name: str) -> bytes | None:
        async with self.sessions() as s:
            data = (await s.execute(select(Blob.data).where(Blob.name == name))).scalar()
        return data if data is not None else await self.disk.read(name)

    async def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        async with self.sessions() as s:
            stored = (await s.execute(select(Blob.size).where(Blob.name == name))).scalar()
        if stored is None:
            async for piece in self.disk.open_range(name, start, end):
                yield piece
            return
        at = start
        while at < end:
            count = min(CHUNK_BYTES, end - at)
            # substring is 1-based; on an uncompressed out-of-line value PostgreSQL reads only
            # the pages that hold these bytes.
            stmt = select(func.substring(Blob.data, at + 1, count)).where(Blob.name == name)
            async with self.sessions() as s:
                got: bytes | None = (await s.execute(stmt)).scalar()
            if not got:
                return
            at += len(got)
            yield bytes(got)

    async def delete(self, name: str) -> None:
        async with self.sessions() as s, s.begin():
            await s.execute(delete(Blob).where(Blob.name == name))
        await self.disk.delete(name)

    async def adopt_disk_files(self) -> int:
        """Copy into the database the files on this server's disk that it does not hold yet
        (written before the table existed), so that every replica serves them; the disk copies
        stay where they are. Returns how many were copied; safe to run on every start and from
        several replicas at once."""
        names = await asyncio.to_thread(self.disk.names)
        have: set[str] = set()
        for i in range(0, len(names), ADOPT_BATCH):
            batch = names[i : i + ADOPT_BATCH]
            async with self.sessions() as s:
                found = await s.execute(select(Blob.name).where(Blob.name.in_(batch)))
                have.update(found.scalars())
        copied = 0
        for name in names:
            if name in have:
                continue
            data = await self.disk.read(name)
            if data is None:
                continue
            values = {"name": name, "size": len(data), "data": data, "created_at": utcnow()}
            stmt = pg_insert(Blob).values(**values).on_conflict_do_nothing()
            async with self.sessions() as s, s.begin():
                await s.execute(stmt)
            copied += 1
        return copied


def for_database(
    dialect: str, sessions: async_sessionmaker[AsyncSession], files_dir: Path
) -> FileStore:
    """The store for a database: its blob table on PostgreSQL, the disk otherwise (SQLite
    serves one process, whose disk every request reaches)."""
    disk = DiskFiles(files_dir)
    if dialect == "postgresql":
        return DatabaseFiles(sessions, disk)
    return disk


# ---------------------------------------------------------------- serving over HTTP

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The [start, end) a `Range` header asks of a `size`-byte file: None for the whole file
    (no header, several ranges, or a form we do not serve), False when it cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:  # no last bytes of an empty file (RFC 9110 14.1.1)
            return False
        return max(0, size - count), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None  # invalid: ignored, as RFC 9110 says
    if start >= size:
        return False
    return start, end


async def response(
    store: FileStore, request: Request, name: str, content_type: str, etag: str
) -> Response | None:
    """The file `name` as an answer to GET or HEAD (with `Range` and `If-Range`), streamed;
    None when the store has no such file."""
    size = await store.size(name)
    if size is None:
        return None
    headers = {
        "cache-control": "max-age=86400",
        "accept-ranges": "bytes",
        "etag": f'"{etag}"',
    }
    wanted = byte_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != headers["etag"]:
        wanted = None
    if wanted is False:
        headers["content-range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    status = 200
    start, end = 0, size
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    headers["content-length"] = str(end - start)
    if request.method == "HEAD" or start == end:
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(
        store.open_range(name, start, end),
        status_code=status,
        headers=headers,
        media_type=content_type,
    )
