"""Tenants and their runtime API keys, kept in the runtime's database.

A tenant is who pays and who is isolated from whom: its runtime keys (stored as sha256 hashes;
a key is shown once, when made), how its scripts reach FLORA, the workspaces they may touch, and
its limits. How it reaches FLORA is one of:

- "server":  the server's own connection (FLORA_API_KEY, or the built-in backend's default
             workspace). Only the default tenant made on first start uses this.
- "builtin": its own workspace and key on the built-in backend, so ids of other workspaces 404.
- "upstream": its own FLORA API key, stored encrypted (Fernet) and never shown again.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db import Base, UTCDateTime, utcnow
from runtime.settings import Settings
from runtime.tenancy.keycache import KeyCache

DEFAULT_TENANT = "default"
KEY_PREFIX = "trk_"


# ------------------------------------------------------------------------------------ tables


class TenantRow(Base):
    __tablename__ = "runtime_tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    flora_kind: Mapped[str] = mapped_column(String(20))  # server | builtin | upstream
    flora_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    workspaces: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_memory_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_concurrent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Touched by every admission: the row lock that serializes a tenant's admissions.
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RuntimeKeyRow(Base):
    __tablename__ = "runtime_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("runtime_tenants.id"), index=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Tenant:
    """A tenant as the request path sees it (never carries its FLORA key in clear)."""

    id: str
    name: str
    flora_kind: str
    workspaces: tuple[str, ...] = ()
    max_timeout_s: float | None = None
    max_memory_mb: int | None = None
    max_calls: int | None = None
    max_concurrent: int = 8
    per_minute: int = 120
    max_cost_usd: float | None = None  # per execution, unless the request names its own
    flora_key_enc: str | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "flora": self.flora_kind,
            "workspaces": list(self.workspaces),
            "limits": {
                "max_timeout_s": self.max_timeout_s,
                "max_memory_mb": self.max_memory_mb,
                "max_calls": self.max_calls,
                "max_concurrent": self.max_concurrent,
                "per_minute": self.per_minute,
                "max_cost_usd": self.max_cost_usd,
            },
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_runtime_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _new_id() -> str:
    return "ten_" + secrets.token_hex(8)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class SecretBox:
    """Encrypts tenants' FLORA keys at rest; the key comes from the settings or a 0600 file."""

    def __init__(self, settings: Settings) -> None:
        key = settings.secret_key
        if not key:
            path = Path(settings.data_dir) / "secret.key"
            try:
                key = path.read_text().strip()
            except FileNotFoundError:
                key = Fernet.generate_key().decode()
                _write_private(path, key)
        self._fernet = Fernet(key.encode() if isinstance(key, str) else key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "a tenant's FLORA key cannot be decrypted: TERRARIUM_SECRET_KEY (or "
                "secret.key) differs from the one it was stored with"
            ) from None


# ------------------------------------------------------------------------------------ store


class TenantStore:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.box = SecretBox(settings)
        self.cache: KeyCache[Tenant] = KeyCache(settings.key_cache_s)

    def _value(self, row: TenantRow) -> Tenant:
        return Tenant(
            id=row.id,
            name=row.name,
            flora_kind=row.flora_kind,
            workspaces=tuple(row.workspaces or ()),
            max_timeout_s=row.max_timeout_s,
            max_memory_mb=row.max_memory_mb,
            max_calls=row.max_calls,
            max_concurrent=row.max_concurrent or self.settings.tenant_max_concurrent,
            per_minute=row.per_minute or self.settings.tenant_per_minute,
            max_cost_usd=(
                row.max_cost_usd if row.max_cost_usd is not None else self.settings.max_cost_usd
            ),
            flora_key_enc=row.flora_key_enc,
        )

    async def create(
        self,
        name: str,
        *,
        flora_kind: str,
        flora_key: str | None = None,
        workspaces: Sequence[str] | None = None,
        max_timeout_s: float | None = None,
        max_memory_mb: int | None = None,
        max_calls: int | None = None,
        max_concurrent: int | None = None,
        per_minute: int | None = None,
        max_cost_usd: float | None = None,
    ) -> tuple[Tenant, str]:
        """A new tenant and its first runtime key (the only time the key is seen)."""
        row = TenantRow(
            id=_new_id(),
            name=name,
            flora_kind=flora_kind,
            flora_key_enc=self.box.seal(flora_key) if flora_key else None,
            workspaces=list(workspaces or []),
            max_timeout_s=max_timeout_s,
            max_memory_mb=max_memory_mb,
            max_calls=max_calls,
            max_concurrent=max_concurrent,
            per_minute=per_minute,
            max_cost_usd=max_cost_usd,
            created_at=utcnow(),
        )
        key = new_runtime_key()
        async with self.sessions() as s, s.begin():
            s.add(row)
            await s.flush()
            s.add(self._key_row(key, row.id))
        return self._value(row), key

    @staticmethod
    def _key_row(key: str, tenant_id: str) -> RuntimeKeyRow:
        return RuntimeKeyRow(
            key_hash=hash_key(key), tenant_id=tenant_id, hint=key[:10], created_at=utcnow()
        )

    async def add_key(self, tenant_id: str) -> str:
        key = new_runtime_key()
        async with self.sessions() as s, s.begin():
            s.add(self._key_row(key, tenant_id))
        return key

    async def list(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            q = select(TenantRow).order_by(TenantRow.created_at)
            if not include_revoked:
                q = q.where(TenantRow.revoked_at.is_(None))
            rows = (await s.execute(q)).scalars().all()
            out = []
            for row in rows:
                item = self._value(row).public()
                item["created_at"] = row.created_at.isoformat()
                item["revoked"] = row.revoked_at is not None
                out.append(item)
            return out

    async def get(self, name_or_id: str) -> Tenant | None:
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(TenantRow).where(
                        (TenantRow.id == name_or_id) | (TenantRow.name == name_or_id)
                    )
                )
            ).scalar()
            return self._value(row) if row is not None and row.revoked_at is None else None

    async def revoke(self, name_or_id: str) -> bool:
        now = utcnow()
        async with self.sessions() as s, s.begin():
            row = (
                await s.execute(
                    select(TenantRow).where(
                        (TenantRow.id == name_or_id) | (TenantRow.name == name_or_id)
                    )
                )
            ).scalar()
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now
            # Free the name, so a tenant of the same name can be made again.
            row.name = f"{row.name}~revoked~{row.id}"
            await s.execute(
                update(RuntimeKeyRow)
                .where(RuntimeKeyRow.tenant_id == row.id, RuntimeKeyRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        self.cache.forget(row.id)
        return True

    async def authenticate(self, key: str) -> Tenant | None:
        """The tenant of an active key, or None. Answers from the cache for `key_cache_s` after
        a key last authenticated from the database; an unknown key always asks the database."""
        if not key.startswith(KEY_PREFIX):
            return None
        key_hash = hash_key(key)
        tenant = self.cache.get(key_hash)
        if tenant is not None:
            return tenant
        generation = self.cache.generation
        async with self.sessions() as s:
            key_row = await s.get(RuntimeKeyRow, key_hash)
            if key_row is None or key_row.revoked_at is not None:
                return None
            row = await s.get(TenantRow, key_row.tenant_id)
            if row is None or row.revoked_at is not None:
                return None
            tenant = self._value(row)
        self.cache.put(key_hash, tenant.id, tenant, generation)
        return tenant

    def flora_key(self, tenant: Tenant) -> str | None:
        return self.box.open(tenant.flora_key_enc) if tenant.flora_key_enc else None

    # ------------------------------------------------------------ the embedded default

    def _key_file(self) -> Path:
        return Path(self.settings.data_dir) / "runtime-key"

    async def ensure_default(self, workspaces: Sequence[str]) -> tuple[Tenant | None, str | None]:
        """The default tenant and a runtime key for it, persisted in <data_dir>/runtime-key.

        Made when no tenant exists; later starts reuse the saved key, or mint a new one for the
        default tenant when the file is gone (another replica's data dir, say). Returns the key
        (None when tenants exist but none is the default: an operator set them up).
        """
        path = self._key_file()
        try:
            saved = path.read_text().strip() or None
        except FileNotFoundError:
            saved = None
        if saved:
            tenant = await self.authenticate(saved)
            if tenant is not None:
                return tenant, saved
        default = await self.get(DEFAULT_TENANT)
        if default is None:
            async with self.sessions() as s:
                any_tenant = (await s.execute(select(TenantRow.id).limit(1))).scalar()
            if any_tenant is not None:
                return None, None
            try:
                default, key = await self.create(
                    DEFAULT_TENANT, flora_kind="server", workspaces=workspaces
                )
            except IntegrityError:  # another replica made it first
                default = await self.get(DEFAULT_TENANT)
                if default is None:
                    raise
                key = await self.add_key(default.id)
        else:
            key = await self.add_key(default.id)
        _write_private(path, key)
        return default, key


def describe(tenants: list[dict[str, Any]]) -> str:
    return json.dumps(tenants, indent=2)
