"""Tenants and their runtime API keys, kept in the runtime's database.

A tenant is who pays and who is isolated from whom: its runtime keys, how its scripts reach
FLORA, the workspaces they may touch, and its limits. How it reaches FLORA is one of:

- "server":  the server's own connection (FLORA_API_KEY, or the built-in backend's default
             workspace). Only the default tenant made on first start uses this.
- "builtin": its own workspace and key on the built-in backend, so ids of other workspaces 404.
- "upstream": its own FLORA API key, stored encrypted (Fernet) and never shown again.

A tenant has any number of runtime keys (`trk_...`), each with an id (`key_...`), a label, an
optional expiry and a revocation time (in the future while a rotated key's grace runs). A key is
stored as its sha256 hash and shown once, when made; its first characters (the prefix) name it
in listings.
"""

from __future__ import annotations

import builtins
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db import Base, UTCDateTime, utcnow
from runtime.settings import Settings
from runtime.tenancy.errors import (
    AmbiguousKey,
    InvalidDuration,
    InvalidTenantChange,
    InvalidTenantName,
    KeyNotFound,
    KeyRefused,
    TenantExists,
    TenantNotFound,
)
from runtime.tenancy.keycache import KeyCache
from runtime.tenancy.keyfiles import hash_key, read_private, write_private
from runtime.tenancy.operator import OperatorKeys

DEFAULT_TENANT = "default"
DEFAULT_LABEL = "default"
KEY_PREFIX = "trk_"
KEY_ID_PREFIX = "key_"
PREFIX_CHARS = 12  # "trk_" and 8 characters of the secret: how listings name a key
MIN_PREFIX_CHARS = 8  # what `keys revoke PREFIX` needs at least
DEFAULT_KEY_FILE = "runtime-key"
LAST_USED_S = 60.0  # last_used_at is written at most this often per key (and process)
LAST_USED_EVERY = timedelta(seconds=LAST_USED_S)

TENANT_NAME_RULE = "[a-z0-9][a-z0-9_-]{0,62}"
_TENANT_NAME = re.compile(rf"{TENANT_NAME_RULE}\Z")
LABEL_MAX = 100

LIMIT_FIELDS = (
    "max_timeout_s",
    "max_memory_mb",
    "max_calls",
    "max_concurrent",
    "per_minute",
    "max_cost_usd",
)
MAX_WORKSPACES = 100

MISSING_KEY = (
    "a valid runtime API key is required: send `Authorization: Bearer trk_...` "
    "(`terrarium serve` makes the default tenant's on first start; "
    "`terrarium keys create --tenant NAME` makes more)"
)
UNKNOWN_KEY = (
    "this runtime key is not known to this server: send a key the operator made "
    "(`terrarium keys create --tenant NAME`)"
)
REVOKED_KEY = (
    "this runtime key was revoked: ask the operator for a new one "
    "(`terrarium keys create --tenant NAME`)"
)


def expired_key(at: datetime) -> str:
    return (
        f"this runtime key expired at {at.isoformat(timespec='seconds')}: ask the operator for "
        "a new one (`terrarium keys rotate KEY_ID`, or `terrarium keys create --tenant NAME`)"
    )


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
    id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("runtime_tenants.id"), index=True)
    hint: Mapped[str] = mapped_column(String(16))  # the key's first characters (its prefix)
    label: Mapped[str] = mapped_column(String(LABEL_MAX), default=DEFAULT_LABEL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # In the future while a rotated key's grace period runs.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


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


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


@dataclass(frozen=True)
class KeyInfo:
    """A runtime key as an operator sees it: never its secret, never its hash."""

    id: str
    tenant_id: str
    tenant: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active, grace (rotated: works until revoked_at), expired or revoked."""
        now = now or utcnow()
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "grace" if self.revoked_at is not None else "active"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "label": self.label,
            "prefix": self.prefix,
            "state": self.state(),
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True)
class Grant:
    """What the key cache keeps of a key that worked: its tenant, and when it stops working."""

    tenant: Tenant
    key_id: str
    ends_at: datetime | None


def display_name(stored: str) -> str:
    """A tenant's name as it was made (a revoked tenant's row carries a suffix)."""
    return stored.split("~revoked~")[0]


def check_tenant_name(name: str) -> str:
    if not _TENANT_NAME.match(name):
        raise InvalidTenantName(
            f"tenant name {name[:80]!r} is not allowed: 1 to 63 characters of lowercase letters, "
            f"digits, '_' and '-', starting with a letter or digit (the rule: {TENANT_NAME_RULE})",
            "name",
        )
    return name


def check_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > LABEL_MAX or not label.isprintable():
        raise InvalidTenantChange(
            f"a key's label is 1 to {LABEL_MAX} printable characters, like 'ci' or 'laptop'",
            "label",
        )
    return label


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str = "expires_in") -> timedelta:
    """'90s', '15m', '1h', '30d', '2w' (or plain seconds) as a timedelta."""
    match = _DURATION.match(str(text))
    if match is None:
        raise InvalidDuration(
            f"{what} {str(text)[:40]!r} is not a duration: write a number and a unit, "
            "s, m, h, d or w (90s, 15m, 1h, 30d, 2w)",
            what,
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 100 * 365 * 86400:
        raise InvalidDuration(f"{what} {text!r} is more than 100 years", what)
    return timedelta(seconds=seconds)


def check_limits(values: Mapping[str, Any]) -> None:
    """Each limit given is positive (max_cost_usd may be 0: nothing paid), or None."""
    for name, value in values.items():
        if name not in LIMIT_FIELDS or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidTenantChange(f"{name} must be a number", name)
        if value < 0 or (value == 0 and name != "max_cost_usd"):
            floor = ">= 0" if name == "max_cost_usd" else "> 0"
            raise InvalidTenantChange(f"{name} must be {floor} (got {value})", name)


def check_workspaces(workspaces: Sequence[str]) -> list[str]:
    cleaned = [w.strip() for w in workspaces]
    if len(cleaned) > MAX_WORKSPACES or any(not w or len(w) > 200 for w in cleaned):
        raise InvalidTenantChange(
            f"workspaces: at most {MAX_WORKSPACES} workspace ids, none empty", "workspaces"
        )
    return list(dict.fromkeys(cleaned))


def new_runtime_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _new_id() -> str:
    return "ten_" + secrets.token_hex(8)


def _new_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(8)


class SecretBox:
    """Encrypts tenants' FLORA keys at rest; the key comes from the settings or a 0600 file."""

    def __init__(self, settings: Settings) -> None:
        key = settings.secret_key
        if not key:
            path = Path(settings.data_dir) / "secret.key"
            key = read_private(path)
            if key is None:
                key = Fernet.generate_key().decode()
                write_private(path, key)
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
        self.cache: KeyCache[Grant] = KeyCache(settings.key_cache_s)
        self._touched: dict[str, float] = {}  # key hash -> when this process wrote last_used_at
        self.operator = OperatorKeys(settings, sessions)
        self.default_key_file = Path(settings.data_dir) / DEFAULT_KEY_FILE
        self.default_key_minted = False  # this start made the default tenant's key
        self.default_key_saved = False  # the key file holds a working key

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

    # ------------------------------------------------------------ tenants

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
        label: str = DEFAULT_LABEL,
    ) -> tuple[Tenant, str]:
        """A new tenant and its first runtime key (the only time the key is seen)."""
        check_tenant_name(name)
        limits = {
            "max_timeout_s": max_timeout_s,
            "max_memory_mb": max_memory_mb,
            "max_calls": max_calls,
            "max_concurrent": max_concurrent,
            "per_minute": per_minute,
            "max_cost_usd": max_cost_usd,
        }
        check_limits(limits)
        row = TenantRow(
            id=_new_id(),
            name=name,
            flora_kind=flora_kind,
            flora_key_enc=self.box.seal(flora_key) if flora_key else None,
            workspaces=check_workspaces(workspaces or []),
            created_at=utcnow(),
            **limits,
        )
        key = new_runtime_key()
        try:
            async with self.sessions() as s, s.begin():
                s.add(row)
                await s.flush()
                s.add(self._key_row(key, row.id, check_label(label), None))
        except IntegrityError:
            raise TenantExists(f"a tenant named {name!r} exists already", "name") from None
        return self._value(row), key

    async def _tenant_row(self, s: AsyncSession, name_or_id: str) -> TenantRow:
        row = (
            await s.execute(
                select(TenantRow).where(
                    (TenantRow.id == name_or_id) | (TenantRow.name == name_or_id),
                    TenantRow.revoked_at.is_(None),
                )
            )
        ).scalar()
        if row is None:
            raise TenantNotFound(
                f"no active tenant {name_or_id[:80]!r} (`terrarium tenants list` names them)"
            )
        return row

    async def update(self, name_or_id: str, changes: Mapping[str, Any]) -> Tenant:
        """Set a tenant's limits (None: back to the server's default) and its workspaces
        (None: no restriction; never an empty list).

        Takes effect at once on this process; other processes see it when their cached entry
        for the tenant's keys expires (TERRARIUM_KEY_CACHE_S)."""
        unknown = set(changes) - {*LIMIT_FIELDS, "workspaces"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidTenantChange(
                f"{name!r} is not a tenant setting; these are: "
                f"{', '.join([*LIMIT_FIELDS, 'workspaces'])}",
                name,
            )
        check_limits(changes)
        async with self.sessions() as s, s.begin():
            row = await self._tenant_row(s, name_or_id)
            for name, value in changes.items():
                if name == "workspaces":
                    row.workspaces = self._allow_list(value)
                else:
                    setattr(row, name, value)
            tenant = self._value(row)
        self.cache.forget(tenant.id)
        return tenant

    @staticmethod
    def _allow_list(value: Sequence[str] | None) -> builtins.list[str]:
        """None: no restriction (every workspace its FLORA connection reaches), said on
        purpose; an empty list is refused, so removing the last workspace never widens it."""
        if value is None:
            return []
        if not value:
            raise InvalidTenantChange(
                "workspaces: an empty list would let its scripts use every workspace its FLORA "
                "connection reaches; name at least one, or send null (CLI: --any-workspace) to "
                "mean exactly that",
                "workspaces",
            )
        return check_workspaces(value)

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
            try:
                return self._value(await self._tenant_row(s, name_or_id))
            except TenantNotFound:
                return None

    async def revoke(self, name_or_id: str) -> bool:
        now = utcnow()
        async with self.sessions() as s, s.begin():
            try:
                row = await self._tenant_row(s, name_or_id)
            except TenantNotFound:
                return False
            row.revoked_at = now
            # Free the name, so a tenant of the same name can be made again.
            row.name = f"{row.name}~revoked~{row.id}"
            await s.execute(
                update(RuntimeKeyRow)
                .where(
                    RuntimeKeyRow.tenant_id == row.id,
                    or_(RuntimeKeyRow.revoked_at.is_(None), RuntimeKeyRow.revoked_at > now),
                )
                .values(revoked_at=now)
            )
        self.cache.forget(row.id)
        return True

    # ------------------------------------------------------------ keys

    @staticmethod
    def _key_row(
        key: str, tenant_id: str, label: str, expires_at: datetime | None
    ) -> RuntimeKeyRow:
        return RuntimeKeyRow(
            key_hash=hash_key(key),
            id=_new_key_id(),
            tenant_id=tenant_id,
            hint=key[:PREFIX_CHARS],
            label=label,
            created_at=utcnow(),
            expires_at=expires_at,
        )

    @staticmethod
    def _info(row: RuntimeKeyRow, tenant_name: str) -> KeyInfo:
        return KeyInfo(
            id=row.id,
            tenant_id=row.tenant_id,
            tenant=display_name(tenant_name),
            label=row.label,
            prefix=row.hint,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )

    async def add_key(
        self, tenant_id: str, label: str = DEFAULT_LABEL, expires_at: datetime | None = None
    ) -> str:
        """Another runtime key for the tenant (by id); the secret, shown this once."""
        key = new_runtime_key()
        async with self.sessions() as s, s.begin():
            s.add(self._key_row(key, tenant_id, check_label(label), expires_at))
        return key

    async def create_key(
        self, tenant: str, label: str = DEFAULT_LABEL, expires_in: timedelta | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key for the active tenant named (or with that id): its listing and its
        secret, shown this once."""
        label = check_label(label)
        key = new_runtime_key()
        async with self.sessions() as s, s.begin():
            row = await self._tenant_row(s, tenant)
            expires_at = utcnow() + expires_in if expires_in else None
            key_row = self._key_row(key, row.id, label, expires_at)
            s.add(key_row)
            return self._info(key_row, row.name), key

    async def keys(self, tenant: str | None = None) -> builtins.list[KeyInfo]:
        """The keys of every active tenant (or of one), oldest first, whatever their state."""
        async with self.sessions() as s:
            q = (
                select(RuntimeKeyRow, TenantRow.name)
                .join(TenantRow, TenantRow.id == RuntimeKeyRow.tenant_id)
                .where(TenantRow.revoked_at.is_(None))
                .order_by(RuntimeKeyRow.created_at, RuntimeKeyRow.id)
            )
            if tenant is not None:
                q = q.where(RuntimeKeyRow.tenant_id == (await self._tenant_row(s, tenant)).id)
            return [self._info(row, name) for row, name in (await s.execute(q)).all()]

    async def _find_key(self, s: AsyncSession, ref: str) -> tuple[RuntimeKeyRow, str]:
        """The key (and its tenant's name) a reference names: its id, its prefix (at least
        MIN_PREFIX_CHARS characters), or the key itself."""
        ref = ref.strip()
        # a whole key is a secret: errors show only as much of it as a listing does
        said = repr(ref[: PREFIX_CHARS if ref.startswith(KEY_PREFIX) else 40])
        q = select(RuntimeKeyRow, TenantRow.name).join(
            TenantRow, TenantRow.id == RuntimeKeyRow.tenant_id
        )
        if ref.startswith(KEY_ID_PREFIX):
            q = q.where(RuntimeKeyRow.id == ref)
        elif ref.startswith(KEY_PREFIX) and len(ref) > PREFIX_CHARS:
            q = q.where(RuntimeKeyRow.key_hash == hash_key(ref))
        elif len(ref) >= MIN_PREFIX_CHARS:
            escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(RuntimeKeyRow.hint.like(escaped + "%", escape="\\"))
        else:
            raise KeyNotFound(
                f"{said} is too short to name a key: give its id (key_...) or at least "
                f"{MIN_PREFIX_CHARS} characters of its prefix (`terrarium keys list`)"
            )
        found = (await s.execute(q.limit(6))).all()
        if not found:
            raise KeyNotFound(f"no key {said} (`terrarium keys list` shows ids and prefixes)")
        if len(found) > 1:
            ids = ", ".join(row.id for row, _ in found[:5])
            raise AmbiguousKey(f"{said} starts more than one key ({ids}): give the key's id", "key")
        row, name = found[0]
        return row, name

    async def revoke_key(self, ref: str) -> tuple[KeyInfo, bool]:
        """Revoke the key `ref` names, now; (its listing, whether it was working until now)."""
        now = utcnow()
        async with self.sessions() as s, s.begin():
            row, name = await self._find_key(s, ref)
            was = self._info(row, name).state(now)
            if was not in ("revoked",):
                row.revoked_at = now
            info = self._info(row, name)
        self.cache.forget_key(row.key_hash)
        return info, was in ("active", "grace")

    async def rotate_key(
        self, ref: str, grace: timedelta | None = None
    ) -> tuple[KeyInfo, KeyInfo, str]:
        """A new key with the same tenant and label (and lifetime, when it had one); the old one
        is revoked after `grace` (None or 0: now). (old, new, the new key's secret)."""
        now = utcnow()
        key = new_runtime_key()
        async with self.sessions() as s, s.begin():
            row, name = await self._find_key(s, ref)
            if display_name(name) != name:
                raise TenantNotFound(f"key {row.id} belongs to a revoked tenant")
            if row.revoked_at is not None and row.revoked_at <= now:
                raise KeyNotFound(
                    f"key {row.id} is revoked already: make another with "
                    f"`terrarium keys create --tenant {name} --label {row.label}`"
                )
            lifetime = row.expires_at - row.created_at if row.expires_at else None
            ends = now + grace if grace else now
            if row.revoked_at is None or ends < row.revoked_at:
                row.revoked_at = ends
            expires_at = now + lifetime if lifetime else None
            new_row = self._key_row(key, row.tenant_id, row.label, expires_at)
            s.add(new_row)
            old, new = self._info(row, name), self._info(new_row, name)
        self.cache.forget_key(row.key_hash)  # its cached grant did not know when it ends
        return old, new, key

    # ------------------------------------------------------------ the bearer check

    async def verify(self, key: str, *, touch: bool = True) -> Tenant:
        """The tenant of a working key, or KeyRefused saying why not (unknown, expired,
        revoked). Answers from the cache for `key_cache_s` after a key last worked from the
        database (never past the time it ends); an unknown key always asks the database. `touch`:
        record the use (last_used_at, at most once a minute)."""
        if not key.startswith(KEY_PREFIX):
            raise KeyRefused(UNKNOWN_KEY, "unknown")
        key_hash = hash_key(key)
        now = utcnow()
        grant = self.cache.get(key_hash)
        if grant is not None and (grant.ends_at is None or now < grant.ends_at):
            return grant.tenant
        generation = self.cache.generation
        async with self.sessions() as s:
            key_row = await s.get(RuntimeKeyRow, key_hash)
            if key_row is None:
                raise KeyRefused(UNKNOWN_KEY, "unknown")
            if key_row.revoked_at is not None and key_row.revoked_at <= now:
                raise KeyRefused(REVOKED_KEY, "revoked")
            if key_row.expires_at is not None and key_row.expires_at <= now:
                raise KeyRefused(expired_key(key_row.expires_at), "expired")
            row = await s.get(TenantRow, key_row.tenant_id)
            if row is None or row.revoked_at is not None:
                raise KeyRefused(REVOKED_KEY, "revoked")
            tenant = self._value(row)
            ends = [t for t in (key_row.expires_at, key_row.revoked_at) if t is not None]
            grant = Grant(tenant, key_row.id, min(ends) if ends else None)
            stale = key_row.last_used_at is None or now - key_row.last_used_at >= LAST_USED_EVERY
        if touch and stale and self._touched.get(key_hash, 0.0) <= time.monotonic() - LAST_USED_S:
            if len(self._touched) >= 10_000:
                self._touched.clear()  # a bound: at worst one more write per key
            self._touched[key_hash] = time.monotonic()  # one write at a time per key
            await self._touch(key_hash, now)
        self.cache.put(key_hash, tenant.id, grant, generation)
        return tenant

    async def _touch(self, key_hash: str, now: datetime) -> None:
        """Record that a key was used (best effort: a busy database does not refuse the key)."""
        try:
            async with self.sessions() as s, s.begin():
                await s.execute(
                    update(RuntimeKeyRow)
                    .where(RuntimeKeyRow.key_hash == key_hash)
                    .values(last_used_at=now)
                )
        except SQLAlchemyError:
            pass

    async def authenticate(self, key: str) -> Tenant | None:
        """The tenant of a working key, or None (see `verify` for why not)."""
        try:
            return await self.verify(key)
        except KeyRefused:
            return None

    def flora_key(self, tenant: Tenant) -> str | None:
        return self.box.open(tenant.flora_key_enc) if tenant.flora_key_enc else None

    def revocation_effect(self, here: bool) -> str:
        """When a revocation made now takes effect, truthfully: at once where the cache was
        dropped (`here`: this is a running server), within the key cache's seconds elsewhere."""
        ttl = self.settings.key_cache_s
        if ttl <= 0:
            return "at once on every server (TERRARIUM_KEY_CACHE_S is 0)"
        elsewhere = f"within {ttl:g} s (TERRARIUM_KEY_CACHE_S)"
        if here:
            return f"at once on this server; {elsewhere} on other servers and replicas"
        return f"{elsewhere} on running servers, at once on servers started after it"

    def rotation_effect(self, old: KeyInfo, here: bool) -> str:
        """When a rotated key stops working, in words (after "The old key ...")."""
        if old.revoked_at is None or old.revoked_at <= utcnow():
            return f"is revoked: it stops working {self.revocation_effect(here)}"
        ttl = self.settings.key_cache_s
        remaining = (old.revoked_at - utcnow()).total_seconds()
        where = "every server" if here is False else "other servers"
        # Every server reads the key's end from the database within `ttl` of the rotation.
        later = (
            f" (on {where}, which may have cached it, up to {ttl:g} s from now: "
            "TERRARIUM_KEY_CACHE_S)"
            if ttl > remaining
            else " everywhere"
        )
        return f"keeps working until {_iso(old.revoked_at)}, then stops{later}"

    # ------------------------------------------------------------ the embedded default

    async def _has_working_key(self, tenant_id: str) -> bool:
        now = utcnow()
        async with self.sessions() as s:
            found = (
                await s.execute(
                    select(RuntimeKeyRow.id)
                    .where(
                        RuntimeKeyRow.tenant_id == tenant_id,
                        or_(RuntimeKeyRow.revoked_at.is_(None), RuntimeKeyRow.revoked_at > now),
                        or_(RuntimeKeyRow.expires_at.is_(None), RuntimeKeyRow.expires_at > now),
                    )
                    .limit(1)
                )
            ).first()
        return found is not None

    async def ensure_default(self, workspaces: Sequence[str]) -> tuple[Tenant | None, str | None]:
        """The default tenant, and its key as kept in <data_dir>/runtime-key (0600).

        The first start on a database makes the tenant and its key, and says so
        (`default_key_minted`: `serve` prints it then, and only then). A later start reuses the
        saved key. A start whose data dir has no working key (a new replica on a shared
        database) makes none while the default tenant has a working key: the operator makes
        one with `terrarium keys create --tenant default`. Returns (None, None) when tenants
        exist but none is the default (an operator set them up). Makes the operator key too
        (operator.py).
        """
        await self.operator.ensure()
        self.default_key_minted = self.default_key_saved = False
        saved = read_private(self.default_key_file)
        if saved:
            try:  # a start is not a use of the key
                tenant: Tenant | None = await self.verify(saved, touch=False)
            except KeyRefused:
                tenant = None
            if tenant is not None and tenant.name == DEFAULT_TENANT:
                self.default_key_saved = True
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
            except TenantExists:  # another replica made it first
                default = await self.get(DEFAULT_TENANT)
                if default is None:
                    raise
                return default, None
        elif await self._has_working_key(default.id):
            return default, None
        else:  # every key of the default tenant was revoked or expired
            key = await self.add_key(default.id)
        write_private(self.default_key_file, key)
        self.default_key_minted = self.default_key_saved = True
        return default, key

    def announcement(self, printed_default_key: bool) -> builtins.list[str]:
        """What `serve` prints about keys once started, after the runtime key's own line:
        where each key is kept, and a key itself only on the start that made it."""
        lines = []
        if self.default_key_minted and printed_default_key:
            lines.append(
                f"The runtime key above is kept in {self.default_key_file} (mode 0600); "
                "it is not printed again."
            )
        if self.operator.minted:
            lines.append(
                f"Operator key (admin API, /v1/admin): {self.operator.minted} "
                f"(kept in {self.operator.file}, mode 0600; not printed again)"
            )
        else:
            lines.append(f"Operator key (admin API, /v1/admin): {self.operator.where()}")
        return lines

    def default_key_line(self, default_key: str | None, has_default: bool) -> str | None:
        """The runtime key's line: the key on the start that made it, else where it is."""
        if not has_default:
            return None
        if self.default_key_minted and default_key:
            return f"Runtime API key (tenant default): {default_key}"
        if self.default_key_saved:
            return f"Runtime API key (tenant default): in {self.default_key_file}"
        return (
            "Runtime API key (tenant default): none in this data directory, and the default "
            "tenant has keys already (made by another server on this database); make one with "
            "`terrarium keys create --tenant default --label NAME`"
        )


def describe(tenants: list[dict[str, Any]]) -> str:
    return json.dumps(tenants, indent=2)
