"""FastAPI dependencies as typed aliases: the executions service and the request's tenant.

The service is the one the app factory made (runtime/app.py); handlers take `ExecutionsDep`
and `TenantDep` and never look anything up themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from runtime.executions.service import Executions
from runtime.tenancy.tenants import Tenant


async def executions(request: Request) -> Executions:
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop per request.
    service: Executions = request.app.state.executions
    return service


ExecutionsDep = Annotated[Executions, Depends(executions)]


async def tenant(request: Request) -> Tenant:
    """The tenant the request's bearer key names, or 401 saying why (no key; an unknown,
    expired or revoked one)."""
    service: Executions = request.app.state.executions  # not a sub-dependency: one fewer to solve
    found = await service.auth.identify(request.headers.get("authorization"))
    request.state.tenant = found  # for the access log and per-tenant metrics (door.py)
    return found


TenantDep = Annotated[Tenant, Depends(tenant)]
