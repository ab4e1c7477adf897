"""The built-in FLORA-compatible backend: the embedded default that agents' scripts talk to
when no FLORA_API_KEY is set, and a local FLORA for developing and testing agents. A product of
its own: its settings section (`BackendSettings`), its tables and their migration history; an
application reaches it only through `Backend` and its HTTP transport, as it would reach FLORA.

    backend = Backend(settings)   # BackendSettings, or a configuration with backend_settings()
    await backend.start()
    workspace_id, api_key = await backend.default_credentials()
    client = AsyncFlora(api_key=api_key, base_url="http://backend/api/v1",
                        transport=backend.transport())
    ...
    await backend.stop()

`backend.app` serves `/v1/...` and is meant to be mounted at `/api`;
`backend.standalone_app()` is that mount on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
import tempfile
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flora_backend import catalog, files
from flora_backend.callback_urls import Resolver, system_resolver
from flora_backend.db import (
    create_engine,
    hold_migration_lock,
    init_db,
    session_factory,
    utcnow,
)
from flora_backend.routes import InProcess, RateLimiter, TableRoutes, build_app
from flora_backend.runs import RunEngine
from flora_backend.settings import BackendSettings, BackendSettingsSource
from flora_backend.store import (
    ApiKey,
    ProjectFolder,
    Technique,
    Workspace,
    hash_key,
    new_api_key,
    new_id,
)

__all__ = ["Backend", "BackendSettings", "create_key", "default_credentials"]

SettingsArg = BackendSettings | BackendSettingsSource | None


def _section(settings: SettingsArg) -> BackendSettings:
    if settings is None:
        return BackendSettings()
    if isinstance(settings, BackendSettings):
        return settings
    return settings.backend_settings()


class Backend:
    def __init__(
        self,
        settings: SettingsArg = None,
        *,
        callback_resolver: Resolver = system_resolver,
        webhook_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = _section(settings)
        self.data_dir = Path(self.settings.data_dir)
        self.files_dir = self.data_dir / "files"
        # Where files' bytes are kept: the disk until the database is known (files.py).
        self.files: files.FileStore = files.DiskFiles(self.files_dir)
        self.db: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self.engine: RunEngine | None = None
        # Tests and embedders may resolve names their own way; the address checks still apply.
        self.callback_resolver = callback_resolver
        self.webhook_ssl_context = webhook_ssl_context
        self.rate_limiter = RateLimiter(self.settings.rate_limit_per_minute)
        self.routes = TableRoutes(self)
        self.app: FastAPI = build_app(self, self.routes)
        self._ready = asyncio.Lock()
        self._prepared = False

    # ---------------------------------------------------------------- lifecycle

    def sessions(self) -> AsyncSession:
        if self._sessions is None:
            raise RuntimeError("Backend.start() (or a key helper) must run first.")
        return self._sessions()

    def run_engine(self) -> RunEngine:
        if self.engine is None:
            raise RuntimeError("Backend.start() (or a key helper) must run first.")
        return self.engine

    async def _prepare(self) -> None:
        """Database, seed data and dev key; no background task (enough for key helpers)."""
        async with self._ready:
            if self._prepared:
                return
            self.files_dir.mkdir(parents=True, exist_ok=True)
            self.db = create_engine(self.settings)
            await init_db(self.db)
            self._sessions = session_factory(self.db)
            self.files = files.for_database(self.db.dialect.name, self._sessions, self.files_dir)
            self.engine = RunEngine(
                self.settings,
                self._sessions,
                self.files,
                self.callback_resolver,
                self.webhook_ssl_context,
            )
            await self._seed()
            self._prepared = True

    async def start(self) -> None:
        """Migrate, seed, copy files this server's disk kept into the database (PostgreSQL),
        settle runs a previous process left in flight, start the sweeper."""
        await self._prepare()
        if isinstance(self.files, files.DatabaseFiles):
            await self.files.adopt_disk_files()
        engine = self.run_engine()
        await engine.recover()
        engine.start()

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        if self.db is not None:
            await self.db.dispose()
        self.db = None
        self._sessions = None
        self.engine = None
        self._prepared = False

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def transport(self) -> httpx.ASGITransport:
        """An in-process transport: use base_url `http://<anything>/api/v1` with it."""
        return httpx.ASGITransport(app=self.app, root_path="/api")

    def in_process(self) -> InProcess:
        """The SDK's requests answered by the same endpoints without the ASGI round trip: pass
        it as `AsyncFlora(in_process=...)` next to `transport()` (which still carries files and
        uploads)."""
        return InProcess(self.routes)

    def standalone_app(self) -> FastAPI:
        """A FastAPI app with the backend mounted at /api, for serving it alone."""
        outer = FastAPI(title="Terrarium built-in FLORA backend", docs_url=None, redoc_url=None)
        outer.mount("/api", self.app)
        return outer

    # ---------------------------------------------------------------- seed data

    @property
    def dev_key_path(self) -> Path:
        return self.data_dir / "dev-key"

    async def _seed(self) -> str:
        """Techniques brought to the catalog's, and the development workspace and key made if
        missing; the development key."""
        async with self.sessions() as s, s.begin():
            await hold_migration_lock(s)  # replicas starting together make one of each
            for spec in catalog.TECHNIQUES:
                row = await s.get(Technique, spec["id"])
                if row is None:
                    row = Technique(id=spec["id"], created_at=utcnow())
                    s.add(row)
                for field in ("slug", "name", "description", "model_id", "prompt_template"):
                    setattr(row, field, spec[field])
                row.run_cost, row.inputs, row.outputs = (
                    spec["run_cost"],
                    spec["inputs"],
                    spec["outputs"],
                )
            ws = (await s.execute(select(Workspace).where(Workspace.is_default))).scalar()
            if ws is None:
                ws = self._new_workspace("Development", is_default=True)
                s.add(ws)
                await s.flush()
            if await s.get(ProjectFolder, self.default_folder_id(ws.id)) is None:
                s.add(self._new_project_folder(ws.id, "Projects", self.default_folder_id(ws.id)))
            key = self._read_dev_key()
            if key is None or await s.get(ApiKey, hash_key(key)) is None:
                key = new_api_key()
                s.add(self._key_row(key, ws.id, is_dev=True))
                self._write_dev_key(key)
        return key

    def _new_workspace(
        self, name: str, *, is_default: bool = False, credits: int | None = None
    ) -> Workspace:
        return Workspace(
            id=new_id("ws_"),
            name=name,
            credits=self.settings.initial_credits if credits is None else credits,
            webhook_secret="whsec_" + secrets.token_hex(24),
            is_default=is_default,
            created_at=utcnow(),
        )

    @staticmethod
    def _key_row(key: str, workspace_id: str, *, is_dev: bool = False) -> ApiKey:
        return ApiKey(
            key_hash=hash_key(key),
            workspace_id=workspace_id,
            hint=key[:12],
            is_dev=is_dev,
            created_at=utcnow(),
        )

    def _read_dev_key(self) -> str | None:
        try:
            return self.dev_key_path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def _write_dev_key(self, key: str) -> None:
        """The key in dev-key (0600), replaced atomically through a temporary file of its own
        (mkstemp: never a file or symlink left at a fixed name, never one another process is
        writing)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".dev-key.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
            os.replace(tmp, self.dev_key_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # ---------------------------------------------------------------- credentials

    async def _default_workspace_id(self) -> str:
        async with self.sessions() as s:
            ws = (await s.execute(select(Workspace).where(Workspace.is_default))).scalar()
        if ws is None:
            raise RuntimeError("The backend's database has no default workspace.")
        return ws.id

    async def default_credentials(self) -> tuple[str, str]:
        """(workspace_id, api_key) of the development workspace, created on first start."""
        await self._prepare()
        key = self._read_dev_key()
        async with self.sessions() as s:
            row = await s.get(ApiKey, hash_key(key)) if key else None
        if key is None or row is None:  # the file was removed while running: a new dev key
            async with self._ready:
                key = await self._seed()
            async with self.sessions() as s:
                row = await s.get(ApiKey, hash_key(key))
            if row is None:
                raise RuntimeError("The development key was not stored.")
        return row.workspace_id, key

    async def create_key(self, workspace_id: str | None = None) -> str:
        """A new API key for workspace_id (default: the development workspace); shown once."""
        await self._prepare()
        workspace_id = workspace_id or await self._default_workspace_id()
        key = new_api_key()
        async with self.sessions() as s, s.begin():
            if await s.get(Workspace, workspace_id) is None:
                raise ValueError(f"No workspace {workspace_id!r}.")
            s.add(self._key_row(key, workspace_id))
        return key

    async def create_workspace(self, name: str, credits: int | None = None) -> str:
        """A new workspace (with its own credits and webhook secret); returns its id."""
        await self._prepare()
        ws = self._new_workspace(name, credits=credits)
        async with self.sessions() as s, s.begin():
            s.add(ws)
            await s.flush()
            s.add(self._new_project_folder(ws.id, "Projects", self.default_folder_id(ws.id)))
        return ws.id

    @staticmethod
    def _new_project_folder(
        workspace_id: str, name: str, folder_id: str | None = None
    ) -> ProjectFolder:
        return ProjectFolder(
            id=folder_id or new_id("fld_"),
            workspace_id=workspace_id,
            name=name,
            created_at=utcnow(),
        )

    @staticmethod
    def default_folder_id(workspace_id: str) -> str:
        """The id of the "Projects" folder every workspace is made with: `fld_` and the
        workspace id's own characters."""
        return "fld_" + workspace_id.removeprefix("ws_")

    async def create_project_folder(self, name: str, workspace_id: str | None = None) -> str:
        """A new project folder in workspace_id (default: the development workspace); returns
        its id. FLORA's API files projects into folders made in its app, never through the API:
        this is how folders come to exist here (the development workspace is seeded with one)."""
        await self._prepare()
        workspace_id = workspace_id or await self._default_workspace_id()
        folder = self._new_project_folder(workspace_id, name)
        async with self.sessions() as s, s.begin():
            if await s.get(Workspace, workspace_id) is None:
                raise ValueError(f"No workspace {workspace_id!r}.")
            s.add(folder)
        return folder.id

    async def project_folders(self, workspace_id: str | None = None) -> list[str]:
        """The ids of a workspace's project folders, oldest first."""
        await self._prepare()
        workspace_id = workspace_id or await self._default_workspace_id()
        async with self.sessions() as s:
            rows = await s.execute(
                select(ProjectFolder.id)
                .where(ProjectFolder.workspace_id == workspace_id)
                .order_by(ProjectFolder.created_at, ProjectFolder.id)
            )
            return list(rows.scalars())

    async def webhook_secret(self, workspace_id: str | None = None) -> str:
        """The `whsec_...` secret that signs this workspace's webhooks."""
        await self._prepare()
        workspace_id = workspace_id or await self._default_workspace_id()
        async with self.sessions() as s:
            ws = await s.get(Workspace, workspace_id)
            if ws is None:
                raise ValueError(f"No workspace {workspace_id!r}.")
            return ws.webhook_secret

    async def credits(self, workspace_id: str | None = None) -> int:
        await self._prepare()
        workspace_id = workspace_id or await self._default_workspace_id()
        async with self.sessions() as s:
            ws = await s.get(Workspace, workspace_id)
        if ws is None:
            raise ValueError(f"No workspace {workspace_id!r}.")
        return ws.credits


async def default_credentials(settings: SettingsArg = None) -> tuple[str, str]:
    """(workspace_id, api_key) of the development workspace under settings.data_dir."""
    backend = Backend(settings)
    try:
        return await backend.default_credentials()
    finally:
        await backend.stop()


async def create_key(workspace_id: str | None = None, settings: SettingsArg = None) -> str:
    """A new API key (for `terrarium keys create`), without starting the sweeper."""
    backend = Backend(settings)
    try:
        return await backend.create_key(workspace_id)
    finally:
        await backend.stop()
