"""`/v1/executions`: asynchronous runs and every execution's record, for the owning tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from runtime.adapters.http.deps import ExecutionsDep, TenantDep
from runtime.adapters.http.schemas import (
    IDEMPOTENCY_KEY,
    ApiError,
    SubmitRequest,
    execution_request,
)
from runtime.executions.records import ACTIVE_STATES
from runtime.executions.service import LIST_FILTERS

router = APIRouter(prefix="/v1/executions", tags=["executions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError},
    403: {"model": ApiError},
    404: {"model": ApiError},
    422: {"model": ApiError},
    429: {"model": ApiError},
    503: {"model": ApiError},
}


@router.post(
    "",
    status_code=202,
    responses=ERRORS,
    summary="Queue a script; poll GET /v1/executions/{id} (on any replica) for its result",
)
async def submit(
    body: SubmitRequest,
    executions: ExecutionsDep,
    tenant: TenantDep,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> JSONResponse:
    queued = await executions.submit(tenant, execution_request(body, idempotency_key))
    location = f"/v1/executions/{queued['execution_id']}"
    return JSONResponse(queued, status_code=202, headers={"location": location})


@router.get("", responses=ERRORS, summary="This tenant's executions, newest first")
async def list_executions(
    executions: ExecutionsDep,
    tenant: TenantDep,
    status: str | None = Query(
        None,
        description="a state (queued, running, done, failed) or how a finished execution "
        "ended (ok, error, timeout, rejected, limit_exceeded, cancelled); anything else is 422",
        json_schema_extra={"enum": list(LIST_FILTERS)},
    ),
    since: datetime | None = Query(None, description="only executions created at or after"),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    return await executions.list(tenant, status=status, since=since, cursor=cursor, limit=limit)


@router.get(
    "/{execution_id}",
    responses=ERRORS,
    summary="One execution: its state, and when done the same body as POST /v1/execute",
)
async def get_execution(
    execution_id: str, executions: ExecutionsDep, tenant: TenantDep
) -> dict[str, Any]:
    return await executions.get(tenant, execution_id)


CANCEL_SUMMARY = (
    "Stop a queued or running execution (asynchronous, or a synchronous one still running): "
    "its process is killed and it is recorded with status `cancelled`. When another replica "
    "runs it and it has not ended within a few seconds, 202 with its record and a `message`: "
    "the cancel was requested and that replica stops it"
)


CANCEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    202: {"description": "requested of the replica running it, not ended yet: its record and "
          "a `message`"},
    409: {"model": ApiError},
}  # fmt: skip


@router.delete("/{execution_id}", responses=CANCEL_RESPONSES, summary=CANCEL_SUMMARY)
@router.post("/{execution_id}/cancel", responses=CANCEL_RESPONSES, summary=CANCEL_SUMMARY)
async def cancel_execution(execution_id: str, executions: ExecutionsDep, tenant: TenantDep) -> Any:
    record = await executions.cancel(tenant, execution_id)
    if record.get("state") in ACTIVE_STATES:  # requested of the replica running it, not yet ended
        return JSONResponse(record, status_code=202)
    return record
