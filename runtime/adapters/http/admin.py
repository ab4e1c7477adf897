"""`/v1/admin`: tenants and their runtime keys over HTTP, as `terrarium tenants` and
`terrarium keys` manage them, for the operator only.

Every route takes the operator key (`Authorization: Bearer <operator key>`:
TERRARIUM_OPERATOR_KEY, or the one the first server made, in its `<data_dir>/operator-key`).
No key is 401; a tenant's runtime key is 403. A key's secret is in the answer that made it, and
never again. Revocations say when they take effect: at once on the server that answered, within
TERRARIUM_KEY_CACHE_S on the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from runtime.adapters.http.deps import ExecutionsDep
from runtime.adapters.http.schemas import ApiError
from runtime.tenancy.auth import bearer_token
from runtime.tenancy.errors import (
    BackendUnavailable,
    InvalidTenantChange,
    KeyRefused,
    NotOperator,
    TenantExists,
    TenantNotFound,
)
from runtime.tenancy.tenants import (
    DEFAULT_LABEL,
    LIMIT_FIELDS,
    TENANT_NAME_RULE,
    KeyInfo,
    Tenant,
    check_tenant_name,
    display_name,
    parse_duration,
)

OPERATOR_KEY_REQUIRED = (
    "the admin API needs the operator key: send `Authorization: Bearer <operator key>` "
    "(TERRARIUM_OPERATOR_KEY, or the operator-key file in the data directory of the first "
    "server started on this database)"
)
NOT_THE_OPERATOR_KEY = "this is not the operator key; " + OPERATOR_KEY_REQUIRED.split(": ", 1)[1]
TENANT_KEY_FORBIDDEN = (
    "a tenant's runtime key does not open the admin API: send the operator key "
    "(TERRARIUM_OPERATOR_KEY, or the operator-key file in the data directory)"
)


async def operator(request: Request, executions: ExecutionsDep) -> None:
    """Only the operator key passes: none is 401, a tenant's working key 403."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise KeyRefused(OPERATOR_KEY_REQUIRED, "missing")
    store = executions.tenants
    if await store.operator.matches(token):
        return
    try:  # a refused admin request is not a use of the tenant's key (no last_used_at)
        await store.verify(token, touch=False)
    except KeyRefused:
        raise KeyRefused(NOT_THE_OPERATOR_KEY, "unknown") from None
    raise NotOperator(TENANT_KEY_FORBIDDEN)


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError},
    403: {"model": ApiError},
    404: {"model": ApiError},
    409: {"model": ApiError},
    422: {"model": ApiError},
}

router = APIRouter(
    prefix="/v1/admin", tags=["admin"], dependencies=[Depends(operator)], responses=ERRORS
)


# ------------------------------------------------------------------------------------ models


class LimitsOut(BaseModel):
    max_timeout_s: float | None
    max_memory_mb: int | None
    max_calls: int | None
    max_concurrent: int
    per_minute: int
    max_cost_usd: float | None


class TenantOut(BaseModel):
    id: str
    name: str
    flora: Literal["server", "builtin", "upstream"]
    workspaces: list[str]
    limits: LimitsOut

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls.model_validate(tenant.public())


class TenantListed(TenantOut):
    created_at: datetime
    revoked: bool


class TenantList(BaseModel):
    data: list[TenantListed]


class KeyOut(BaseModel):
    """A runtime key as listed: never its secret."""

    id: str = Field(description="how operators name the key (`key_...`)")
    tenant: str
    label: str
    prefix: str = Field(description="the key's first characters")
    state: Literal["active", "grace", "expired", "revoked"] = Field(
        description="grace: rotated, working until revoked_at"
    )
    created_at: datetime
    last_used_at: datetime | None = Field(description="to within a minute")
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: KeyInfo) -> KeyOut:
        return cls(
            id=info.id,
            tenant=info.tenant,
            label=info.label,
            prefix=info.prefix,
            state=info.state(),
            created_at=info.created_at,
            last_used_at=info.last_used_at,
            expires_at=info.expires_at,
            revoked_at=info.revoked_at,
        )


class KeyList(BaseModel):
    data: list[KeyOut]


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_concurrent: int | None = Field(default=None, gt=0, description="executions at once")
    per_minute: int | None = Field(default=None, gt=0, description="executions started a minute")
    max_timeout_s: float | None = Field(default=None, gt=0)
    max_memory_mb: int | None = Field(default=None, gt=0)
    max_calls: int | None = Field(default=None, gt=0, description="client calls per execution")
    max_cost_usd: float | None = Field(
        default=None, ge=0, description="an execution's max_cost_usd unless it sets its own"
    )


class TenantCreate(LimitsIn):
    name: str = Field(
        max_length=200, description=f"1 to 63 of a-z 0-9 _ - (the rule: {TENANT_NAME_RULE})"
    )
    flora: Literal["builtin", "upstream", "server"] = Field(
        default="builtin",
        description="builtin: its own workspace on the built-in backend; upstream: its own "
        "FLORA key (flora_key); server: the server's connection, limited to `workspaces`",
    )
    flora_key: str | None = Field(default=None, max_length=4000, description="upstream only")
    workspaces: list[str] = Field(default_factory=list, max_length=100)
    label: str = Field(default=DEFAULT_LABEL, max_length=100, description="its first key's label")


class TenantUpdate(LimitsIn):
    """Only the fields sent change; a limit sent as null goes back to the server's default."""

    workspaces: list[str] | None = Field(
        default=None,
        max_length=100,
        description="the workspaces its scripts may use (replaces the list); null: every "
        "workspace its FLORA connection reaches; an empty list is refused",
    )


class TenantCreated(BaseModel):
    tenant: TenantOut
    key: KeyOut
    runtime_key: str = Field(description="the key's secret: shown this once")


class TenantUpdated(BaseModel):
    tenant: TenantOut
    effect: str = Field(description="when the change applies")


class TenantRevoked(BaseModel):
    tenant: str
    revoked: bool
    effect: str = Field(description="when its keys stop working")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(max_length=200, description="the tenant's name or id")
    label: str = Field(default=DEFAULT_LABEL, max_length=100, description="what it is for")
    expires_in: str | None = Field(
        default=None, max_length=40, description="a lifetime: 90s, 15m, 1h, 30d, 2w (none: never)"
    )


class KeyCreated(BaseModel):
    key: KeyOut
    runtime_key: str = Field(description="the key's secret: shown this once")


class KeyRevoked(BaseModel):
    key: KeyOut
    was_working: bool
    effect: str = Field(description="when it stops working")


class KeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace: str | None = Field(
        default=None, max_length=40, description="how long the old key keeps working (none: 0)"
    )


class KeyRotated(BaseModel):
    key: KeyOut
    runtime_key: str = Field(description="the new key's secret: shown this once")
    old: KeyOut
    effect: str = Field(description="when the old key stops working")


# ------------------------------------------------------------------------------------ tenants


@router.get("/tenants", summary="Tenants (never their keys)")
async def list_tenants(
    executions: ExecutionsDep, include_revoked: bool = Query(False)
) -> TenantList:
    rows = await executions.tenants.list(include_revoked)
    for row in rows:
        row["name"] = display_name(str(row["name"]))
    return TenantList.model_validate({"data": rows})


@router.post("/tenants", status_code=201, summary="A new tenant and its first key (shown once)")
async def create_tenant(body: TenantCreate, executions: ExecutionsDep) -> TenantCreated:
    check_tenant_name(body.name)  # before a workspace is made for it
    store = executions.tenants
    flora_key = (body.flora_key or "").strip() or None
    workspaces = list(body.workspaces)
    if body.flora == "builtin":
        backend = executions.connections.backend
        if backend is None:
            raise BackendUnavailable(
                "this server does not run the built-in backend (FLORA_API_KEY is set): "
                "make the tenant with flora 'upstream' (its own flora_key) or 'server'",
                "flora",
            )
        if await store.get(body.name) is not None:
            raise TenantExists(f"a tenant named {body.name!r} exists already", "name")
        workspace_id = await backend.create_workspace(body.name)
        flora_key = await backend.create_key(workspace_id)
        workspaces = [workspace_id]
    elif body.flora == "upstream" and flora_key is None:
        raise InvalidTenantChange("an upstream tenant needs its FLORA API key", "flora_key")
    elif body.flora == "server":
        flora_key = None
    tenant, key = await store.create(
        body.name,
        flora_kind=body.flora,
        flora_key=flora_key,
        workspaces=workspaces,
        label=body.label,
        **{name: getattr(body, name) for name in LIMIT_FIELDS},
    )
    (info,) = await store.keys(tenant.id)
    return TenantCreated(tenant=TenantOut.of(tenant), key=KeyOut.of(info), runtime_key=key)


@router.get("/tenants/{name}", summary="One active tenant, by name or id")
async def get_tenant(name: str, executions: ExecutionsDep) -> TenantOut:
    tenant = await executions.tenants.get(name)
    if tenant is None:
        raise TenantNotFound(f"no active tenant {name[:80]!r}")
    return TenantOut.of(tenant)


@router.patch("/tenants/{name}", summary="Change a tenant's limits or workspaces")
async def update_tenant(name: str, body: TenantUpdate, executions: ExecutionsDep) -> TenantUpdated:
    store = executions.tenants
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    if not changes:
        raise InvalidTenantChange(
            "nothing to change: send a limit (null: the server's default) or workspaces", "body"
        )
    tenant = await store.update(name, changes)
    return TenantUpdated(tenant=TenantOut.of(tenant), effect=store.revocation_effect(here=True))


@router.post("/tenants/{name}/revoke", summary="Revoke a tenant and every key of it")
async def revoke_tenant(name: str, executions: ExecutionsDep) -> TenantRevoked:
    store = executions.tenants
    if not await store.revoke(name):
        raise TenantNotFound(f"no active tenant {name[:80]!r}")
    return TenantRevoked(tenant=name, revoked=True, effect=store.revocation_effect(here=True))


# ------------------------------------------------------------------------------------ keys


@router.get("/keys", summary="Runtime keys of active tenants: ids, prefixes, labels, states")
async def list_keys(
    executions: ExecutionsDep, tenant: str | None = Query(None, max_length=200)
) -> KeyList:
    return KeyList(data=[KeyOut.of(info) for info in await executions.tenants.keys(tenant)])


@router.post("/keys", status_code=201, summary="A new runtime key for a tenant (shown once)")
async def create_key(body: KeyCreate, executions: ExecutionsDep) -> KeyCreated:
    expires_in = parse_duration(body.expires_in) if body.expires_in else None
    info, key = await executions.tenants.create_key(body.tenant, body.label, expires_in)
    return KeyCreated(key=KeyOut.of(info), runtime_key=key)


@router.post("/keys/{key}/revoke", summary="Revoke a key now (by id or prefix)")
async def revoke_key(key: str, executions: ExecutionsDep) -> KeyRevoked:
    store = executions.tenants
    info, was_working = await store.revoke_key(key)
    effect = store.revocation_effect(here=True) if was_working else "it was not working already"
    return KeyRevoked(key=KeyOut.of(info), was_working=was_working, effect=effect)


@router.post(
    "/keys/{key}/rotate",
    summary="A new key with the same tenant and label; the old one revoked after `grace`",
)
async def rotate_key(
    key: str,
    executions: ExecutionsDep,
    body: Annotated[KeyRotate | None, Body()] = None,
) -> KeyRotated:
    store = executions.tenants
    grace = parse_duration(body.grace, "grace") if body and body.grace else None
    old, new, secret = await store.rotate_key(key, grace)
    effect = f"the old key {store.rotation_effect(old, here=True)}"
    return KeyRotated(key=KeyOut.of(new), runtime_key=secret, old=KeyOut.of(old), effect=effect)
