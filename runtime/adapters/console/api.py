"""The console's JSON endpoints, under `/console/api`, authenticated by the console's cookie.

They call the same executions service as `/v1/*` (run, submit, get, list, cancel) and answer
its bodies unchanged; errors go through the app's one error table into the usual envelope.
The rest is the console's own: the pre-flight check (check.py) and the operator views
(operators.py, tenants as `terrarium tenants` manages them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from runtime.adapters.console import check as preflight
from runtime.adapters.console import operators
from runtime.adapters.console.session import Forbidden, OperatorDep, UserDep, service_of
from runtime.errors import NotFound, Refusal
from runtime.executions.request import ExecutionRequest, LimitRequest
from runtime.tenancy.tenants import DEFAULT_TENANT, TENANT_NAME_RULE, Tenant

router = APIRouter(prefix="/console/api", include_in_schema=False)


class Conflict(Refusal):
    """A tenant of that name exists already."""


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    inputs: dict[str, Any] | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    cpu_s: float | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    max_calls: int | None = Field(default=None, gt=0)
    intent: str | None = Field(default=None, max_length=2000)
    mode: Literal["sync", "async"] = "sync"


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str


class TenantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=rf"^{TENANT_NAME_RULE}$")  # checked before a workspace is made
    flora: Literal["builtin", "upstream", "server"] = "builtin"
    flora_key: str | None = Field(default=None, max_length=4000)
    workspaces: list[str] = Field(default_factory=list, max_length=100)
    max_concurrent: int | None = Field(default=None, gt=0)
    per_minute: int | None = Field(default=None, gt=0)
    max_timeout_s: float | None = Field(default=None, gt=0)
    max_memory_mb: int | None = Field(default=None, gt=0)
    max_calls: int | None = Field(default=None, gt=0)


@router.post("/run")
async def run(body: RunBody, request: Request, user: UserDep) -> dict[str, Any]:
    service = service_of(request)
    limits = LimitRequest(
        timeout_s=body.timeout_s, cpu_s=body.cpu_s, memory_mb=body.memory_mb,
        max_calls=body.max_calls,
    )  # fmt: skip
    execution = ExecutionRequest(body.code, inputs=body.inputs, intent=body.intent, limits=limits)
    if body.mode == "async":
        return await service.submit(user.tenant, execution)
    return await service.run(user.tenant, execution)


@router.post("/check")
async def check(body: CheckBody, request: Request, user: UserDep) -> dict[str, Any]:
    return await preflight.check(service_of(request), user.tenant, body.code)


@router.get("/executions")
async def list_executions(
    request: Request,
    user: UserDep,
    status: str | None = Query(None, max_length=20),
    since_min: int | None = Query(None, ge=1, le=60 * 24 * 90),
    tenant: str | None = Query(None, max_length=200),
    cursor: str | None = Query(None, max_length=400),
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    service = service_of(request)
    since = datetime.now(UTC) - timedelta(minutes=since_min) if since_min else None
    if user.operator:
        tenant_id = None
        if tenant:
            found = await service.tenants.get(tenant)
            if found is None:
                return {"data": [], "next_cursor": None}
            tenant_id = found.id
        return await operators.list_all(
            service, tenant_id=tenant_id, status=status or None, since=since, cursor=cursor,
            limit=limit,
        )  # fmt: skip
    page = await service.list(
        user.tenant, status=status or None, since=since, cursor=cursor, limit=limit
    )
    for item in page["data"]:
        item["tenant"] = user.tenant.name
    return page


async def _owner(request: Request, user: UserDep, execution_id: str) -> Tenant:
    """The tenant an execution is read or cancelled as: the user's, or for the operator the
    execution's own tenant."""
    if not user.operator:
        return user.tenant
    found = await operators.get_any(service_of(request), execution_id)
    owner = await service_of(request).tenants.get(str(found["tenant"]))
    if owner is None:
        raise NotFound(f"execution {execution_id[:80]!r} belongs to a revoked tenant")
    return owner


@router.get("/executions/{execution_id}")
async def get_execution(execution_id: str, request: Request, user: UserDep) -> dict[str, Any]:
    if user.operator:
        return await operators.get_any(service_of(request), execution_id)
    found = await service_of(request).get(user.tenant, execution_id)
    found["tenant"] = user.tenant.name
    return found


@router.post("/executions/{execution_id}/cancel")
async def cancel_execution(execution_id: str, request: Request, user: UserDep) -> dict[str, Any]:
    owner = await _owner(request, user, execution_id)
    return await service_of(request).cancel(owner, execution_id)


# ------------------------------------------------------------------------------ operators


@router.get("/operators/tenants")
async def tenants(request: Request, _user: OperatorDep) -> dict[str, Any]:
    service = service_of(request)
    rows = await service.tenants.list(include_revoked=True)
    for row in rows:
        row["name"] = str(row["name"]).split("~revoked~")[0]
    return {"tenants": rows, "builtin_backend": service.connections.backend is not None}


@router.post("/operators/tenants")
async def create_tenant(body: TenantBody, request: Request, _user: OperatorDep) -> dict[str, Any]:
    """A new tenant and its first runtime key, shown this once (as `terrarium tenants create`)."""
    service = service_of(request)
    if await service.tenants.get(body.name) is not None:
        raise Conflict(f"a tenant named {body.name!r} exists already", "name")
    flora_key = body.flora_key
    workspaces = list(body.workspaces)
    if body.flora == "builtin":
        backend = service.connections.backend
        if backend is None:
            raise Conflict("this server does not run the built-in backend", "flora")
        workspace_id = await backend.create_workspace(body.name)
        flora_key = await backend.create_key(workspace_id)
        workspaces = [workspace_id]
    elif body.flora == "upstream" and not (flora_key or "").strip():
        raise Conflict("an upstream tenant needs its FLORA API key", "flora_key")
    elif body.flora == "server":
        flora_key = None
    try:
        tenant, key = await service.tenants.create(
            body.name,
            flora_kind=body.flora,
            flora_key=(flora_key or "").strip() or None,
            workspaces=workspaces,
            max_timeout_s=body.max_timeout_s,
            max_memory_mb=body.max_memory_mb,
            max_calls=body.max_calls,
            max_concurrent=body.max_concurrent,
            per_minute=body.per_minute,
        )
    except IntegrityError:
        raise Conflict(f"a tenant named {body.name!r} exists already", "name") from None
    return {"tenant": tenant.public(), "runtime_key": key}


@router.post("/operators/tenants/{name}/keys")
async def add_key(name: str, request: Request, _user: OperatorDep) -> dict[str, Any]:
    service = service_of(request)
    tenant = await service.tenants.get(name)
    if tenant is None:
        raise NotFound(f"no active tenant {name[:80]!r}")
    return {"tenant": tenant.public(), "runtime_key": await service.tenants.add_key(tenant.id)}


@router.post("/operators/tenants/{name}/revoke")
async def revoke_tenant(name: str, request: Request, user: OperatorDep) -> dict[str, Any]:
    service = service_of(request)
    tenant = await service.tenants.get(name)
    if tenant is None:
        raise NotFound(f"no active tenant {name[:80]!r}")
    if tenant.id == user.tenant.id or tenant.name == DEFAULT_TENANT:
        raise Forbidden("the operator's own tenant is not revoked from the console")
    await service.tenants.revoke(tenant.id)
    return {"revoked": tenant.name}


@router.get("/operators/health")
async def health(request: Request, _user: OperatorDep) -> dict[str, Any]:
    service = service_of(request)
    return {"health": service.health(), "ready": await service.ready()}


@router.get("/operators/metrics")
async def metrics(request: Request, _user: OperatorDep) -> dict[str, Any]:
    return await operators.live_metrics(service_of(request))
